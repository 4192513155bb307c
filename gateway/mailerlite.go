package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/internal/httperr"
	"github.com/hookstream/hookstream/streams"
)

// handleMailerLite serves POST /webhooks/mailerlite (Signature header, hex
// HMAC-SHA256 of the body). The subject carries the event type; batched
// deliveries ({"events":[…]}) go to ingest.mailerlite.batch.
func (g *Gateway) handleMailerLite(w http.ResponseWriter, r *http.Request) error {
	if _, err := mediaType(r, ctJSON); err != nil {
		return err
	}
	body, err := g.readBody(w, r)
	if err != nil {
		return err
	}
	if err := verify.VerifyMailerLite(r.Header, body, nonEmpty(g.cfg.MailerLiteSecret)); err != nil {
		return verifyError(err)
	}
	if err := checkSyntax(ctJSON, body); err != nil {
		return err
	}
	var p struct {
		Type   string            `json:"type"`
		Event  string            `json:"event"`
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return httperr.New(httperr.Invalid, "expected a MailerLite event object")
	}
	kind := p.Type
	if kind == "" {
		kind = p.Event
	}
	if p.Events != nil && kind == "" {
		kind = "batch"
	}
	if !streams.ValidToken(kind, true) {
		return &httperr.Error{Code: httperr.Invalid, Message: "event type missing or invalid",
			Details: []httperr.Detail{{Field: "type", Code: "invalid_value", Message: "expected e.g. subscriber.unsubscribed"}}}
	}
	return g.accept(w, r, "mailerlite", &event{
		subject:     streams.IngestSubject(streams.SubjectIngestMailerLite, kind),
		msgID:       hashID("mailerlite:", body),
		source:      streams.SourceMailerLite,
		workspace:   g.cfg.Workspace,
		contentType: ctJSON,
		body:        body,
		extra:       map[string]string{streams.HdrEventType: kind},
	})
}
