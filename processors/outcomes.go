package processors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/projections/audit"
)

// Outcome is one recorded attempt (table event_outcomes).
type Outcome = audit.Outcome

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
	return audit.InsertOutcome(ctx, p.DB, o)
}

// RecordBatch inserts the outcomes with one COPY. One row Postgres refuses
// fails the whole COPY: the rows are then inserted one by one, so only a row
// that is refused itself is lost, and the error names it.
func (p PGOutcomes) RecordBatch(ctx context.Context, os []Outcome) error {
	return errors.Join(p.recordRows(ctx, os)...)
}

// recordRows stores os and returns each one's error (nil when all are
// stored).
func (p PGOutcomes) recordRows(ctx context.Context, os []Outcome) []error {
	err := audit.CopyOutcomes(ctx, p.DB, os)
	var pgErr *pgconn.PgError
	if err == nil {
		return nil
	}
	errs := make([]error, len(os))
	if len(os) == 1 || !errors.As(err, &pgErr) {
		// Postgres did not refuse a row (it could not be reached):
		// inserting them one by one would fail alike.
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i, o := range os {
		if errs[i] = p.Record(ctx, o); errs[i] != nil {
			errs[i] = fmt.Errorf("outcome %s/%s attempt %d: %w", o.Processor, o.EventID, o.Attempts, errs[i])
		}
	}
	return errs
}

// GroupedOutcomes is PGOutcomes with group commit: concurrent Record calls
// share one COPY (the first caller writes everything queued meanwhile, the
// others wait for it), so a busy processor pays one transaction for many
// outcomes instead of one each. Use one per process (a pointer; the zero
// value needs DB).
type GroupedOutcomes struct {
	DB *pgxpool.Pool

	mu       sync.Mutex
	pending  []*outcomeReq
	flushing bool
}

type outcomeReq struct {
	o    Outcome
	done chan error
}

// Record stores o, returning once the COPY that holds it committed.
func (g *GroupedOutcomes) Record(ctx context.Context, o Outcome) error {
	r := &outcomeReq{o: o, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.flushing {
		g.mu.Unlock()
		select {
		case err := <-r.done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.flushing = true
	for len(g.pending) > 0 {
		batch := g.pending
		g.pending = nil
		g.mu.Unlock()
		os := make([]Outcome, len(batch))
		for i, b := range batch {
			os[i] = b.o
		}
		// Not the caller's context: the others' outcomes ride on it.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		errs := PGOutcomes{DB: g.DB}.recordRows(wctx, os)
		cancel()
		for i, b := range batch {
			if errs != nil {
				b.done <- errs[i]
			} else {
				b.done <- nil
			}
		}
		g.mu.Lock()
	}
	g.flushing = false
	g.mu.Unlock()
	return <-r.done
}

// RecordBatch stores many outcomes with one COPY (as PGOutcomes does).
func (g *GroupedOutcomes) RecordBatch(ctx context.Context, os []Outcome) error {
	return PGOutcomes{DB: g.DB}.RecordBatch(ctx, os)
}
