package gateway

import (
	"time"

	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/internal/httperr"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
)

// verifyError turns a verifier's failure into the gateway's error: 401 for
// signatures and credentials, 400 for a payload the signature covers but that
// is not an event, 503 when the route's secret is not configured (fail
// closed: nothing is accepted, and the sender retries once it is fixed).
func verifyError(err error) *httperr.Error {
	reason := verify.ReasonOf(err)
	e := &httperr.Error{Reason: string(reason)}
	switch reason {
	case verify.ReasonStaleTimestamp:
		e.Code, e.Message = httperr.StaleTimestamp, "signature timestamp outside the allowed tolerance"
	case verify.ReasonBadTimestamp:
		e.Code, e.Message = httperr.StaleTimestamp, "signature timestamp missing or unparseable"
	case verify.ReasonMissingSignature:
		e.Code, e.Message = httperr.BadSignature, "signature or credentials missing"
	case verify.ReasonBadCredentials:
		e.Code, e.Message = httperr.BadSignature, "credentials rejected"
	case verify.ReasonBadPayload:
		e.Code, e.Message = httperr.Invalid, "signed payload is not a valid event"
	case verify.ReasonMisconfigured:
		e.Code, e.Message = httperr.Misconfigured, "verification is not configured for this route"
	default:
		e.Code, e.Message = httperr.BadSignature, "signature does not match"
	}
	e.Details = []httperr.Detail{{Code: string(reason), Message: e.Message}}
	return e
}

// verifierFor builds the verifier of a stored webhook from the secrets valid
// now; an unknown scheme or a missing secret is an error (the route then fails
// closed). The cache entry expires no later than the first secret's expiry, so
// a rotated-out secret stops verifying on time.
func verifierFor(wh *webhooksdb.Webhook, now func() time.Time) (verify.Verifier, error) {
	return verify.New(verify.Config{
		Scheme:   verify.Scheme(wh.AuthScheme),
		Secrets:  wh.ValidSecrets(now()),
		Header:   wh.AuthHeader,
		Encoding: wh.AuthEncoding,
	}, now)
}
