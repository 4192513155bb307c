package verify

import (
	"net/http"
	"strings"
	"time"
)

// Scheme names how a per-webhook route (POST /webhooks/{webhook_id}) is verified.
// The values are stored in Postgres and typed by operators; they never change.
type Scheme string

const (
	SchemeStandard Scheme = "standard" // Standard Webhooks (webhook-id/-timestamp/-signature)
	SchemeHMAC     Scheme = "hmac"     // HMAC-SHA256 of the body in a named header
	SchemeToken    Scheme = "token"    // bearer token, or a token in a named header
	SchemeBasic    Scheme = "basic"    // HTTP Basic, "user:pass" entries
	SchemeNone     Scheme = "none"     // no verification: an explicit, deliberate choice
)

// Config is one webhook's auth settings as stored with its row.
type Config struct {
	Scheme Scheme
	// Secrets: standard → "whsec_…" (or bare base64) secrets; hmac → raw secrets;
	// token → tokens; basic → "user:pass". Several entries = rotation: any verifies.
	Secrets []string
	// Header: hmac → signature header (default X-Signature); token → header holding
	// the bare token (default: Authorization: Bearer). Ignored otherwise.
	Header string
	// Encoding: hmac only, "hex" (default) or "base64".
	Encoding string
	// Tolerance: standard only, default 5m; applies both to old and future stamps.
	Tolerance time.Duration
}

// Validate reports, as a *Error with ReasonMisconfigured, why c could not verify
// anything. Call it when a webhook is created or edited; New calls it too.
func (c Config) Validate() error {
	switch c.Scheme {
	case SchemeStandard:
		if c.Tolerance < 0 {
			return fail(ReasonMisconfigured, "negative tolerance")
		}
		_, err := standardKeys(c.Secrets)
		return err
	case SchemeHMAC:
		if c.Encoding != "" && c.Encoding != EncodingHex && c.Encoding != EncodingBase64 {
			return fail(ReasonMisconfigured, `hmac encoding must be "hex" or "base64"`)
		}
		if err := checkHeaderName(c.Header); err != nil {
			return err
		}
		return checkSecrets(c.Secrets, "hmac secret")
	case SchemeToken:
		if err := checkHeaderName(c.Header); err != nil {
			return err
		}
		return checkSecrets(c.Secrets, "token")
	case SchemeBasic:
		return checkPairs(c.Secrets)
	case SchemeNone:
		return nil
	case "":
		return fail(ReasonMisconfigured, "no auth scheme configured")
	default:
		return fail(ReasonMisconfigured, "unknown auth scheme "+string(c.Scheme))
	}
}

// checkHeaderName accepts "" (use the default) or an RFC 9110 token.
func checkHeaderName(name string) error {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || isSeparator(c) {
			return fail(ReasonMisconfigured, "invalid header name "+name)
		}
	}
	return nil
}

func isSeparator(c byte) bool { return strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 }

// Verifier checks one request's headers and raw body. Errors are *Error.
type Verifier interface {
	Verify(h http.Header, body []byte) error
}

// VerifierFunc adapts a function to Verifier.
type VerifierFunc func(h http.Header, body []byte) error

func (f VerifierFunc) Verify(h http.Header, body []byte) error { return f(h, body) }

// New builds the Verifier for c after validating it. An unknown scheme or a scheme
// without the secrets it needs is an error: the caller must refuse the request
// (fail closed), never fall back to "none". now == nil means time.Now.
func New(c Config, now func() time.Time) (Verifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	// Copy the slice so a later edit of the cached row cannot change a live verifier.
	secrets := append([]string(nil), c.Secrets...)
	switch c.Scheme {
	case SchemeStandard:
		keys, err := standardKeys(secrets) // decoded once, not per request
		if err != nil {
			return nil, err
		}
		macs := newKeyedMACs(keys)
		return VerifierFunc(func(h http.Header, body []byte) error {
			return verifyStandard(h, body, macs, c.Tolerance, now)
		}), nil
	case SchemeHMAC:
		return VerifierFunc(func(h http.Header, body []byte) error {
			return VerifyHMAC(h, body, c.Header, c.Encoding, secrets)
		}), nil
	case SchemeToken:
		return VerifierFunc(func(h http.Header, _ []byte) error {
			return VerifyToken(h, c.Header, secrets)
		}), nil
	case SchemeBasic:
		return VerifierFunc(func(h http.Header, _ []byte) error {
			return VerifyBasic(h, secrets)
		}), nil
	case SchemeNone:
		return VerifierFunc(func(http.Header, []byte) error { return nil }), nil
	}
	return nil, fail(ReasonMisconfigured, "unknown auth scheme "+string(c.Scheme)) // unreachable after Validate
}
