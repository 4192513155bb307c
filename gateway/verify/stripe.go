package verify

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// StripeSignatureHeader is "t=<unix>,v1=<hex>[,v1=<hex>…]".
const StripeSignatureHeader = "Stripe-Signature"

// StripeTolerance is the replay window for Stripe, in both directions.
const StripeTolerance = webhook.DefaultTolerance // 300 s

// VerifyStripe checks a Stripe webhook with stripe-go's
// webhook.ConstructEventWithOptions and returns the parsed event (ID, Type,
// APIVersion…). Each secret is tried in turn, so a comma-separated list (see
// SplitSecrets) covers rotation; every v1 in the header is checked by stripe-go.
// Events of any API version are accepted (IgnoreAPIVersionMismatch): Stripe
// renders events with the endpoint's version, which need not be the 2023-10-16
// pinned by stripe-go v76; the caller records event.APIVersion.
//
// The time window is ours, not stripe-go's: stripe-go measures with time.Since (no
// injectable clock) and only rejects old timestamps, so a future one would pass.
// We parse t= ourselves, check it against now (nil: time.Now) ±StripeTolerance,
// and tell stripe-go to skip its own check so that exactly one clock decides.
func VerifyStripe(h http.Header, body []byte, secrets []string, now func() time.Time) (stripe.Event, error) {
	if err := checkSecrets(secrets, "stripe webhook secret"); err != nil {
		return stripe.Event{}, err
	}
	if now == nil {
		now = time.Now
	}
	header := h.Get(StripeSignatureHeader)
	if header == "" {
		return stripe.Event{}, fail(ReasonMissingSignature, "missing "+StripeSignatureHeader+" header")
	}
	ts, err := stripeTimestamp(header)
	if err != nil {
		return stripe.Event{}, err
	}
	if err := checkWindow(ts, now(), StripeTolerance); err != nil {
		return stripe.Event{}, err
	}
	opts := webhook.ConstructEventOptions{IgnoreTolerance: true, IgnoreAPIVersionMismatch: true}
	for _, secret := range secrets {
		ev, err := webhook.ConstructEventWithOptions(body, header, secret, opts)
		switch {
		case err == nil:
			if ev.ID == "" || ev.Type == "" {
				// Signed by Stripe yet not an event: nothing to dedup or route on.
				return stripe.Event{}, fail(ReasonBadPayload, "stripe event lacks id or type")
			}
			return ev, nil
		case errors.Is(err, webhook.ErrNoValidSignature):
			continue // maybe the next (rotated) secret
		default:
			return stripe.Event{}, stripeError(err)
		}
	}
	return stripe.Event{}, fail(ReasonBadSignature, "no signature matches")
}

// stripeTimestamp finds the single t= in header, splitting exactly as stripe-go
// does, so the instant we check is the one stripe-go signs with. Several t= are
// refused: stripe-go would silently use the last one.
func stripeTimestamp(header string) (int64, error) {
	var tsRaw string
	seen := 0
	for _, pair := range strings.Split(header, ",") {
		parts := strings.Split(pair, "=")
		if len(parts) != 2 {
			return 0, fail(ReasonBadSignature, "garbled "+StripeSignatureHeader+" header")
		}
		if parts[0] == "t" {
			tsRaw = parts[1]
			seen++
		}
	}
	switch seen {
	case 0:
		return 0, fail(ReasonBadTimestamp, StripeSignatureHeader+" has no t=")
	case 1:
	default:
		return 0, fail(ReasonBadSignature, StripeSignatureHeader+" has several t=")
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return 0, fail(ReasonBadTimestamp, StripeSignatureHeader+" t= is not unix seconds")
	}
	return ts, nil
}

// stripeError maps stripe-go's sentinel errors to Reasons. Anything else comes
// after the signature verified (the body is not JSON), hence bad_payload.
func stripeError(err error) error {
	switch {
	case errors.Is(err, webhook.ErrNotSigned):
		return fail(ReasonMissingSignature, err.Error())
	case errors.Is(err, webhook.ErrInvalidHeader), errors.Is(err, webhook.ErrNoValidSignature):
		return fail(ReasonBadSignature, err.Error())
	case errors.Is(err, webhook.ErrTooOld):
		return fail(ReasonStaleTimestamp, err.Error())
	default:
		return fail(ReasonBadPayload, err.Error())
	}
}

// SplitSecrets turns a comma-separated setting (STRIPE_WEBHOOK_SECRET="new,old")
// into a list, trimming spaces and dropping empty entries.
func SplitSecrets(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
