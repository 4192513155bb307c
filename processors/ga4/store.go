package ga4

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookstream/hookstream/processors"
)

// Statuses of a ga4_events row.
const (
	StatusSent      = "sent"      // posted to /mp/collect
	StatusValidated = "validated" // accepted by the validation server (debug mode; not recorded by GA4)
	StatusInvalid   = "invalid"   // refused locally or by the validation server; never recorded by GA4
	StatusExpired   = "expired"   // older than GA4's 72 h backdating window when first processed; not sent
)

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

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

func (r *record) upsert(ctx context.Context, db execer) error {
	v, err := json.Marshal(r.validation)
	if err != nil {
		return err
	}
	var txn, status any
	if r.txnID != "" {
		txn = r.txnID
	}
	if r.httpStatus != 0 {
		status = r.httpStatus
	}
	_, err = db.Exec(ctx, `INSERT INTO ga4_events (event_id, name, source_event_id, workspace_id, client_id,
			transaction_id, payload, status, debug, validation, http_status, sent_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
		ON CONFLICT (event_id, name) DO UPDATE SET client_id=EXCLUDED.client_id, transaction_id=EXCLUDED.transaction_id,
			payload=EXCLUDED.payload, status=EXCLUDED.status, debug=EXCLUDED.debug, validation=EXCLUDED.validation,
			http_status=EXCLUDED.http_status, sent_at=EXCLUDED.sent_at, attempts=ga4_events.attempts+1, updated_at=now()`,
		r.eventID, r.name, r.sourceEventID, r.workspace, r.clientID, txn, []byte(r.payload), r.status, r.debug, v, status, r.sentAt)
	return err
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
	var status string
	err := h.store.DB.QueryRow(ctx, `SELECT status FROM ga4_events WHERE event_id=$1 AND name=$2`, r.eventID, r.name).Scan(&status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
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
	var other string
	err = h.store.DB.QueryRow(ctx, `SELECT event_id FROM ga4_events WHERE name=$1 AND transaction_id=$2
		AND status=$3 AND event_id<>$4 LIMIT 1`, r.name, r.txnID, StatusSent, r.eventID).Scan(&other)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", nil
	case err != nil:
		return "", err
	}
	return "transaction already sent by event " + other, nil
}
