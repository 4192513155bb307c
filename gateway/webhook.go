package gateway

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/internal/httperr"
	"github.com/hookstream/hookstream/streams"
)

// handleWebhook serves POST /webhooks/{webhook_id}: lead vendors and any JSON
// or form poster, verified by the webhook's own scheme.
func (g *Gateway) handleWebhook(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("webhook_id")
	if !streams.ValidToken(id, false) || len(id) > 64 || g.deps.Webhooks == nil {
		return httperr.New(httperr.NotFound, "unknown webhook")
	}
	wait, err := g.parseWait(r)
	if err != nil {
		return err
	}
	e, err := g.deps.Webhooks.get(r.Context(), id)
	if err != nil {
		g.log.Warn("webhook config unavailable", "webhook_id", id, "err", err)
		return &httperr.Error{Code: httperr.Unavailable, Message: "webhook configuration unavailable; retry later", RetryAfter: g.cfg.RetryAfter}
	}
	if e.wh == nil || !e.wh.Active {
		return httperr.New(httperr.NotFound, "unknown or inactive webhook")
	}
	mt, err := mediaType(r, ctJSON, ctForm)
	if err != nil {
		return err
	}
	body, err := g.readBody(w, r)
	if err != nil {
		return err
	}
	if e.buildErr != nil {
		return verifyError(e.buildErr)
	}
	if err := e.verifier.Verify(r.Header, body); err != nil {
		return verifyError(err)
	}
	// The webhook's budget is charged only for verified requests, so someone
	// who knows a webhook id cannot exhaust it and lock the real sender out.
	if ok, d := reserve(e.limiter, g.cfg.Now()); !ok {
		return &httperr.Error{Code: httperr.RateLimited, Message: "rate limit exceeded for this webhook", RetryAfter: d}
	}
	if err := checkLead(mt, body, e.wh.FieldMapping, g.cfg.DefaultRegion); err != nil {
		return err
	}
	ev := &event{
		subject:     e.subject,
		msgID:       webhookMsgID(id, r, body),
		source:      streams.SourceWebhook,
		webhookID:   id,
		workspace:   e.wh.WorkspaceID,
		contentType: mt,
		body:        body,
	}
	if k, ok := cleanID(r.Header.Get("Idempotency-Key")); ok {
		ev.extra = map[string]string{streams.HdrIdempotencyKey: k}
	}
	if wait <= 0 || g.deps.Waiter == nil {
		return g.accept(w, r, "webhook", ev)
	}
	return g.acceptAndWait(w, r, ev, wait)
}

// webhookMsgID: the sender's webhook-id, else its Idempotency-Key, else a hash
// of the body; always namespaced by the webhook so two senders cannot collide.
func webhookMsgID(id string, r *http.Request, body []byte) string {
	if v, ok := cleanID(r.Header.Get("Webhook-Id")); ok { // canonical: Get need not rewrite it
		return "wh:" + id + ":" + v
	}
	if v, ok := cleanID(r.Header.Get("Idempotency-Key")); ok {
		return "wh:" + id + ":" + v
	}
	return hashID("wh:"+id+":sha256:", []byte(id), body)
}

// parseWait reads ?wait=<duration> ("5s", "500ms" or plain seconds).
func (g *Gateway) parseWait(r *http.Request) (time.Duration, error) {
	if r.URL.RawQuery == "" {
		return 0, nil // what Query().Get would say, without building the map
	}
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, err2 := strconv.ParseFloat(v, 64)
		if err2 != nil && !errors.Is(err2, strconv.ErrRange) || math.IsNaN(secs) {
			return 0, &httperr.Error{Code: httperr.Invalid, Message: "wait must be a duration such as 5s",
				Details: []httperr.Detail{{Field: "wait", Code: "invalid_value", Message: "not a duration"}}}
		}
		// Clamp before converting: a float beyond int64 nanoseconds would
		// wrap to a negative duration.
		d = time.Duration(max(-1, min(secs, g.cfg.MaxWait.Seconds())) * float64(time.Second))
	}
	if d < 0 {
		return 0, &httperr.Error{Code: httperr.Invalid, Message: "wait must not be negative"}
	}
	return min(d, g.cfg.MaxWait), nil
}

// acceptAndWait publishes and then waits for the contacts processor's answer
// (the original system's synchronous response); 202 with the event id when the
// wait runs out — the event is stored either way.
func (g *Gateway) acceptAndWait(w http.ResponseWriter, r *http.Request, ev *event, wait time.Duration) error {
	pending, err := g.deps.Waiter.Expect(ev.msgID)
	if err != nil {
		g.log.Warn("wait unavailable", "err", err)
		return g.accept(w, r, "webhook", ev)
	}
	defer pending.Stop()
	a, err := g.publish(w, r, "webhook", ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	res, err := pending.Wait(ctx)
	if err != nil {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			g.log.Warn("wait failed", "err", err)
		}
		writeAccepted(w, http.StatusAccepted, &a)
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if isRejection(res) {
		status = http.StatusUnprocessableEntity
	}
	w.WriteHeader(status)
	w.Write(res)
	return nil
}
