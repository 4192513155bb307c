package admin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/streams"
)

// Analytics and event lists read the outcomes of the processors that
// consume INGEST (contacts, payments, mailerlite-ingest): each raw event's
// final outcome is its first success if it has one, else its first
// rejection or dead letter, else (still retrying) its latest attempt.
// Processing time runs from the gateway's receipt (Hs-Received-At) to that
// outcome, so it is what the sender's request took end to end and it survives
// restarts: it is computed from event_outcomes, never from counters in memory.

// Metrics are one source's figures; times are in milliseconds, null when no
// event has a final outcome yet. Rates are percentages of the requests with a
// final outcome (pending ones are counted apart).
type Metrics struct {
	TotalRequests         int64    `json:"total_requests"`
	SuccessfulRequests    int64    `json:"successful_requests"`
	FailedRequests        int64    `json:"failed_requests"`
	PendingRequests       int64    `json:"pending_requests"`
	SuccessRate           float64  `json:"success_rate"`
	ErrorRate             float64  `json:"error_rate"`
	AverageProcessingTime *float64 `json:"average_processing_time"`
	P50ProcessingTime     *float64 `json:"p50_processing_time"`
	P95ProcessingTime     *float64 `json:"p95_processing_time"`
	P99ProcessingTime     *float64 `json:"p99_processing_time"`
}

// SourceReport is GET /api/webhooks/{id}/metrics and `hookstream stats`.
type SourceReport struct {
	WebhookID string `json:"webhook_id"`
	Metrics
	Last24h    Metrics   `json:"last_24h"`
	Unit       string    `json:"time_unit"`
	ComputedAt time.Time `json:"computed_at"`
}

// finalCTE picks each raw event's final outcome (see the package comment).
const finalCTE = `final AS (
	SELECT DISTINCT ON (event_id) event_id, processor, webhook_id, workspace_id, subject, stream_seq, status,
		attempts, duration_ms, received_at, at, error, detail,
		CASE WHEN webhook_id IS NOT NULL THEN webhook_id
			WHEN subject LIKE 'ingest.form.%' THEN 'form:' || split_part(subject, '.', 3)
			ELSE split_part(subject, '.', 2) END AS source
	FROM event_outcomes
	WHERE subject LIKE 'ingest.%' AND $COND
	ORDER BY event_id,
		CASE WHEN status IN ('ok','skipped','unhandled') THEN 0 WHEN status IN ('rejected','dead') THEN 1
			WHEN status = 'duplicate' THEN 2 ELSE 3 END,
		CASE WHEN status = 'retry' THEN -extract(epoch FROM at) ELSE extract(epoch FROM at) END, id
), classed AS (
	SELECT *,
		CASE WHEN status IN ('ok','skipped','unhandled','duplicate') THEN 'ok'
			WHEN status IN ('rejected','dead') THEN 'failed' ELSE 'pending' END AS class,
		CASE WHEN received_at IS NOT NULL AND status <> 'retry'
			THEN extract(epoch FROM (at - received_at)) * 1000 END AS ms,
		COALESCE(received_at, at) AS t
	FROM final
)`

func finalSQL(cond string) string { return strings.Replace(finalCTE, "$COND", cond, 1) }

// sourceFilter turns a source id into a condition on event_outcomes:
// stripe, facebook, mailerlite, form and form:<type> name the global routes;
// anything else is a webhook id.
func sourceFilter(source string, args pgx.NamedArgs) (string, error) {
	switch {
	case source == "" || source == "*" || source == "all":
		return "true", nil
	case source == streams.SourceStripe || source == streams.SourceFacebook || source == streams.SourceMailerLite:
		args["subject_like"] = "ingest." + source + ".%"
		return "webhook_id IS NULL AND subject LIKE @subject_like", nil
	case source == "form" || source == "forms":
		return "subject LIKE 'ingest.form.%'", nil
	case strings.HasPrefix(source, "form:"):
		ft := strings.TrimPrefix(source, "form:")
		if !streams.ValidToken(ft, false) {
			return "", fmt.Errorf("form type %q", ft)
		}
		args["subject"] = "ingest.form." + ft
		return "subject = @subject", nil
	}
	args["webhook"] = source
	return "webhook_id = @webhook", nil
}

// SourceMetrics computes one source's figures over all its recorded events
// and over the 24 hours before now.
func SourceMetrics(ctx context.Context, db *pgxpool.Pool, source string, now time.Time) (*SourceReport, error) {
	if source == "" {
		return nil, badRequest("webhook id required")
	}
	args := pgx.NamedArgs{"day": now.Add(-24 * time.Hour)}
	cond, err := sourceFilter(source, args)
	if err != nil {
		return nil, badRequest(err.Error())
	}
	q := "WITH " + finalSQL(cond) + `
	SELECT ` + aggregates("true") + `, ` + aggregates("t >= @day") + ` FROM classed`
	rep := &SourceReport{WebhookID: source, Unit: "ms", ComputedAt: now.UTC()}
	row := db.QueryRow(ctx, q, args)
	if err := row.Scan(append(rep.Metrics.dest(), rep.Last24h.dest()...)...); err != nil {
		return nil, err
	}
	rep.Metrics.finish()
	rep.Last24h.finish()
	return rep, nil
}

