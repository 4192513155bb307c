package processors_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// batchRecorder is a BatchFunc and Handler pair that records what each got.
type batchRecorder struct {
	mu      sync.Mutex
	sizes   []int
	seqs    []uint64 // first deliveries, in the order the batches saw them
	single  countCalls
	batched countCalls
	decide  func(m *processors.Message) error // the batch's answer per message
}

func (b *batchRecorder) batch(ctx context.Context, ms []*processors.Message) ([]error, processors.FinishFunc) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(ms))
	for _, m := range ms {
		if m.Attempt == 1 {
			b.seqs = append(b.seqs, m.StreamSeq)
		}
	}
	b.mu.Unlock()
	errs := make([]error, len(ms))
	for i, m := range ms {
		b.batched.add(m.EventID)
		errs[i] = b.decide(m)
	}
	return errs, nil
}

func (b *batchRecorder) handle(ctx context.Context, m *processors.Message) error {
	b.single.add(m.EventID)
	if string(m.Data) == "poison" {
		panic("poison")
	}
	return nil
}

// A backlog is taken in batches of at most BatchSize, in stream order; each
// message's answer is concluded as a handler's would be (ack, reject to the
// DLQ, retry), and ErrOneByOne sends a message to Handler.
func TestBatch_OutcomesPerMessage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var flaky sync.Once
	rec := &batchRecorder{decide: func(m *processors.Message) error {
		switch string(m.Data) {
		case "reject":
			return processors.Reject(errors.New("bad lead"))
		case "alone":
			return processors.ErrOneByOne
		case "flaky":
			var err error
			flaky.Do(func() { err = errors.New("database hiccup") })
			return err
		case "seen":
			return processors.ErrAlreadyProcessed
		}
		return nil
	}}
	const n = 120
	for i := range n {
		body := "ok"
		switch i {
		case 7:
			body = "reject"
		case 30, 31:
			body = "alone"
		case 50:
			body = "flaky"
		case 60:
			body = "seen"
		}
		h.publish(subjWebhook, fmt.Sprintf("ev-%03d", i), body)
	}
	h.start(h.newRunner(), processors.Processor{
		Name: "batched", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Handler: rec.handle, Batch: rec.batch, BatchSize: 50,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	for i := range n {
		id := fmt.Sprintf("ev-%03d", i)
		want := "ok/1"
		switch i {
		case 7:
			want = "rejected/1"
		case 50:
			want = "retry/1,ok/2"
		case 60:
			want = "duplicate/1"
		}
		h.waitOutcomes("batched", id, want)
	}
	h.waitSettled(streams.StreamIngest, "batched")
	if got := h.dlqCount(streams.DLQSubject("batched")); got != 1 {
		t.Errorf("%d dead letters, want 1 (the rejected one)", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if slices.Max(rec.sizes) < 2 || slices.Max(rec.sizes) > 50 {
		t.Errorf("batch sizes %v: want batches of 2..50", rec.sizes)
	}
	if !slices.IsSorted(rec.seqs) || len(rec.seqs) != n {
		t.Errorf("first deliveries reached the batches out of order or not all: %v", rec.seqs)
	}
	for id, c := range rec.single.snapshot() {
		if id != "ev-030" && id != "ev-031" || c != 1 {
			t.Errorf("Handler got %s %d times; want only ev-030 and ev-031, once", id, c)
		}
	}
	if rec.single.get("ev-030") != 1 || rec.single.get("ev-031") != 1 {
		t.Errorf("ErrOneByOne messages did not reach Handler: %v", rec.single.snapshot())
	}
}

// A panicking batch (or one answering for the wrong number of messages)
// loses nothing: every message goes through Handler, and only the poison one
// is dead-lettered.
func TestBatch_FailureFallsBackToOneByOne(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch processors.BatchFunc
	}{
		{"panic", func(ctx context.Context, ms []*processors.Message) ([]error, processors.FinishFunc) {
			for _, m := range ms {
				if string(m.Data) == "poison" {
					panic("batch meets poison")
				}
			}
			return make([]error, len(ms)), nil
		}},
		{"short answer", func(ctx context.Context, ms []*processors.Message) ([]error, processors.FinishFunc) {
			return make([]error, len(ms)-1), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			rec := &batchRecorder{}
			for i := range 20 {
				body := "ok"
				if i == 5 {
					body = "poison"
				}
				h.publish(subjWebhook, fmt.Sprintf("ev-%02d", i), body)
			}
			h.start(h.newRunner(), processors.Processor{
				Name: "batched", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
				Handler: rec.handle, Batch: tc.batch,
			})
			for i := range 20 {
				want := "ok/1"
				if i == 5 {
					want = "dead/1"
				}
				h.waitOutcomes("batched", fmt.Sprintf("ev-%02d", i), want)
			}
			h.waitSettled(streams.StreamIngest, "batched")
			if got := h.dlqCount(streams.DLQSubject("batched")); got != 1 {
				t.Errorf("%d dead letters, want 1", got)
			}
			if got := rec.single.get("ev-05"); got != 1 {
				t.Errorf("the poison message reached Handler %d times", got)
			}
		})
	}
}

// InOrder handles a batch's messages one after the other with the handler;
// a panicking message goes to Handler alone and is dead-lettered.
func TestInOrder_HandlesEachMessage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var mu sync.Mutex
	var seqs []uint64
	handler := func(ctx context.Context, m *processors.Message) error {
		mu.Lock()
		seqs = append(seqs, m.StreamSeq)
		mu.Unlock()
		switch string(m.Data) {
		case "poison":
			panic("poison")
		case "reject":
			return processors.Reject(errors.New("no"))
		}
		m.SetOutcome(processors.StatusSkipped, nil)
		return nil
	}
	for i := range 30 {
		body := "ok"
		switch i {
		case 4:
			body = "poison"
		case 9:
			body = "reject"
		}
		h.publish(subjWebhook, fmt.Sprintf("ev-%02d", i), body)
	}
	h.start(h.newRunner(), processors.Processor{
		Name: "inorder", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Handler: handler, Batch: processors.InOrder(handler),
	})
	for i := range 30 {
		want := "skipped/1"
		switch i {
		case 4:
			want = "dead/1"
		case 9:
			want = "rejected/1"
		}
		h.waitOutcomes("inorder", fmt.Sprintf("ev-%02d", i), want)
	}
	h.waitSettled(streams.StreamIngest, "inorder")
	if got := h.dlqCount(streams.DLQSubject("inorder")); got != 2 {
		t.Errorf("%d dead letters, want 2 (poison and reject)", got)
	}
	mu.Lock()
	defer mu.Unlock()
	var first []uint64
	for _, s := range seqs {
		if s != 5 { // the poison one runs twice: in the batch and alone
			first = append(first, s)
		}
	}
	if !slices.IsSorted(first) || len(first) != 29 {
		t.Errorf("handled out of stream order or not once each: %v", seqs)
	}
}
