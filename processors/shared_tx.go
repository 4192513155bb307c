package processors

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/internal/panics"
	"github.com/hookstream/hookstream/projections/ledger"
)

// Batched turns a handler built on Store.Apply into a BatchFunc: the
// messages of a batch are handled one after the other, in delivery order, in
// one transaction, the batch commits once, and what the handlers emitted is
// published after the commit (FinishFunc). It saves a commit, an outbox
// delete, an outcome insert and an ack round trip per message. When an Apply
// fails, the batch runs again with each Apply in its own savepoint, so the
// failing message is undone alone and gets its error.
//
// Only for handlers whose database work goes through Store.Apply (or the
// transaction it gives): work on another connection could wait for a lock
// the batch holds. Handlers that call outside services keep their own
// concurrency and should not be batched.
func (s *Store) Batched(h HandlerFunc) BatchFunc {
	return func(ctx context.Context, ms []*Message) ([]error, FinishFunc) {
		// First without savepoints (two round trips fewer per message);
		// if a message's Apply fails, that transaction is dropped and the
		// batch runs again with one savepoint per message.
		errs, finish, retry := s.runShared(ctx, h, ms, false)
		if retry {
			errs, finish, _ = s.runShared(ctx, h, ms, true)
		}
		return errs, finish
	}
}

// runShared handles ms in one transaction. Without savepoints it stops at
// the first failed Apply and reports retry (nothing is committed).
func (s *Store) runShared(ctx context.Context, h HandlerFunc, ms []*Message, savepoints bool) (
	errs []error, finish FinishFunc, retry bool) {
	errs = make([]error, len(ms))
	fail := func(err error) ([]error, FinishFunc, bool) {
		for i := range errs {
			errs[i] = fmt.Errorf("%w: batch of %d: %w", ErrOneByOne, len(ms), err)
		}
		return errs, nil, false
	}
	tx, err := s.DB.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // after Commit, a no-op
	st := &sharedTx{tx: tx, savepoints: savepoints}
	bctx := context.WithValue(ctx, sharedKey{}, st)
	for i, m := range ms {
		m.outcome = nil // a first, undone run may have set it
		errs[i] = panics.Call(func() error { return h(bctx, m) })
		if pe, ok := panics.As(errs[i]); ok {
			// The transaction is in an unknown state.
			return fail(fmt.Errorf("handler panic on seq %d: %w\n%s", m.StreamSeq, pe, pe.Stack))
		}
		if st.failed {
			return nil, nil, true
		}
	}
	if err := tx.Commit(ctx); err != nil {
		// E.g. a handler's statement outside Apply failed and aborted the
		// transaction: nothing was applied.
		return fail(err)
	}
	return errs, st.finish(s), false
}

type sharedKey struct{}

// sharedTx is a Batched run's transaction and what its Applies produced.
type sharedTx struct {
	tx         pgx.Tx
	savepoints bool // each Apply in its own savepoint
	failed     bool // an Apply without a savepoint failed: the run is void
	emitted    []ledger.Emitted
	announce   []announcement
	flush      map[string][]string // processor → ids applied before: outbox leftovers
}

// apply is Store.Apply inside the shared transaction.
func (st *sharedTx) apply(ctx context.Context, processor string, m *Message, fn func(ctx context.Context, tx *Tx) error) error {
	var t *Tx
	work := func(tx pgx.Tx) error {
		t = &Tx{Tx: tx, processor: processor, m: m}
		return fn(ctx, t)
	}
	var err error
	if st.savepoints {
		err = Once(ctx, st.tx, processor, m, work)
	} else if err = onceIn(ctx, st.tx, processor, m, work); err != nil && !errors.Is(err, ErrAlreadyProcessed) {
		st.failed = true
	}
	switch {
	case err == nil:
		st.add(processor, m, t.emitted, t.results)
	case errors.Is(err, ErrAlreadyProcessed):
		// Published after the commit, not on another connection while
		// this transaction holds its locks.
		if st.flush == nil {
			st.flush = map[string][]string{}
		}
		st.flush[processor] = append(st.flush[processor], m.EventID)
	}
	return err
}

type announcement struct {
	sourceEventID, processor string
	body                     []byte
}

func sharedFrom(ctx context.Context) *sharedTx {
	st, _ := ctx.Value(sharedKey{}).(*sharedTx)
	return st
}

func (st *sharedTx) add(processor string, m *Message, emitted []ledger.Emitted, results [][]byte) {
	st.emitted = append(st.emitted, emitted...)
	for _, r := range results {
		st.announce = append(st.announce, announcement{SourceEventID(m), processor, r})
	}
}

// finish publishes the batch's outbox rows (from memory), deletes them,
// publishes what earlier runs left for the already-applied messages, and
// announces the results.
func (st *sharedTx) finish(s *Store) FinishFunc {
	if len(st.emitted) == 0 && len(st.flush) == 0 && (len(st.announce) == 0 || s.NC == nil) {
		return nil
	}
	return func(ctx context.Context) error {
		if err := s.publish(ctx, st.emitted); err != nil {
			return fmt.Errorf("publishing emitted events: %w", err)
		}
		for processor, ids := range st.flush {
			if err := s.FlushOutbox(ctx, processor, ids...); err != nil {
				return fmt.Errorf("publishing emitted events: %w", err)
			}
		}
		for _, a := range st.announce {
			s.AnnounceResult(a.sourceEventID, a.processor, a.body)
		}
		return nil
	}
}
