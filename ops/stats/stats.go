// Package stats computes per-source analytics from the recorded outcomes:
// requests, success and error rates, average and p50/p95/p99 processing
// time, all time and for the last 24 hours. See ops/internal/final for
// which outcome of an event counts and what its processing time is.
package stats

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/ops/internal/final"
)

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

// Report is one source's figures (GET /api/webhooks/{id}/metrics,
// `hookstream stats`).
type Report struct {
	WebhookID string `json:"webhook_id"`
	Metrics
	Last24h    Metrics   `json:"last_24h"`
	Unit       string    `json:"time_unit"`
	ComputedAt time.Time `json:"computed_at"`
}

// Reader computes the figures.
type Reader struct {
	DB *pgxpool.Pool
	// Now is the end of the "last 24 hours" and the reports' computed_at
	// (default time.Now).
	Now func() time.Time
}

func (r Reader) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// Source computes one source's figures over all its recorded events and
// over the last 24 hours. An unknown source has zeros.
func (r Reader) Source(ctx context.Context, source string) (*Report, error) {
	if source == "" {
		return nil, ops.Invalid("webhook", "webhook id required")
	}
	now := r.now()
	args := pgx.NamedArgs{"day": now.Add(-24 * time.Hour)}
	cond, err := final.SourceCond(source, args)
	if err != nil {
		return nil, err
	}
	q := final.With(cond) + `
	SELECT ` + aggregates("true") + `, ` + aggregates("t >= @day") + ` FROM classed`
	rep := &Report{WebhookID: source, Unit: "ms", ComputedAt: now.UTC()}
	row := r.DB.QueryRow(ctx, q, args)
	if err := row.Scan(append(rep.Metrics.dest(), rep.Last24h.dest()...)...); err != nil {
		return nil, err
	}
	rep.Metrics.finish()
	rep.Last24h.finish()
	return rep, nil
}

// Sources reports every source that has events, busiest first.
func (r Reader) Sources(ctx context.Context) ([]*Report, error) {
	now := r.now()
	args := pgx.NamedArgs{"day": now.Add(-24 * time.Hour)}
	q := final.With("true") + `
	SELECT source, ` + aggregates("true") + `, ` + aggregates("t >= @day") + ` FROM classed
	GROUP BY source ORDER BY count(*) DESC, source`
	rows, err := r.DB.Query(ctx, q, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Report
	for rows.Next() {
		rep := &Report{Unit: "ms", ComputedAt: now.UTC()}
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
		m.SuccessRate = final.Round2(100 * float64(m.SuccessfulRequests) / float64(m.TotalRequests))
		m.ErrorRate = final.Round2(100 * float64(m.FailedRequests) / float64(m.TotalRequests))
	}
	for _, p := range []**float64{&m.AverageProcessingTime, &m.P50ProcessingTime, &m.P95ProcessingTime, &m.P99ProcessingTime} {
		if *p != nil {
			v := final.Round2(**p)
			*p = &v
		}
	}
}
