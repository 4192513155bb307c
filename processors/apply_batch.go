package processors

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/projections/ledger"
)

// BatchTx is the transaction ApplyBatch's fn projects in, for several
// messages at once. Emit and Result name the message they belong to; their
// rows are written together (COPY, one multi-row upsert) just before commit.
type BatchTx struct {
	pgx.Tx
	processor string
	emitted   []ledger.Emitted
	results   map[*Message][]byte
	order     []*Message // results in the order first given
}

// Emit queues a domain event caused by m, as Tx.Emit does.
func (t *BatchTx) Emit(m *Message, subject, msgID string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	t.emitted = append(t.emitted, ledger.Emitted{EventID: m.EventID, Subject: subject, MsgID: msgID,
		Headers: emitHeaders(m), Body: b})
	return nil
}

// Result stores this processor's answer for m's source event, as
// Tx.Result does (a second call for m replaces the first).
func (t *BatchTx) Result(m *Message, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if _, ok := t.results[m]; !ok {
		t.order = append(t.order, m)
	}
	t.results[m] = b
	return nil
}

// ApplyBatch is Apply for many messages in one transaction: the processed
// ledger rows of all of them, then fn for the fresh ones (those not applied
// before, as indexes into ms, in order), their outbox and results rows, one
// commit. The returned FinishFunc publishes the outbox, deletes it and
// announces the results (the runner calls it while the next batch applies).
//
// It returns one error per message: nil for the fresh ones, ErrAlreadyProcessed
// for the others (their leftover outbox rows are published by the FinishFunc,
// as Apply does), or, when the transaction failed, ErrOneByOne wrapping the
// cause for every message, so the runner gives each its own transaction and
// one bad event fails alone.
func (s *Store) ApplyBatch(ctx context.Context, processor string, ms []*Message,
	fn func(ctx context.Context, tx *BatchTx, fresh []int) error) ([]error, FinishFunc) {
	errs := make([]error, len(ms))
	var fresh, done []int
	var t *BatchTx
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		fresh, done = fresh[:0], done[:0]
		ids := make([]string, len(ms))
		seqs := make([]int64, len(ms))
		for i, m := range ms {
			ids[i], seqs[i] = m.EventID, int64(m.StreamSeq)
		}
		inserted, err := ledger.MarkProcessedBatch(ctx, tx, processor, ids, seqs)
		if err != nil {
			return err
		}
		for i, m := range ms {
			if inserted[m.EventID] {
				fresh = append(fresh, i)
				delete(inserted, m.EventID) // a second copy in the batch is a duplicate
			} else {
				done = append(done, i)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		t = &BatchTx{Tx: tx, processor: processor, results: map[*Message][]byte{}}
		if err := fn(ctx, t, fresh); err != nil {
			return err
		}
		return t.write(ctx)
	})
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("%w: batch of %d: %w", ErrOneByOne, len(ms), err)
		}
		return errs, nil
	}
	for _, i := range done {
		errs[i] = ErrAlreadyProcessed
	}
	return errs, func(ctx context.Context) error {
		// Publish what the batch emitted, from memory, then delete its
		// outbox rows; and what earlier, interrupted runs left for the
		// already-processed messages. A failure leaves the rows for the
		// redeliveries (ErrAlreadyProcessed path) to publish.
		if t != nil && len(t.emitted) > 0 {
			if err := s.publishRows(ctx, t.emitted); err != nil {
				return fmt.Errorf("publishing emitted events: %w", err)
			}
			if err := s.deleteOutbox(ctx, processor, ms, fresh); err != nil {
				return fmt.Errorf("deleting published outbox rows: %w", err)
			}
		}
		if len(done) > 0 {
			if err := s.FlushOutbox(ctx, processor, eventIDs(ms, done)...); err != nil {
				return fmt.Errorf("publishing emitted events: %w", err)
			}
		}
		if t != nil {
			for _, m := range t.order {
				s.AnnounceResult(SourceEventID(m), processor, t.results[m])
			}
		}
		return nil
	}
}

// write stores the batch's outbox rows (COPY) and results (one upsert).
func (t *BatchTx) write(ctx context.Context) error {
	if len(t.emitted) > 0 {
		if err := ledger.CopyOutbox(ctx, t, t.processor, t.emitted); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	if len(t.order) > 0 {
		ids := make([]string, len(t.order))
		bodies := make([]string, len(t.order))
		for i, m := range t.order {
			ids[i], bodies[i] = SourceEventID(m), string(t.results[m])
		}
		if err := ledger.PutResults(ctx, t, t.processor, ids, bodies); err != nil {
			return fmt.Errorf("results: %w", err)
		}
	}
	return nil
}

// deleteOutbox removes the published outbox rows of the messages at idx.
func (s *Store) deleteOutbox(ctx context.Context, processor string, ms []*Message, idx []int) error {
	return ledger.DeleteOutboxOf(ctx, s.DB, processor, eventIDs(ms, idx))
}

func eventIDs(ms []*Message, idx []int) []string {
	ids := make([]string, len(idx))
	for j, i := range idx {
		ids[j] = ms[i].EventID
	}
	return ids
}
