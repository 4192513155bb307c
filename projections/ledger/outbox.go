package ledger

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// Emitted is one outbox row: a domain event a processor emitted because of
// event EventID, published after its transaction commits.
type Emitted struct {
	ID      int64 // set by InsertOutbox and PendingOutbox; CopyOutbox leaves it 0
	EventID string
	Subject string
	MsgID   string
	Headers map[string]string
	Body    []byte
}

// InsertOutbox stores e for processor and sets e.ID.
func InsertOutbox(ctx context.Context, db dbtx.DB, processor string, e *Emitted) error {
	hb, _ := json.Marshal(e.Headers) // a map of strings always marshals
	return db.QueryRow(ctx, `INSERT INTO outbox (processor, event_id, subject, msg_id, headers, body)
		VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`, processor, e.EventID, e.Subject, e.MsgID, hb, e.Body).Scan(&e.ID)
}

// outboxCols are the outbox columns CopyOutbox writes (id and created_at
// take their defaults).
var outboxCols = []string{"processor", "event_id", "subject", "msg_id", "headers", "body"}

// CopyOutbox stores es for processor with one COPY; their IDs stay 0 (a
// batch deletes its rows by event id, DeleteOutboxOf).
func CopyOutbox(ctx context.Context, db dbtx.DB, processor string, es []Emitted) error {
	rows := make([][]any, len(es))
	for i, e := range es {
		hb, _ := json.Marshal(e.Headers)
		rows[i] = []any{processor, e.EventID, e.Subject, e.MsgID, string(hb), e.Body}
	}
	_, err := db.CopyFrom(ctx, pgx.Identifier{"outbox"}, outboxCols, pgx.CopyFromRows(rows))
	return err
}

// PendingOutbox reads the rows processor left for eventIDs, oldest first:
// their transaction committed but their publishing did not finish. Their
// EventID is not read (publishing does not need it).
func PendingOutbox(ctx context.Context, db dbtx.DB, processor string, eventIDs []string) ([]Emitted, error) {
	rows, err := db.Query(ctx, `SELECT id, subject, msg_id, headers, body FROM outbox
		WHERE processor = $1 AND event_id = ANY($2) ORDER BY id`, processor, eventIDs)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Emitted, error) {
		var e Emitted
		err := row.Scan(&e.ID, &e.Subject, &e.MsgID, &e.Headers, &e.Body)
		return e, err
	})
}

// DeleteOutbox removes published rows by id.
func DeleteOutbox(ctx context.Context, db dbtx.DB, ids []int64) error {
	_, err := db.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids)
	return err
}

// DeleteOutboxOf removes processor's published rows of eventIDs.
func DeleteOutboxOf(ctx context.Context, db dbtx.DB, processor string, eventIDs []string) error {
	_, err := db.Exec(ctx, `DELETE FROM outbox WHERE processor = $1 AND event_id = ANY($2)`, processor, eventIDs)
	return err
}
