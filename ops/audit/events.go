package audit

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/ops/internal/final"
)

// EventFilter narrows Events. The zero value lists the newest 50 events of
// every source.
type EventFilter struct {
	Source string    // webhook id, stripe, facebook, mailerlite, form[:type]; empty = all
	Status string    // ok | failed | pending, or an outcome status (rejected, dead, duplicate, …)
	Since  time.Time // only events received at or after; zero = all
	Limit  int       // default 50
	// After continues a list: only events that come after this one in
	// the list's order (see EventSummary.Cursor).
	After *Cursor
}

// Cursor is a position in an event list: events are ordered newest first
// by the time they are filed under (received, else their outcome), then by
// event id.
type Cursor struct {
	At      time.Time
	EventID string
}

// Validate checks the status and the limit.
func (f EventFilter) Validate() error {
	if f.Limit < 0 {
		return ops.Invalid("limit", "must not be negative")
	}
	switch f.Status {
	case "", "ok", "succeeded", "success", "failed", "failure", "pending", "retrying",
		"rejected", "dead", "retry", "duplicate", "skipped", "unhandled":
		return nil
	}
	return ops.Invalid("status", "want ok, failed, pending or an outcome status (rejected, dead, retry, duplicate, skipped, unhandled)")
}

// EventSummary is one row of an event list.
type EventSummary struct {
	EventID    string     `json:"event_id"`
	Source     string     `json:"source"`
	Processor  string     `json:"processor"`
	Subject    string     `json:"subject"`
	StreamSeq  int64      `json:"stream_seq"`
	Workspace  string     `json:"workspace_id,omitempty"`
	Status     string     `json:"status"` // ok | failed | pending
	Outcome    string     `json:"outcome"`
	Attempts   int        `json:"attempts"`
	ReceivedAt *time.Time `json:"received_at,omitempty"`
	At         time.Time  `json:"at"`
	TotalMS    *float64   `json:"processing_time_ms,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// Cursor is the position right after this event in its list.
func (e EventSummary) Cursor() Cursor {
	if e.ReceivedAt != nil {
		return Cursor{At: *e.ReceivedAt, EventID: e.EventID}
	}
	return Cursor{At: e.At, EventID: e.EventID}
}

// Events lists raw events by their final outcome, newest first.
func (t Trail) Events(ctx context.Context, f EventFilter) ([]EventSummary, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	args := pgx.NamedArgs{}
	cond, err := final.SourceCond(f.Source, args)
	if err != nil {
		return nil, err
	}
	where := "true"
	if !f.Since.IsZero() {
		args["since"] = f.Since
		cond += " AND at >= @since"
		where = "t >= @since"
	}
	if f.After != nil {
		args["after_t"], args["after_id"] = f.After.At, f.After.EventID
		where += " AND (t < @after_t OR (t = @after_t AND event_id > @after_id))"
	}
	switch f.Status {
	case "":
	case "ok", "succeeded", "success":
		where += " AND class = 'ok'"
	case "failed", "failure":
		where += " AND class = 'failed'"
	case "pending", "retrying":
		where += " AND class = 'pending'"
	default:
		args["status"] = f.Status
		where += " AND status = @status"
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	args["limit"] = f.Limit
	q := final.With(cond) + `
	SELECT event_id, source, processor, subject, COALESCE(stream_seq, 0), COALESCE(workspace_id, ''), class, status,
		attempts, received_at, at, ms, COALESCE(error, '')
	FROM classed WHERE ` + where + ` ORDER BY t DESC, event_id LIMIT @limit`
	rows, err := t.DB.Query(ctx, q, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []EventSummary{}
	for rows.Next() {
		var e EventSummary
		if err := rows.Scan(&e.EventID, &e.Source, &e.Processor, &e.Subject, &e.StreamSeq, &e.Workspace, &e.Status,
			&e.Outcome, &e.Attempts, &e.ReceivedAt, &e.At, &e.TotalMS, &e.Error); err != nil {
			return nil, err
		}
		if e.TotalMS != nil {
			v := final.Round2(*e.TotalMS)
			e.TotalMS = &v
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
