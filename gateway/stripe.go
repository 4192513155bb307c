package gateway

import (
	"net/http"

	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/internal/httperr"
	"github.com/hookstream/hookstream/streams"
)

// handleStripe serves POST /webhooks/stripe. The signature is checked with
// stripe-go over the raw bytes; other API versions are accepted and recorded
// (Hs-Stripe-Api-Version) — parsing the event is the payments processor's job.
func (g *Gateway) handleStripe(w http.ResponseWriter, r *http.Request) error {
	if _, err := mediaType(r, ctJSON); err != nil {
		return err
	}
	body, err := g.readBody(w, r)
	if err != nil {
		return err
	}
	ev, err := verify.VerifyStripe(r.Header, body, g.cfg.StripeSecrets, g.cfg.Now)
	if err != nil {
		return verifyError(err)
	}
	// stripe-go decodes invalid UTF-8 into U+FFFD without complaint; the
	// stored bytes must be what the payments processor can read as sent.
	if err := checkSyntax(ctJSON, body); err != nil {
		return err
	}
	if !streams.ValidToken(string(ev.Type), true) {
		return &httperr.Error{Code: httperr.Invalid, Message: "unsupported event type",
			Details: []httperr.Detail{{Field: "type", Code: "invalid_value", Message: "event type must be letters, digits, _ - and ."}}}
	}
	id, ok := cleanID(ev.ID)
	if !ok {
		return &httperr.Error{Code: httperr.Invalid, Message: "event id missing or invalid",
			Details: []httperr.Detail{{Field: "id", Code: "invalid_value", Message: "event id must be printable ASCII"}}}
	}
	return g.accept(w, r, "stripe", &event{
		subject:     streams.IngestSubject(streams.SubjectIngestStripe, string(ev.Type)),
		msgID:       "stripe:" + id,
		source:      streams.SourceStripe,
		workspace:   g.cfg.Workspace,
		contentType: ctJSON,
		body:        body,
		extra: map[string]string{
			streams.HdrStripeAPIVersion: ev.APIVersion,
			streams.HdrEventType:        string(ev.Type),
		},
	})
}
