package processors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

const subjWebhook = "ingest.webhook.wh_1"

// TestHappyPath: the handler sees the envelope, the delivery is acked, and an
// "ok" outcome with the handler's duration is recorded.
func TestHappyPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	got := make(chan processors.Message, 4)
	release := make(chan struct{})
	var handlerDur atomic.Int64 // what the handler measured itself
	var observed []processors.Outcome
	var obsMu sync.Mutex
	r := h.newRunner()
	r.Observe = func(o processors.Outcome) { obsMu.Lock(); observed = append(observed, o); obsMu.Unlock() }
	h.start(r, processors.Processor{
		Name: "happy", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Handler: func(ctx context.Context, m *processors.Message) error {
			start := time.Now()
			got <- *m
			<-release
			handlerDur.Store(int64(time.Since(start)))
			return nil
		},
	})

	received := time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)
	seq := h.publish(subjWebhook, "evt-1", `{"email":"a@example.com"}`,
		streams.HdrSource, streams.SourceWebhook,
		streams.HdrWebhookID, "wh_1",
		streams.HdrWorkspaceID, "ws_1",
		streams.HdrReceivedAt, received.Format(time.RFC3339Nano),
		"Hs-Custom", "kept")

	var m processors.Message
	select {
	case m = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("handler never called")
	}
	if m.EventID != "evt-1" || m.Subject != subjWebhook || m.Stream != streams.StreamIngest || m.StreamSeq != seq ||
		m.Attempt != 1 || m.WebhookID != "wh_1" || m.Workspace != "ws_1" || !m.Received.Equal(received) ||
		string(m.Data) != `{"email":"a@example.com"}` || m.Header.Get("Hs-Custom") != "kept" {
		t.Fatalf("message = %+v (seq want %d)", m, seq)
	}
	// While the handler runs, its delivery is unacknowledged.
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if info := h.consumerInfo(streams.StreamIngest, "happy"); info.NumAckPending != 1 {
			return fmt.Errorf("ack pending %d while the handler runs, want 1", info.NumAckPending)
		}
		return nil
	})
	close(release)

	info := h.waitSettled(streams.StreamIngest, "happy")
	if info.Delivered.Consumer != 1 || info.AckFloor.Stream != seq {
		t.Fatalf("consumer delivered %d, ack floor %d; want 1 delivery acked at %d", info.Delivered.Consumer, info.AckFloor.Stream, seq)
	}
	rows := h.waitOutcomes("happy", "evt-1", "ok/1")
	o := rows[0]
	took := time.Duration(handlerDur.Load())
	if ms := float64(took.Microseconds()) / 1000; o.DurationMS < ms || o.DurationMS > ms+5000 {
		t.Errorf("duration_ms = %v, want the handler's %v", o.DurationMS, took)
	}
	if o.Error != nil || o.WebhookID == nil || *o.WebhookID != "wh_1" || o.Workspace == nil || *o.Workspace != "ws_1" ||
		o.Subject != subjWebhook || o.Seq == nil || uint64(*o.Seq) != seq || o.Received == nil || !o.Received.Equal(received.Truncate(time.Microsecond)) {
		t.Errorf("outcome row = %+v", o)
	}
	obsMu.Lock()
	defer obsMu.Unlock()
	if len(observed) != 1 || observed[0].Status != processors.StatusOK || observed[0].EventID != "evt-1" || observed[0].Duration < took {
		t.Errorf("Observe saw %+v", observed)
	}
	select {
	case extra := <-got:
		t.Errorf("handler called again: %+v", extra)
	default:
	}
}

