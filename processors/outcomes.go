package processors

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Outcome is one recorded attempt (table event_outcomes).
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

// OutcomeRecorder stores outcomes; a failure to record is logged, never
// allowed to fail the message.
type OutcomeRecorder interface {
	Record(ctx context.Context, o Outcome) error
}

// BatchOutcomeRecorder is an OutcomeRecorder that stores many outcomes at
// once (the batch path records a whole batch in one statement).
type BatchOutcomeRecorder interface {
	OutcomeRecorder
	RecordBatch(ctx context.Context, os []Outcome) error
}

// PGOutcomes records into Postgres.
type PGOutcomes struct{ DB *pgxpool.Pool }

// Record inserts one outcome row.
func (p PGOutcomes) Record(ctx context.Context, o Outcome) error {
	var recv *time.Time
	if !o.Received.IsZero() {
		recv = &o.Received
	}
	var detail any
	if len(o.Detail) > 0 {
		detail = o.Detail
	}
	_, err := p.DB.Exec(ctx, `INSERT INTO event_outcomes (processor, event_id, webhook_id, workspace_id,
		subject, stream_seq, status, attempts, duration_ms, received_at, error, detail)
		VALUES ($1,$2,NULLIF($3,''),NULLIF($4,''),$5,$6,$7,$8,$9,$10,NULLIF($11,''),$12)`,
		o.Processor, o.EventID, o.WebhookID, o.Workspace, o.Subject, int64(o.StreamSeq), o.Status,
		o.Attempts, float64(o.Duration.Microseconds())/1000, recv, truncate(o.Error, 2000), detail)
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// outcomeCols are event_outcomes' columns RecordBatch copies (id and at
// take their defaults).
var outcomeCols = []string{"processor", "event_id", "webhook_id", "workspace_id", "subject", "stream_seq",
	"status", "attempts", "duration_ms", "received_at", "error", "detail"}

// RecordBatch inserts the outcomes with one COPY.
func (p PGOutcomes) RecordBatch(ctx context.Context, os []Outcome) error {
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
			nullString(truncate(o.Error, 2000)), detail}
	}
	_, err := p.DB.CopyFrom(ctx, pgx.Identifier{"event_outcomes"}, outcomeCols, pgx.CopyFromRows(rows))
	return err
}

// nullString is NULL for "" (NULLIF($n,”) in a statement).
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
