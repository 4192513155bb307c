package ga4

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/projections/dbtx"
	ga4db "github.com/hookstream/hookstream/projections/ga4"
)

// Statuses of a ga4_events row.
const (
	StatusSent      = "sent"      // posted to /mp/collect
	StatusValidated = "validated" // accepted by the validation server (debug mode; not recorded by GA4)
	StatusInvalid   = "invalid"   // refused locally or by the validation server; never recorded by GA4
	StatusExpired   = "expired"   // older than GA4's 72 h backdating window when first processed; not sent
)

// record is one ga4_events row.
type record struct {
	eventID, sourceEventID, workspace string
	name, clientID, txnID             string
	payload                           json.RawMessage
	status                            string
	debug                             bool
	validation                        any
	httpStatus                        int
	sentAt                            *time.Time
}

func newRecord(m *processors.Message, b *built, debug bool) *record {
	r := &record{eventID: m.EventID, sourceEventID: processors.SourceEventID(m), workspace: m.Workspace,
		name: b.payload.Events[0].Name, clientID: b.payload.ClientID, txnID: b.txnID, debug: debug}
	r.payload, _ = json.Marshal(b.payload)
	return r
}

func (r *record) ok(res *SendResult) {
	now := time.Now().UTC()
	r.sentAt, r.httpStatus, r.payload = &now, res.Status, res.Body
	if r.debug {
		r.status = StatusValidated
		msgs := res.ValidationMessages
		if msgs == nil {
			msgs = []ValidationMessage{}
		}
		r.validation = map[string]any{"checked_by": "ga4_validation_server", "valid": true, "validationMessages": msgs}
		return
	}
	r.status = StatusSent
	r.validation = map[string]any{"checked_by": "local", "valid": true}
}

func (r *record) expire(age time.Duration) {
	r.status = StatusExpired
	r.validation = map[string]any{"checked_by": "local", "valid": false,
		"problems": []string{"event is " + age.Round(time.Second).String() + " old; GA4 drops events older than 72h"}}
}

func (r *record) fail(res *SendResult) {
	r.status = StatusInvalid
	if res == nil {
		return
	}
	r.httpStatus = res.Status
	if len(res.Body) > 0 {
		r.payload = res.Body
	}
	if res.ValidationMessages != nil {
		r.validation = map[string]any{"checked_by": "ga4_validation_server", "valid": false, "validationMessages": res.ValidationMessages}
	} else {
		r.validation = map[string]any{"checked_by": "local", "valid": false, "problems": res.Problems}
	}
}

func (r *record) upsert(ctx context.Context, db dbtx.DB) error {
	v, err := json.Marshal(r.validation)
	if err != nil {
		return err
	}
	return ga4db.UpsertEvent(ctx, db, &ga4db.Event{EventID: r.eventID, Name: r.name, SourceEventID: r.sourceEventID,
		WorkspaceID: r.workspace, ClientID: r.clientID, TransactionID: r.txnID, Payload: r.payload, Status: r.status,
		Debug: r.debug, Validation: v, HTTPStatus: r.httpStatus, SentAt: r.sentAt})
}

// recordInvalid keeps the refusal on file without marking the event
// processed, so `dlq retry` after a fix re-evaluates it.
func (h *handler) recordInvalid(ctx context.Context, r *record) error {
	return r.upsert(ctx, h.store.DB)
}

// priorSend says why r must not be sent ("" when it must): this event was
// already sent (or validated, while still in debug mode), or — for a
// purchase — its transaction was.
func (h *handler) priorSend(ctx context.Context, r *record) (string, error) {
	status, err := ga4db.StatusOf(ctx, h.store.DB, r.eventID, r.name)
	switch {
	case err != nil:
		return "", err
	case status == StatusSent:
		return "already sent", nil
	case status == StatusExpired:
		return "expired (older than GA4's 72 h window)", nil
	case status == StatusValidated && h.cfg.Debug:
		return "already validated (debug mode)", nil
	}
	if r.txnID == "" {
		return "", nil
	}
	other, err := ga4db.OtherWithTransaction(ctx, h.store.DB, r.name, r.txnID, StatusSent, r.eventID)
	if other == "" || err != nil {
		return "", err
	}
	return "transaction already sent by event " + other, nil
}