// TestSetOutcomeAndMiddleware: SetOutcome changes the recorded status of a
// success and stores its detail; middleware wraps handlers outermost first.
func TestSetOutcomeAndMiddleware(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var order []string
	var mu sync.Mutex
	mw := func(name string) processors.Middleware {
		return func(next processors.HandlerFunc) processors.HandlerFunc {
			return func(ctx context.Context, m *processors.Message) error {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return next(ctx, m)
			}
		}
	}
	r := h.newRunner()
	r.Middleware = []processors.Middleware{mw("outer"), mw("inner")}
	h.start(r, processors.Processor{
		Name: "notes", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Handler: func(ctx context.Context, m *processors.Message) error {
			mu.Lock()
			order = append(order, "handler")
			mu.Unlock()
			m.SetOutcome(processors.StatusSkipped, map[string]any{"reason": "no destination", "n": 2})
			return nil
		},
	})
	h.publish(subjWebhook, "evt-skip", "{}")
	rows := h.waitOutcomes("notes", "evt-skip", "skipped/1")
	var detail map[string]any
	if err := json.Unmarshal(rows[0].Detail, &detail); err != nil || detail["reason"] != "no destination" || detail["n"] != 2.0 {
		t.Errorf("detail = %s (%v)", rows[0].Detail, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, ",") != "outer,inner,handler" {
		t.Errorf("call order = %v", order)
	}
}

// TestMissingMsgIDFallsBackToStreamSeq: a message stored without Nats-Msg-Id
// (published by hand with the nats CLI) still gets a distinct, stable event
// id, so Once does not treat every such message as the first one's duplicate.
func TestMissingMsgIDFallsBackToStreamSeq(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := make(chan string, 4)
	h.start(h.newRunner(), processors.Processor{
		Name: "noid", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Handler: func(ctx context.Context, m *processors.Message) error {
			ids <- m.EventID
			return processors.Once(ctx, h.db, "noid", m, func(tx pgxTx) error { return nil })
		},
	})
	var seqs []uint64
	for i := 0; i < 2; i++ {
		ack, err := h.js.Publish(ctxT(t, 5*time.Second), subjWebhook, []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Sequence)
	}
	got := map[string]bool{}
	for range seqs {
		select {
		case id := <-ids:
			got[id] = true
		case <-time.After(10 * time.Second):
			t.Fatal("handler not called")
		}
	}
	for _, seq := range seqs {
		want := streams.StreamIngest + ":" + strconv.FormatUint(seq, 10)
		if !got[want] {
			t.Errorf("EventIDs %v, want %q among them", got, want)
		}
		h.waitOutcomes("noid", want, "ok/1")
	}
}

// TestTransientRetriedWithBackoff: a handler failing transiently is
// redelivered with a growing delay (NakWithDelay, not an immediate Nak) and
// then succeeds.
func TestTransientRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const initial = 250 * time.Millisecond
	var mu sync.Mutex
	var at []time.Time
	var attempts []int
	h.start(h.newRunner(), processors.Processor{
		Name: "flaky", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		MaxDeliver: 5, BackoffInitial: initial, BackoffMax: 10 * time.Second,
		Handler: func(ctx context.Context, m *processors.Message) error {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, time.Now())
			attempts = append(attempts, m.Attempt)
			if len(at) <= 3 {
				return fmt.Errorf("call %d: %w", len(at), errTransient)
			}
			return nil
		},
	})
	h.publish(subjWebhook, "evt-flaky", "{}")
	rows := h.waitOutcomes("flaky", "evt-flaky", "retry/1,retry/2,retry/3,ok/4")
	for _, r := range rows[:3] {
		if r.Error == nil || !strings.Contains(*r.Error, errTransient.Error()) {
			t.Errorf("retry outcome error = %v", r.Error)
		}
	}
	h.waitSettled(streams.StreamIngest, "flaky")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(attempts, []int{1, 2, 3, 4}) {
		t.Fatalf("attempts = %v, want [1 2 3 4]", attempts)
	}
	// Planned delays: initial, 2×, 4× (each ±20% jitter). Load can only
	// lengthen the measured gaps, so check the lower bounds; the last one is
	// far above what a constant or immediate redelivery could produce.
	for i, mult := range []time.Duration{1, 2, 4} {
		gap := at[i+1].Sub(at[i])
		if low := initial * mult * 8 / 10; gap < low {
			t.Errorf("redelivery %d after %v, want ≥ %v (capped exponential backoff)", i+1, gap, low)
		}
	}
}

