// Package ga4 holds the GA4 projection's queries: ga4_events, one row per
// event sent (or refused) to the Measurement Protocol.
package ga4

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// Event is a ga4_events row. TransactionID "" and HTTPStatus 0 are stored
// as NULL.
type Event struct {
	EventID, Name, SourceEventID, WorkspaceID, ClientID, TransactionID string
	Payload                                                            []byte
	Status                                                             string
	Debug                                                              bool
	Validation                                                         []byte // JSON
	HTTPStatus                                                         int
	SentAt                                                             *time.Time
}

// UpsertEvent records an event's latest attempt, counting attempts.
func UpsertEvent(ctx context.Context, db dbtx.DB, e *Event) error {
	var txn, status any
	if e.TransactionID != "" {
		txn = e.TransactionID
	}
	if e.HTTPStatus != 0 {
		status = e.HTTPStatus
	}
	_, err := db.Exec(ctx, `INSERT INTO ga4_events (event_id, name, source_event_id, workspace_id, client_id,
			transaction_id, payload, status, debug, validation, http_status, sent_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
		ON CONFLICT (event_id, name) DO UPDATE SET client_id=EXCLUDED.client_id, transaction_id=EXCLUDED.transaction_id,
			payload=EXCLUDED.payload, status=EXCLUDED.status, debug=EXCLUDED.debug, validation=EXCLUDED.validation,
			http_status=EXCLUDED.http_status, sent_at=EXCLUDED.sent_at, attempts=ga4_events.attempts+1, updated_at=now()`,
		e.EventID, e.Name, e.SourceEventID, e.WorkspaceID, e.ClientID, txn, e.Payload, e.Status, e.Debug, e.Validation,
		status, e.SentAt)
	return err
}

// StatusOf is the status of an event's row, "" when there is none.
func StatusOf(ctx context.Context, db dbtx.DB, eventID, name string) (string, error) {
	var status string
	err := db.QueryRow(ctx, `SELECT status FROM ga4_events WHERE event_id=$1 AND name=$2`, eventID, name).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return status, err
}

// OtherWithTransaction is another event (not eventID) of this name and
// transaction whose row has this status, "" when there is none.
func OtherWithTransaction(ctx context.Context, db dbtx.DB, name, transactionID, status, eventID string) (string, error) {
	var other string
	err := db.QueryRow(ctx, `SELECT event_id FROM ga4_events WHERE name=$1 AND transaction_id=$2
		AND status=$3 AND event_id<>$4 LIMIT 1`, name, transactionID, status, eventID).Scan(&other)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return other, err
}