// AllSourceMetrics reports every source that has events, busiest first.
func AllSourceMetrics(ctx context.Context, db *pgxpool.Pool, now time.Time) ([]*SourceReport, error) {
	args := pgx.NamedArgs{"day": now.Add(-24 * time.Hour)}
	q := "WITH " + finalSQL("true") + `
	SELECT source, ` + aggregates("true") + `, ` + aggregates("t >= @day") + ` FROM classed
	GROUP BY source ORDER BY count(*) DESC, source`
	rows, err := db.Query(ctx, q, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*SourceReport
	for rows.Next() {
		rep := &SourceReport{Unit: "ms", ComputedAt: now.UTC()}
		dest := append([]any{&rep.WebhookID}, rep.Metrics.dest()...)
		if err := rows.Scan(append(dest, rep.Last24h.dest()...)...); err != nil {
			return nil, err
		}
		rep.Metrics.finish()
		rep.Last24h.finish()
		out = append(out, rep)
	}
	return out, rows.Err()
}

// aggregates are the columns Metrics.dest scans, over the rows where cond
// holds.
func aggregates(cond string) string {
	f := " FILTER (WHERE " + cond + ")"
	return strings.Join([]string{
		"count(*) FILTER (WHERE class <> 'pending' AND " + cond + ")",
		"count(*) FILTER (WHERE class = 'ok' AND " + cond + ")",
		"count(*) FILTER (WHERE class = 'failed' AND " + cond + ")",
		"count(*) FILTER (WHERE class = 'pending' AND " + cond + ")",
		"avg(ms)" + f,
		"percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)" + f,
		"percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)" + f,
		"percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)" + f,
	}, ", ")
}

func (m *Metrics) dest() []any {
	return []any{&m.TotalRequests, &m.SuccessfulRequests, &m.FailedRequests, &m.PendingRequests,
		&m.AverageProcessingTime, &m.P50ProcessingTime, &m.P95ProcessingTime, &m.P99ProcessingTime}
}

func (m *Metrics) finish() {
	if m.TotalRequests > 0 {
		m.SuccessRate = round2(100 * float64(m.SuccessfulRequests) / float64(m.TotalRequests))
		m.ErrorRate = round2(100 * float64(m.FailedRequests) / float64(m.TotalRequests))
	}
	for _, p := range []**float64{&m.AverageProcessingTime, &m.P50ProcessingTime, &m.P95ProcessingTime, &m.P99ProcessingTime} {
		if *p != nil {
			v := round2(**p)
			*p = &v
		}
	}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// EventFilter narrows ListEvents.
type EventFilter struct {
	Source string        // webhook id, stripe, facebook, mailerlite, form[:type]; empty = all
	Status string        // ok | failed | pending, or an outcome status (rejected, dead, duplicate, …)
	Since  time.Duration // look-back on the receive time; 0 = all
	Limit  int           // default 50
}

// Validate checks the status.
func (f EventFilter) Validate() error {
	switch f.Status {
	case "", "ok", "succeeded", "success", "failed", "failure", "pending", "retrying",
		"rejected", "dead", "retry", "duplicate", "skipped", "unhandled":
		return nil
	}
	return errors.New("status: want ok, failed, pending or an outcome status (rejected, dead, retry, duplicate, skipped, unhandled)")
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

// ListEvents lists raw events by their final outcome, newest first.
func ListEvents(ctx context.Context, db *pgxpool.Pool, f EventFilter, now time.Time) ([]EventSummary, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	args := pgx.NamedArgs{}
	cond, err := sourceFilter(f.Source, args)
	if err != nil {
		return nil, err
	}
	if f.Since > 0 {
		args["since"] = now.Add(-f.Since)
		cond += " AND at >= @since"
	}
	where := "true"
	if f.Since > 0 {
		where = "t >= @since"
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
	q := "WITH " + finalSQL(cond) + `
	SELECT event_id, source, processor, subject, COALESCE(stream_seq, 0), COALESCE(workspace_id, ''), class, status,
		attempts, received_at, at, ms, COALESCE(error, '')
	FROM classed WHERE ` + where + ` ORDER BY t DESC, event_id LIMIT @limit`
	rows, err := db.Query(ctx, q, args)
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
			v := round2(*e.TotalMS)
			e.TotalMS = &v
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