// TestExhaustedRetriesDeadLetter: an always-failing handler lands in
// dlq.<processor> after MaxDeliver attempts with the documented headers, and
// neither it nor its retries hold back the messages behind it.
func TestExhaustedRetriesDeadLetter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var calls countCalls
	h.start(h.newRunner(), processors.Processor{
		Name: "poison", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		MaxDeliver: 3, BackoffInitial: time.Second, Concurrency: 2,
		Handler: func(ctx context.Context, m *processors.Message) error {
			calls.add(m.EventID)
			if string(m.Data) == "poison" {
				return fmt.Errorf("cannot digest: %w", errTransient)
			}
			return nil
		},
	})
	seq := h.publish(subjWebhook, "evt-bad", "poison", streams.HdrWebhookID, "wh_1", "Hs-Custom", "kept")
	for i := 1; i <= 3; i++ {
		h.publish(subjWebhook, fmt.Sprintf("evt-%d", i), "{}")
	}
	for i := 1; i <= 3; i++ {
		h.waitOutcomes("poison", fmt.Sprintf("evt-%d", i), "ok/1")
	}
	rows := h.waitOutcomes("poison", "evt-bad", "retry/1,retry/2,dead/3")
	// The good messages did not wait for the poison message's retries.
	if n := h.count(`SELECT count(*) FROM event_outcomes WHERE status='ok'
		AND id > (SELECT id FROM event_outcomes WHERE event_id='evt-bad' AND attempts=2)`); n != 0 {
		t.Errorf("%d good messages were only handled after the poison message's retries", n)
	}
	if rows[2].Error == nil || !strings.Contains(*rows[2].Error, "cannot digest") {
		t.Errorf("dead outcome error = %v", rows[2].Error)
	}
	dm := h.dlqMsg("dlq.poison")
	wantHdr := map[string]string{
		streams.HdrDLQSubject:   subjWebhook,
		streams.HdrDLQStream:    streams.StreamIngest,
		streams.HdrDLQSeq:       strconv.FormatUint(seq, 10),
		streams.HdrDLQAttempts:  "3",
		streams.HdrDLQEventID:   "evt-bad",
		streams.HdrDLQProcessor: "poison",
		streams.HdrDLQStatus:    processors.StatusDead,
		streams.HdrMsgID:        "dlq:poison:INGEST:" + strconv.FormatUint(seq, 10),
		streams.HdrWebhookID:    "wh_1",
		"Hs-Custom":             "kept",
	}
	for k, v := range wantHdr {
		if got := dm.Header.Get(k); got != v {
			t.Errorf("DLQ header %s = %q, want %q", k, got, v)
		}
	}
	if e := dm.Header.Get(streams.HdrDLQError); !strings.Contains(e, "cannot digest") || !strings.Contains(e, "3 attempts") {
		t.Errorf("DLQ error header = %q", e)
	}
	if _, err := time.Parse(time.RFC3339Nano, dm.Header.Get(streams.HdrDLQAt)); err != nil {
		t.Errorf("DLQ at header: %v", err)
	}
	if string(dm.Data) != "poison" {
		t.Errorf("DLQ body = %q", dm.Data)
	}
	h.waitSettled(streams.StreamIngest, "poison")

	// And the next message keeps flowing.
	h.publish(subjWebhook, "evt-after", "{}")
	// Handled after the poison message was terminated: it is not coming back.
	h.waitOutcomes("poison", "evt-after", "ok/1")
	if n := calls.get("evt-bad"); n != 3 {
		t.Errorf("poison handled %d times, want 3 (MaxDeliver)", n)
	}
	if n := h.dlqCount("dlq.poison"); n != 1 {
		t.Errorf("%d dead letters, want 1", n)
	}
}

