package processors_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// TestRunnerRedeclaresDeletedConsumer: a processor's durable deleted under a
// running Runner (`nats consumer rm`) is declared again; the new consumer
// re-delivers from the start, the ledger skips what was applied, and new
// messages are handled.
func TestRunnerRedeclaresDeletedConsumer(t *testing.T) {
	h := newHarness(t)
	h.start(h.newRunner(), processors.Processor{
		Name: "phoenix", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		// A pull in flight when the durable is deleted can take a
		// delivery of the new one with it; it comes back after AckWait.
		AckWait: 3 * time.Second,
		Handler: func(ctx context.Context, m *processors.Message) error {
			return processors.Once(ctx, h.db, "phoenix", m, func(pgx.Tx) error { return nil })
		},
	})
	for i := range 3 {
		h.publish("ingest.webhook.w1", fmt.Sprintf("before-%d", i), "{}")
	}
	h.waitSettled(streams.StreamIngest, "phoenix")
	if err := h.js.DeleteConsumer(ctxT(t, 5*time.Second), streams.StreamIngest, "phoenix"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		h.publish("ingest.webhook.w1", fmt.Sprintf("after-%d", i), "{}")
	}
	testutil.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		var ok, dup int
		err := h.db.QueryRow(ctxT(t, 2*time.Second), `SELECT count(*) FILTER (WHERE status='ok'),
			count(*) FILTER (WHERE status='duplicate') FROM event_outcomes WHERE processor='phoenix'`).Scan(&ok, &dup)
		if err != nil {
			return err
		}
		if ok != 5 || dup != 3 {
			return fmt.Errorf("%d ok, %d duplicate outcomes; want 5 and 3", ok, dup)
		}
		return nil
	})
}
