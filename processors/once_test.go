package processors_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

type pgxTx = pgx.Tx

func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.db.QueryRow(ctxT(h.t, 5*time.Second), query, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestOnceDirect: the projection and the processed row commit together, an
// error rolls both back, a second call is a no-op, and concurrent calls for
// one event apply it once.
func TestOnceDirect(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := ctxT(t, 20*time.Second)
	if _, err := h.db.Exec(ctx, `CREATE TABLE proj (event_id text)`); err != nil {
		t.Fatal(err)
	}
	m := &processors.Message{EventID: "evt-1", StreamSeq: 42}
	insert := func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO proj VALUES ($1)`, m.EventID)
		return err
	}

	boom := errors.New("boom")
	err := processors.Once(ctx, h.db, "p", m, func(tx pgx.Tx) error {
		if err := insert(tx); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Once = %v, want the handler's error", err)
	}
	if n := h.count(`SELECT count(*) FROM proj`); n != 0 {
		t.Fatalf("failed Once left %d projection rows", n)
	}
	if ok, err := processors.Processed(ctx, h.db, "p", "evt-1"); err != nil || ok {
		t.Fatalf("failed Once left a processed row (%v, %v)", ok, err)
	}

	if err := processors.Once(ctx, h.db, "p", m, insert); err != nil {
		t.Fatal(err)
	}
	if ok, err := processors.Processed(ctx, h.db, "p", "evt-1"); err != nil || !ok {
		t.Fatalf("Processed = %v, %v", ok, err)
	}
	if n := h.count(`SELECT count(*) FROM processed WHERE processor='p' AND event_id='evt-1' AND stream_seq=42`); n != 1 {
		t.Fatalf("processed rows = %d", n)
	}
	called := false
	err = processors.Once(ctx, h.db, "p", m, func(tx pgx.Tx) error { called = true; return nil })
	if !errors.Is(err, processors.ErrAlreadyProcessed) || called {
		t.Fatalf("second Once = %v (fn called %v), want ErrAlreadyProcessed without calling fn", err, called)
	}
	// Another processor has its own ledger.
	if err := processors.Once(ctx, h.db, "q", m, func(tx pgx.Tx) error { return nil }); err != nil {
		t.Fatalf("Once for another processor: %v", err)
	}

	// Concurrent deliveries of one event converge on one effect.
	m2 := &processors.Message{EventID: "evt-2"}
	var applied, dup atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := processors.Once(ctx, h.db, "p", m2, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO proj VALUES ($1)`, m2.EventID); err != nil {
					return err
				}
				return waitForWaiter(ctx, tx)
			})
			switch {
			case err == nil:
				applied.Add(1)
			case errors.Is(err, processors.ErrAlreadyProcessed):
				dup.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if applied.Load() != 1 || dup.Load() != 9 {
		t.Errorf("concurrent Once: %d applied, %d duplicates", applied.Load(), dup.Load())
	}
	if n := h.count(`SELECT count(*) FROM proj WHERE event_id='evt-2'`); n != 1 {
		t.Errorf("%d projection rows for evt-2", n)
	}
}

// TestOnceThroughRunner: a failing handler inside Once rolls back and is
// retried; a sender retry outside the dedup window and a replay of the stream
// through a new durable are recorded as duplicates and change nothing.
func TestOnceThroughRunner(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := ctxT(t, 30*time.Second)
	if _, err := h.db.Exec(ctx, `CREATE TABLE proj (event_id text, seq bigint)`); err != nil {
		t.Fatal(err)
	}
	// A tiny dedup window, so the same Nats-Msg-Id can be stored again (a
	// sender retrying hours later).
	st, err := h.js.Stream(ctx, streams.StreamIngest)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.Duplicates = 100 * time.Millisecond
	if _, err := h.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	var calls countCalls
	handler := func(ctx context.Context, m *processors.Message) error {
		n := calls.add(m.EventID)
		return processors.Once(ctx, h.db, "proj", m, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO proj VALUES ($1, $2)`, m.EventID, int64(m.StreamSeq)); err != nil {
				return err
			}
			if string(m.Data) == "fail-once" && n == 1 {
				return fmt.Errorf("after the insert: %w", errTransient)
			}
			return nil
		})
	}
	proc := processors.Processor{
		Name: "proj", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		MaxDeliver: 4, BackoffInitial: 50 * time.Millisecond, Handler: handler,
	}
	h.start(h.newRunner(), proc)

	seq1 := h.publish(subjWebhook, "evt-1", "{}")
	h.waitOutcomes("proj", "evt-1", "ok/1")

	h.publish(subjWebhook, "evt-flaky", "fail-once")
	h.waitOutcomes("proj", "evt-flaky", "retry/1,ok/2")
	if n := h.count(`SELECT count(*) FROM proj WHERE event_id='evt-flaky'`); n != 1 {
		t.Errorf("the failed attempt's insert was not rolled back: %d rows", n)
	}

	// The sender retries evt-1 outside the dedup window: a new stream message.
	var seq2 uint64
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		ack, err := h.js.PublishMsg(ctxT(t, 5*time.Second), streams.NewMsg(subjWebhook, "evt-1", []byte("{}")))
		if err != nil {
			return err
		}
		if ack.Duplicate {
			return errors.New("still inside the dedup window")
		}
		seq2 = ack.Sequence
		return nil
	})
	if seq2 == seq1 {
		t.Fatal("re-publish was deduplicated by the stream")
	}
	h.waitOutcomes("proj", "evt-1", "ok/1,duplicate/1")
	if n := h.count(`SELECT count(*) FROM proj WHERE event_id='evt-1'`); n != 1 {
		t.Errorf("evt-1 projected %d times", n)
	}
	if n := h.count(`SELECT count(*) FROM processed WHERE processor='proj' AND event_id='evt-1' AND stream_seq=$1`, int64(seq1)); n != 1 {
		t.Errorf("processed row should keep the first stream seq %d", seq1)
	}
	if calls.get("evt-1") != 2 {
		t.Errorf("evt-1 handled %d times, want 2 (one applied, one duplicate)", calls.get("evt-1"))
	}

	// Replay the whole stream through a fresh durable of the same processor.
	replay := proc
	replay.Durable = "proj-replay"
	h.start(h.newRunner(), replay)
	h.waitSettled(streams.StreamIngest, "proj-replay")
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := h.count(`SELECT count(*) FROM event_outcomes WHERE processor='proj' AND status='duplicate'`); n != 4 {
			return fmt.Errorf("%d duplicate outcomes, want 4 (sender retry + 3 replayed)", n)
		}
		return nil
	})
	if n := h.count(`SELECT count(*) FROM proj`); n != 2 {
		t.Errorf("after replay %d projection rows, want 2", n)
	}
}

func TestErrorKinds_NilErrorPrints(t *testing.T) {
	for _, err := range []error{processors.Reject(nil), processors.Permanent(nil), processors.RetryAfter(nil, time.Second)} {
		if err.Error() == "" {
			t.Errorf("%T prints empty", err)
		}
	}
}

// waitForWaiter holds tx until another session waits for one of its locks
// (a concurrent Once for the same event), so the concurrency test really
// overlaps; after 5s it goes on (the test still checks the result).
func waitForWaiter(ctx context.Context, tx pgx.Tx) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))`).Scan(&n); err != nil || n > 0 {
			return err
		}
		select {
		case <-tick.C:
		case <-deadline:
			return nil
		}
	}
}