// TestErrorKinds: Reject and Permanent dead-letter at once; RetryAfter waits
// at least its delay.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		status string
	}{
		{"reject", processors.Reject(errors.New("phone or email required")), processors.StatusRejected},
		{"permanent", processors.Permanent(errors.New("crm said 422")), processors.StatusDead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			var calls countCalls
			h.start(h.newRunner(), processors.Processor{
				Name: tc.name, Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
				MaxDeliver: 4, BackoffInitial: 50 * time.Millisecond,
				Handler: func(ctx context.Context, m *processors.Message) error {
					calls.add(m.EventID)
					return fmt.Errorf("handling %s: %w", m.EventID, tc.err)
				},
			})
			h.publish(subjWebhook, "evt-"+tc.name, "body-"+tc.name)
			dm := h.dlqMsg("dlq." + tc.name)
			if dm.Header.Get(streams.HdrDLQStatus) != tc.status || dm.Header.Get(streams.HdrDLQAttempts) != "1" ||
				!strings.Contains(dm.Header.Get(streams.HdrDLQError), tc.err.Error()) || string(dm.Data) != "body-"+tc.name {
				t.Errorf("dead letter headers %v body %q", dm.Header, dm.Data)
			}
			rows := h.waitOutcomes(tc.name, "evt-"+tc.name, tc.status+"/1")
			if rows[0].Error == nil || !strings.Contains(*rows[0].Error, tc.err.Error()) {
				t.Errorf("outcome error = %v", rows[0].Error)
			}
			info := h.waitSettled(streams.StreamIngest, tc.name)
			if info.Delivered.Consumer != 1 {
				t.Errorf("%d deliveries, want 1", info.Delivered.Consumer)
			}
			// A later message handled (after several backoff periods of
			// the first): the first was not redelivered meanwhile.
			h.publish(subjWebhook, "evt-later", "{}")
			h.waitOutcomes(tc.name, "evt-later", tc.status+"/1")
			if n := calls.get("evt-" + tc.name); n != 1 {
				t.Errorf("handler called %d times, want exactly 1", n)
			}
		})
	}

	t.Run("retry-after", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		const wait = 700 * time.Millisecond
		var mu sync.Mutex
		var at []time.Time
		h.start(h.newRunner(), processors.Processor{
			Name: "ratelimited", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
			MaxDeliver: 4, BackoffInitial: 50 * time.Millisecond,
			Handler: func(ctx context.Context, m *processors.Message) error {
				mu.Lock()
				defer mu.Unlock()
				at = append(at, time.Now())
				if m.Attempt == 1 {
					return processors.RetryAfter(errors.New("429 Too Many Requests"), wait)
				}
				return nil
			},
		})
		h.publish(subjWebhook, "evt-429", "{}")
		h.waitOutcomes("ratelimited", "evt-429", "retry/1,ok/2")
		mu.Lock()
		defer mu.Unlock()
		if gap := at[1].Sub(at[0]); gap < wait {
			t.Errorf("redelivered after %v, want ≥ %v", gap, wait)
		}
	})
}

// TestPanicDeadLetters: a panicking handler's message is dead-lettered, the
// runner keeps going and the other messages are processed.
func TestPanicDeadLetters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rn := h.start(h.newRunner(), processors.Processor{
		Name: "panicky", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		MaxDeliver: 3, BackoffInitial: 50 * time.Millisecond,
		Handler: func(ctx context.Context, m *processors.Message) error {
			if string(m.Data) == "boom" {
				var nilMap map[string]int
				nilMap["x"]++ //nolint:staticcheck // a real runtime panic
			}
			return nil
		},
	})
	h.publish(subjWebhook, "evt-1", "{}")
	seq := h.publish(subjWebhook, "evt-boom", "boom")
	h.publish(subjWebhook, "evt-2", "{}")
	dm := h.dlqMsg("dlq.panicky")
	if dm.Header.Get(streams.HdrDLQSeq) != strconv.FormatUint(seq, 10) || !strings.Contains(dm.Header.Get(streams.HdrDLQError), "panic") {
		t.Errorf("dead letter headers %v", dm.Header)
	}
	h.waitOutcomes("panicky", "evt-boom", "dead/1")
	h.waitOutcomes("panicky", "evt-1", "ok/1")
	h.waitOutcomes("panicky", "evt-2", "ok/1")
	if !rn.Running() {
		t.Fatal("Run returned after a handler panic")
	}
	h.publish(subjWebhook, "evt-3", "{}")
	h.waitOutcomes("panicky", "evt-3", "ok/1")
	h.waitSettled(streams.StreamIngest, "panicky")
}

