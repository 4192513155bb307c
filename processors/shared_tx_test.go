package processors_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// Store.Batched: the messages of a batch share one transaction; a failing
// message is undone alone (its savepoint) and retried; what the others
// emitted is published once the batch committed, and a redelivery changes
// nothing.
func TestBatched_SharedTransaction(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	store := &processors.Store{DB: h.db, JS: h.js}
	var failures atomic.Int32
	handler := func(ctx context.Context, m *processors.Message) error {
		return store.Apply(ctx, "shared", m, func(ctx context.Context, tx *processors.Tx) error {
			if err := tx.Emit(ctx, "events.shared.done", "done:"+m.EventID, map[string]string{"id": m.EventID}); err != nil {
				return err
			}
			if string(m.Data) == "fail-once" && m.Attempt == 1 {
				failures.Add(1)
				return errors.New("first delivery fails after emitting")
			}
			if string(m.Data) == "bad-sql" {
				// A failed statement inside Apply's savepoint must not
				// abort the rest of the batch.
				if _, err := tx.Exec(ctx, `SELECT 1/0`); err != nil {
					return processors.Reject(err)
				}
			}
			return tx.Result(ctx, map[string]string{"ok": m.EventID})
		})
	}
	const n = 60
	for i := range n {
		body := "ok"
		switch i {
		case 10:
			body = "fail-once"
		case 20:
			body = "bad-sql"
		}
		h.publish(subjWebhook, fmt.Sprintf("ev-%02d", i), body)
	}
	h.start(h.newRunner(), processors.Processor{
		Name: "shared", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Handler: handler, Batch: store.Batched(handler),
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	for i := range n {
		want := "ok/1"
		switch i {
		case 10:
			want = "retry/1,ok/2"
		case 20:
			want = "rejected/1"
		}
		h.waitOutcomes("shared", fmt.Sprintf("ev-%02d", i), want)
	}
	h.waitSettled(streams.StreamIngest, "shared")

	// The first delivery of ev-10 failed twice: in the batch without
	// savepoints (which was dropped), then in the rerun with them.
	if got := failures.Load(); got != 2 {
		t.Errorf("ev-10's first delivery ran %d times, want 2", got)
	}
	ctx := ctxT(t, 10*time.Second)
	var processed, outbox, results int
	if err := h.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM processed WHERE processor='shared'),
		(SELECT count(*) FROM outbox), (SELECT count(*) FROM results WHERE processor='shared')`).
		Scan(&processed, &outbox, &results); err != nil {
		t.Fatal(err)
	}
	if processed != n-1 || results != n-1 || outbox != 0 {
		t.Errorf("processed %d, results %d (want %d each), outbox rows left %d", processed, results, n-1, outbox)
	}
	// Every applied message's event was published after the commit.
	info, err := h.js.Stream(ctx, streams.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(ctx, jetstream.WithSubjectFilter("events.shared.done"))
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != n-1 {
		t.Errorf("%d events emitted, want %d", si.State.Msgs, n-1)
	}
}
