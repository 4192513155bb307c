package processors

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/jackc/pgx/v5"
)

// Batched turns a handler built on Store.Apply into a BatchFunc: the
// messages of a batch are handled one after the other, in delivery order, in
// one transaction; each Apply runs in its own savepoint (a failing message is
// undone alone and gets its error), the batch commits once, and what the
// handlers emitted is published after the commit (FinishFunc). It saves a
// commit, an outbox delete, an outcome insert and an ack round trip per
// message.
//
// Only for handlers whose database work goes through Store.Apply (or the
// transaction it gives): work on another connection could wait for a lock
// the batch holds. Handlers that call outside services keep their own
// concurrency and should not be batched.
func (s *Store) Batched(h HandlerFunc) BatchFunc {
	return func(ctx context.Context, ms []*Message) ([]error, FinishFunc) {
		errs := make([]error, len(ms))
		fail := func(err error) ([]error, FinishFunc) {
			for i := range errs {
				errs[i] = fmt.Errorf("%w: batch of %d: %w", ErrOneByOne, len(ms), err)
			}
			return errs, nil
		}
		tx, err := s.DB.Begin(ctx)
		if err != nil {
			return fail(err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) // after Commit, a no-op
		st := &sharedTx{tx: tx}
		bctx := context.WithValue(ctx, sharedKey{}, st)
		for i, m := range ms {
			if errs[i], err = callShared(bctx, h, m); err != nil {
				return fail(err) // a panic: the transaction is in an unknown state
			}
		}
		if err := tx.Commit(ctx); err != nil {
			// E.g. a handler's statement outside Apply's savepoint failed
			// and aborted the transaction: nothing was applied.
			return fail(err)
		}
		return errs, st.finish(s)
	}
}

// callShared runs h, turning a panic into an error for the whole batch.
func callShared(ctx context.Context, h HandlerFunc, m *Message) (herr, panicErr error) {
	defer func() {
		if p := recover(); p != nil {
			panicErr = fmt.Errorf("handler panic on seq %d: %v\n%s", m.StreamSeq, p, debug.Stack())
		}
	}()
	return h(ctx, m), nil
}

type sharedKey struct{}

// sharedTx is a Batched run's transaction and what its Applies produced.
type sharedTx struct {
	tx       pgx.Tx
	emitted  []outboxRow
	announce []announcement
}

type announcement struct {
	subject string
	body    []byte
}

func sharedFrom(ctx context.Context) *sharedTx {
	st, _ := ctx.Value(sharedKey{}).(*sharedTx)
	return st
}

func (st *sharedTx) add(processor string, m *Message, emitted []outboxRow, results [][]byte) {
	st.emitted = append(st.emitted, emitted...)
	for _, r := range results {
		st.announce = append(st.announce, announcement{ResultSubject(SourceEventID(m), processor), r})
	}
}

// finish publishes the batch's outbox rows (from memory), deletes them and
// announces the results.
func (st *sharedTx) finish(s *Store) FinishFunc {
	if len(st.emitted) == 0 && (len(st.announce) == 0 || s.NC == nil) {
		return nil
	}
	return func(ctx context.Context) error {
		if err := s.publish(ctx, st.emitted); err != nil {
			return fmt.Errorf("publishing emitted events: %w", err)
		}
		if s.NC != nil {
			for _, a := range st.announce {
				s.NC.Publish(a.subject, a.body)
			}
		}
		return nil
	}
}