// TestBoundedConcurrency: never more than Concurrency handlers at once, and
// all messages processed exactly once.
func TestBoundedConcurrency(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const n = 30
	var inFlight, maxInFlight atomic.Int32
	var calls countCalls
	release := make(chan struct{}) // holds the handlers until the bound is reached
	h.start(h.newRunner(), processors.Processor{
		Name: "bounded", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Concurrency: 3,
		Handler: func(ctx context.Context, m *processors.Message) error {
			cur := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				old := maxInFlight.Load()
				if cur <= old || maxInFlight.CompareAndSwap(old, cur) {
					break
				}
			}
			calls.add(m.EventID)
			<-release
			return nil
		},
	})
	for i := 0; i < n; i++ {
		h.publish(subjWebhook, fmt.Sprintf("evt-%02d", i), "{}")
	}
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if m := maxInFlight.Load(); m < 3 {
			return fmt.Errorf("%d handlers running", m)
		}
		return nil
	})
	// Three are held: the runner pulled no fourth message for them.
	if info := h.consumerInfo(streams.StreamIngest, "bounded"); info.NumAckPending != 3 {
		t.Errorf("%d deliveries in flight while 3 handlers are held, want 3", info.NumAckPending)
	}
	close(release)
	testutil.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if got := len(calls.snapshot()); got != n {
			return fmt.Errorf("%d of %d processed", got, n)
		}
		return nil
	})
	info := h.waitSettled(streams.StreamIngest, "bounded")
	for id, c := range calls.snapshot() {
		if c != 1 {
			t.Errorf("%s handled %d times", id, c)
		}
	}
	if m := maxInFlight.Load(); m != 3 {
		t.Errorf("at most %d handlers ran at once, want exactly 3", m)
	}
	if info.Delivered.Consumer != n {
		t.Errorf("%d deliveries for %d messages", info.Delivered.Consumer, n)
	}
}

// TestQueuedMessagesNotRedelivered: messages waiting for a free handler slot
// must not sit unacknowledged past AckWait (which would redeliver them, burn
// attempts and run them twice): the runner only pulls what it can start.
func TestQueuedMessagesNotRedelivered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const n = 8
	var calls countCalls
	release := make(chan struct{}) // holds the first handler past AckWait
	ip := h.watchInProgress()
	h.start(h.newRunner(), processors.Processor{
		Name: "queued", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Concurrency: 1, AckWait: time.Second,
		Handler: func(ctx context.Context, m *processors.Message) error {
			calls.add(m.EventID)
			<-release
			return nil
		},
	})
	var first uint64
	for i := 0; i < n; i++ {
		seq := h.publish(subjWebhook, fmt.Sprintf("evt-%d", i), "{}")
		if i == 0 {
			first = seq
		}
	}
	// Four keep-alives of the first: more than AckWait has passed while
	// the others waited, and none of them was pulled.
	ip.waitFor(t, first, 4)
	if info := h.consumerInfo(streams.StreamIngest, "queued"); info.Delivered.Consumer != 1 || info.NumPending != n-1 {
		t.Errorf("delivered %d, pending %d while one handler runs: want 1 and %d", info.Delivered.Consumer, info.NumPending, n-1)
	}
	close(release)
	for i := 0; i < n; i++ {
		h.waitOutcomes("queued", fmt.Sprintf("evt-%d", i), "ok/1")
	}
	info := h.waitSettled(streams.StreamIngest, "queued")
	for id, c := range calls.snapshot() {
		if c != 1 {
			t.Errorf("%s handled %d times", id, c)
		}
	}
	if info.Delivered.Consumer != n {
		t.Errorf("%d deliveries for %d messages: queued messages were redelivered", info.Delivered.Consumer, n)
	}
}

