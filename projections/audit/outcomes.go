package audit

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/internal/textcut"
	"github.com/hookstream/hookstream/projections/dbtx"
)

// Outcome is one recorded attempt: an event_outcomes row.
type Outcome struct {
	Processor string
	EventID   string
	WebhookID string
	Workspace string
	Subject   string
	StreamSeq uint64
	Status    string
	Attempts  int
	Duration  time.Duration
	Received  time.Time
	Error     string
	Detail    json.RawMessage
}

// MaxOutcomeError bounds an outcome's stored error text (a remote
// service's answer can be long).
const MaxOutcomeError = 2000

// InsertOutcome stores one outcome. Empty webhook, workspace, error and
// detail are stored as NULL, as is a zero Received.
func InsertOutcome(ctx context.Context, db dbtx.DB, o Outcome) error {
	var recv *time.Time
	if !o.Received.IsZero() {
		recv = &o.Received
	}
	var detail any
	if len(o.Detail) > 0 {
		detail = o.Detail
	}
	_, err := db.Exec(ctx, `INSERT INTO event_outcomes (processor, event_id, webhook_id, workspace_id,
		subject, stream_seq, status, attempts, duration_ms, received_at, error, detail)
		VALUES ($1,$2,NULLIF($3,''),NULLIF($4,''),$5,$6,$7,$8,$9,$10,NULLIF($11,''),$12)`,
		o.Processor, o.EventID, o.WebhookID, o.Workspace, o.Subject, int64(o.StreamSeq), o.Status,
		o.Attempts, float64(o.Duration.Microseconds())/1000, recv, textcut.PGText(o.Error, MaxOutcomeError), detail)
	return err
}

// outcomeCols are the event_outcomes columns CopyOutcomes writes (id and
// at take their defaults).
var outcomeCols = []string{"processor", "event_id", "webhook_id", "workspace_id", "subject", "stream_seq",
	"status", "attempts", "duration_ms", "received_at", "error", "detail"}

// CopyOutcomes stores os with one COPY, NULLs as InsertOutcome stores
// them. One row Postgres refuses fails them all.
func CopyOutcomes(ctx context.Context, db dbtx.DB, os []Outcome) error {
	rows := make([][]any, len(os))
	for i, o := range os {
		var recv any
		if !o.Received.IsZero() {
			recv = o.Received
		}
		var detail any
		if len(o.Detail) > 0 {
			detail = string(o.Detail)
		}
		rows[i] = []any{o.Processor, o.EventID, nullString(o.WebhookID), nullString(o.Workspace), o.Subject,
			int64(o.StreamSeq), o.Status, o.Attempts, float64(o.Duration.Microseconds()) / 1000, recv,
			nullString(textcut.PGText(o.Error, MaxOutcomeError)), detail}
	}
	_, err := db.CopyFrom(ctx, pgx.Identifier{"event_outcomes"}, outcomeCols, pgx.CopyFromRows(rows))
	return err
}

// nullString is NULL for "", as NULLIF does in InsertOutcome.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
