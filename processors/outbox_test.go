package processors_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// Outbox rows left by a crash between commit and publish are published when
// their events come back, on both batch paths: the events are already in the
// ledger (duplicate outcomes), their leftover rows reach EVENTS, and the
// outbox ends empty.
func TestBatch_PublishesOutboxLeftovers(t *testing.T) {
	emit := func(ctx context.Context, tx *processors.Tx, m *processors.Message) error {
		return tx.Emit(ctx, "events.leftover.done", "done:"+m.EventID, map[string]string{"id": m.EventID})
	}
	for _, tc := range []struct {
		name  string
		batch func(store *processors.Store, h processors.HandlerFunc) processors.BatchFunc
	}{
		{"Batched", func(store *processors.Store, h processors.HandlerFunc) processors.BatchFunc { return store.Batched(h) }},
		{"ApplyBatch", func(store *processors.Store, _ processors.HandlerFunc) processors.BatchFunc {
			return func(ctx context.Context, ms []*processors.Message) ([]error, processors.FinishFunc) {
				return store.ApplyBatch(ctx, "leftover", ms, func(ctx context.Context, tx *processors.BatchTx, fresh []int) error {
					for _, i := range fresh {
						m := ms[i]
						if err := tx.Emit(m, "events.leftover.done", "done:"+m.EventID, map[string]string{"id": m.EventID}); err != nil {
							return err
						}
					}
					return nil
				})
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			store := &processors.Store{DB: h.db, JS: h.js}
			ctx := ctxT(t, 20*time.Second)
			// ev-1 and ev-2 were applied, but the process died before
			// publishing what they emitted.
			for _, id := range []string{"ev-1", "ev-2"} {
				if _, err := h.db.Exec(ctx, `INSERT INTO processed (processor, event_id) VALUES ('leftover', $1)`, id); err != nil {
					t.Fatal(err)
				}
				if _, err := h.db.Exec(ctx, `INSERT INTO outbox (processor, event_id, subject, msg_id, headers, body)
					VALUES ('leftover', $1, 'events.leftover.done', $2, '{}', '{}')`, id, "done:"+id); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range []string{"ev-1", "ev-2", "ev-3"} {
				h.publish(subjWebhook, id, "{}")
			}
			handler := func(ctx context.Context, m *processors.Message) error {
				return store.Apply(ctx, "leftover", m, func(ctx context.Context, tx *processors.Tx) error { return emit(ctx, tx, m) })
			}
			h.start(h.newRunner(), processors.Processor{
				Name: "leftover", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
				Handler: handler, Batch: tc.batch(store, handler),
			})
			h.waitOutcomes("leftover", "ev-1", "duplicate/1")
			h.waitOutcomes("leftover", "ev-2", "duplicate/1")
			h.waitOutcomes("leftover", "ev-3", "ok/1")
			h.waitSettled(streams.StreamIngest, "leftover")

			st, err := h.js.Stream(ctx, streams.StreamEvents)
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for seq := uint64(1); ; seq++ {
				msg, err := st.GetMsg(ctx, seq)
				if err != nil {
					break
				}
				ids[msg.Header.Get(jetstream.MsgIDHeader)] = true
			}
			for _, id := range []string{"ev-1", "ev-2", "ev-3"} {
				if !ids["done:"+id] {
					t.Errorf("%s: its event is not in EVENTS (have %v)", id, ids)
				}
			}
			var left int
			if err := h.db.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&left); err != nil || left != 0 {
				t.Errorf("%d outbox rows left (%v)", left, err)
			}
		})
	}
}