// TestKeepAlive: a handler running longer than AckWait is kept alive with
// InProgress and not redelivered meanwhile.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var calls atomic.Int32
	release := make(chan struct{})
	ip := h.watchInProgress()
	h.start(h.newRunner(), processors.Processor{
		Name: "slow", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Concurrency: 4, AckWait: time.Second,
		Handler: func(ctx context.Context, m *processors.Message) error {
			calls.Add(1)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	seq := h.publish(subjWebhook, "evt-slow", "{}")
	// Held until kept alive four times: longer than AckWait.
	ip.waitFor(t, seq, 4)
	close(release)
	h.waitOutcomes("slow", "evt-slow", "ok/1")
	info := h.waitSettled(streams.StreamIngest, "slow")
	if n := calls.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
	if info.Delivered.Consumer != 1 {
		t.Errorf("%d deliveries, want 1", info.Delivered.Consumer)
	}
}

// TestGracefulDrain: cancelling Run waits for in-flight handlers, which
// finish and ack; nothing stays unacknowledged, and a new runner processes
// the rest without redoing anything.
func TestGracefulDrain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const n = 10
	var started, finished atomic.Int32
	var calls countCalls
	release := make(chan struct{}) // holds the handlers until Run is told to stop
	if _, err := h.db.Exec(ctxT(t, 5*time.Second), `CREATE TABLE drained (event_id text)`); err != nil {
		t.Fatal(err)
	}
	proc := processors.Processor{
		Name: "drain", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Concurrency: 4, AckWait: 5 * time.Second,
		Handler: func(ctx context.Context, m *processors.Message) error {
			started.Add(1)
			defer finished.Add(1)
			calls.add(m.EventID)
			<-release
			return processors.Once(ctx, h.db, "drain", m, func(tx pgxTx) error {
				_, err := tx.Exec(ctx, `INSERT INTO drained VALUES ($1)`, m.EventID)
				return err
			})
		},
	}
	for i := 0; i < n; i++ {
		h.publish(subjWebhook, fmt.Sprintf("evt-%d", i), "{}")
	}
	rn := h.start(h.newRunner(), proc)
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if s := started.Load(); s < 4 {
			return fmt.Errorf("%d handlers started", s)
		}
		return nil
	})
	rn.Cancel()
	close(release)
	if err := rn.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s, f := started.Load(), finished.Load()
	if s != f {
		t.Fatalf("Run returned with %d of %d handlers unfinished", s-f, s)
	}
	info := h.consumerInfo(streams.StreamIngest, "drain")
	if info.NumAckPending != 0 {
		t.Errorf("after drain %d deliveries are unacknowledged", info.NumAckPending)
	}
	if got := int(info.AckFloor.Stream) + int(info.NumPending); got != n {
		t.Errorf("ack floor %d + pending %d != %d: gaps left behind", info.AckFloor.Stream, info.NumPending, n)
	}
	if s2 := started.Load(); s2 != s {
		t.Errorf("%d handlers started after Run returned", s2-s)
	}

	h.start(h.newRunner(), proc)
	testutil.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		var c int
		if err := h.db.QueryRow(ctxT(t, 5*time.Second), `SELECT count(*) FROM drained`).Scan(&c); err != nil {
			return err
		}
		if c != n {
			return fmt.Errorf("%d of %d projected", c, n)
		}
		return nil
	})
	h.waitSettled(streams.StreamIngest, "drain")
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("evt-%d", i)
		if c := calls.get(id); c != 1 {
			t.Errorf("%s handled %d times across the restart", id, c)
		}
		h.waitOutcomes("drain", id, "ok/1")
	}
}

