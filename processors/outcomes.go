package processors

import (
	"context"
	"encoding/json"
	"time"

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