// TestConsumerConfig: the durable consumer carries the configured names and
// limits, and filters subjects.
func TestConsumerConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var calls countCalls
	handler := func(ctx context.Context, m *processors.Message) error {
		calls.add(m.Subject)
		if m.Subject == "ingest.mailerlite.bad" {
			return processors.Reject(errors.New("bad"))
		}
		return nil
	}
	h.start(h.newRunner(),
		processors.Processor{
			Name: "mailerlite", Durable: "mailerlite-ingest", Stream: streams.StreamIngest,
			Subjects: []string{"ingest.mailerlite.>", "ingest.webhook.ml"}, Handler: handler,
			AckWait: 7 * time.Second, MaxDeliver: 5, MaxAckPending: 77, Concurrency: 2,
		},
		processors.Processor{
			Name: "boards", Stream: streams.StreamEvents, Subjects: []string{"events.contact.*"}, Handler: handler,
		})

	info := h.consumerInfo(streams.StreamIngest, "mailerlite-ingest")
	c := info.Config
	if info.Name != "mailerlite-ingest" || c.Durable != "mailerlite-ingest" || c.AckPolicy != jetstream.AckExplicitPolicy ||
		c.AckWait != 7*time.Second || c.MaxDeliver != 5 || c.MaxAckPending != 77 ||
		!slices.Equal(c.FilterSubjects, []string{"ingest.mailerlite.>", "ingest.webhook.ml"}) ||
		c.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Errorf("mailerlite-ingest consumer = %+v", c)
	}
	info = h.consumerInfo(streams.StreamEvents, "boards")
	c = info.Config
	if info.Name != "boards" || c.Durable != "boards" || c.AckPolicy != jetstream.AckExplicitPolicy ||
		c.AckWait != 30*time.Second || c.MaxDeliver != 8 || c.MaxAckPending != 1024 ||
		!slices.Equal(c.FilterSubjects, []string{"events.contact.*"}) {
		t.Errorf("boards consumer = %+v", c)
	}

	h.publish("ingest.webhook.other", "evt-other", "{}")
	h.publish("ingest.webhook.ml", "evt-ml", "{}")
	seq := h.publish("ingest.mailerlite.bad", "evt-ml-bad", "{}")
	h.publish("events.contact.created", "evt-contact", "{}")
	h.publish("events.lead.created", "evt-lead", "{}")
	h.waitOutcomes("mailerlite", "evt-ml", "ok/1")
	h.waitOutcomes("mailerlite", "evt-ml-bad", "rejected/1")
	h.waitOutcomes("boards", "evt-contact", "ok/1")
	h.waitSettled(streams.StreamIngest, "mailerlite-ingest")
	h.waitSettled(streams.StreamEvents, "boards")
	if n := calls.get("ingest.webhook.other") + calls.get("events.lead.created"); n != 0 {
		t.Errorf("filtered-out subjects were handled %d times", n)
	}
	// The dead letter goes to dlq.<processor>, its id names the durable.
	dm := h.dlqMsg("dlq.mailerlite")
	if want := "dlq:mailerlite-ingest:INGEST:" + strconv.FormatUint(seq, 10); dm.Header.Get(streams.HdrMsgID) != want {
		t.Errorf("DLQ msg id = %q, want %q", dm.Header.Get(streams.HdrMsgID), want)
	}
}

// TestRunRejectsBadDefinitions: an invalid processor or a missing stream
// fails Run, and processors listed before it are not left consuming.
func TestRunRejectsBadDefinitions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var calls atomic.Int32
	good := processors.Processor{
		Name: "good", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Handler: func(ctx context.Context, m *processors.Message) error { calls.Add(1); return nil },
	}
	for _, bad := range []processors.Processor{
		{Name: "nohandler", Stream: streams.StreamIngest, Subjects: []string{"ingest.form.>"}},
		{Name: "nostream", Stream: "NOPE", Subjects: []string{"nope.>"}, Handler: good.Handler},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.newRunner().Run(ctx, good, bad)
		cancel()
		if err == nil || !strings.Contains(err.Error(), bad.Name) {
			t.Errorf("Run with %s: err = %v", bad.Name, err)
		}
	}
	h.publish(subjWebhook, "evt-1", "{}")
	// A processor that does run handles it: the failed ones had every
	// chance to as well.
	h.start(h.newRunner(), processors.Processor{
		Name: "witness", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Handler: func(ctx context.Context, m *processors.Message) error { return nil },
	})
	h.waitOutcomes("witness", "evt-1", "ok/1")
	if n := calls.Load(); n != 0 {
		t.Errorf("a processor kept consuming after Run failed: %d calls", n)
	}
}

// TestDeadLetterPublishFailure: when the DLQ cannot take the message, it is
// not terminated (that would lose it) but redelivered, and dead-lettered once
// the DLQ is back.
func TestDeadLetterPublishFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if err := h.js.DeleteStream(ctxT(t, 5*time.Second), streams.StreamDLQ); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	h.start(h.newRunner(), processors.Processor{
		Name: "nodlq", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		MaxDeliver: 6, BackoffInitial: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Handler: func(ctx context.Context, m *processors.Message) error {
			calls.Add(1)
			return processors.Reject(errors.New("invalid"))
		},
	})
	h.publish(subjWebhook, "evt-1", "{}")
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if calls.Load() < 2 {
			return errors.New("not redelivered")
		}
		return nil
	})
	if err := streams.Ensure(ctxT(t, 5*time.Second), h.js, streams.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	dm := h.dlqMsg("dlq.nodlq")
	if dm.Header.Get(streams.HdrDLQEventID) != "evt-1" {
		t.Errorf("dead letter %v", dm.Header)
	}
	h.waitSettled(streams.StreamIngest, "nodlq")
	rows := h.outcomes("nodlq", "evt-1")
	last := rows[len(rows)-1]
	if last.Status != processors.StatusRejected {
		t.Errorf("outcomes %s: the last must be rejected", statuses(rows))
	}
	for _, r := range rows[:len(rows)-1] {
		if r.Status != processors.StatusRetry {
			t.Errorf("outcomes %s: a failed dead-letter is a retry, not a final status", statuses(rows))
		}
	}
}

// TestOrderKeys: messages sharing an order key run one at a time in stream
// order (kept alive while they wait), unrelated ones run alongside.
func TestOrderKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var mu sync.Mutex
	var order []string
	active := map[string]int{}
	var overlapSameKey, overlapOtherKey atomic.Bool
	var calls countCalls
	release := make(chan struct{}) // holds the handlers while alice-3 waits its turn
	ip := h.watchInProgress()
	h.start(h.newRunner(), processors.Processor{
		Name: "ordered", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Concurrency: 4, AckWait: time.Second,
		OrderKeys: func(m *processors.Message) []string { return []string{string(m.Data)} },
		Handler: func(ctx context.Context, m *processors.Message) error {
			key := string(m.Data)
			calls.add(m.EventID)
			mu.Lock()
			if active[key] > 0 {
				overlapSameKey.Store(true)
			}
			for k, n := range active {
				if k != key && n > 0 {
					overlapOtherKey.Store(true)
				}
			}
			active[key]++
			if key == "alice" {
				order = append(order, m.EventID)
			}
			mu.Unlock()
			<-release
			mu.Lock()
			active[key]--
			mu.Unlock()
			return nil
		},
	})
	var alice3 uint64
	for i := 1; i <= 3; i++ {
		alice3 = h.publish(subjWebhook, fmt.Sprintf("alice-%d", i), "alice")
	}
	h.publish(subjWebhook, "bob-1", "bob")
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !overlapOtherKey.Load() {
			return errors.New("alice-1 and bob-1 not running together yet")
		}
		return nil
	})
	// alice-3 waits for its turn longer than AckWait (kept alive four
	// times), and is not redelivered.
	ip.waitFor(t, alice3, 4)
	if info := h.consumerInfo(streams.StreamIngest, "ordered"); info.Delivered.Consumer != 4 {
		t.Errorf("%d deliveries for 4 messages while alice-3 waited: it was redelivered", info.Delivered.Consumer)
	}
	close(release)
	for _, id := range []string{"alice-1", "alice-2", "alice-3", "bob-1"} {
		h.waitOutcomes("ordered", id, "ok/1")
	}
	info := h.waitSettled(streams.StreamIngest, "ordered")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, []string{"alice-1", "alice-2", "alice-3"}) {
		t.Errorf("alice's messages ran in order %v", order)
	}
	if overlapSameKey.Load() {
		t.Error("two messages with one key ran at once")
	}
	if !overlapOtherKey.Load() {
		t.Error("an unrelated key waited for another")
	}
	if info.Delivered.Consumer != 4 {
		t.Errorf("%d deliveries for 4 messages: a waiting message was redelivered", info.Delivered.Consumer)
	}
	for id, c := range calls.snapshot() {
		if c != 1 {
			t.Errorf("%s handled %d times", id, c)
		}
	}
}
