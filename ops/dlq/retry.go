package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/panics"
	"github.com/hookstream/hookstream/processors"
)

// Retry outcomes.
const (
	Applied        = "applied"         // handled now; the dead letter is removed
	AlreadyApplied = "already_applied" // the ledger already had it (a replay got there first); removed
	Failed         = "failed"          // still failing; the dead letter stays
)

// RetryResult is what one retry did.
type RetryResult struct {
	ID         uint64  `json:"id"`
	Processor  string  `json:"processor"`
	EventID    string  `json:"event_id"`
	Result     string  `json:"result"`
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	// OutcomeError says the retry's audit row could not be written (the
	// retry itself happened as Result says).
	OutcomeError string `json:"outcome_error,omitempty"`
}

// Retrier re-handles dead letters through the processor's own handler, in
// this process, with the original event id, subject and headers. The
// handler's Apply writes the projection and the processed row in one
// transaction, so an event whose retry succeeds is applied exactly once —
// even if a replay or another retry got there first (then it is reported as
// already applied). Nothing is re-published to a stream: other processors
// consuming the same subject never see the event twice.
type Retrier struct {
	JS jetstream.JetStream
	// Outcomes records each retry in the audit log (optional).
	Outcomes processors.OutcomeRecorder
}

// Pick chooses, among a processor's definitions, the one that consumed the
// dead letter's original stream.
func Pick(procs []processors.Processor, e *Entry) (processors.Processor, error) {
	for _, p := range procs {
		if p.Name == e.Processor && (e.Stream == "" || p.Stream == e.Stream) {
			return p, nil
		}
	}
	for _, p := range procs {
		if p.Stream == e.Stream {
			return p, nil
		}
	}
	return processors.Processor{}, fmt.Errorf("dead letter %d: processor %s has no consumer on %s in this build", e.ID, e.Processor, e.Stream)
}

// Retry handles e with p. On success the dead letter is deleted.
func (r *Retrier) Retry(ctx context.Context, e *Entry, p processors.Processor) RetryResult {
	res := RetryResult{ID: e.ID, Processor: e.Processor, EventID: e.EventID}
	m := e.Message()
	ackWait := p.AckWait
	if ackWait <= 0 {
		ackWait = 30 * time.Second
	}
	hctx, cancel := context.WithTimeout(ctx, 4*ackWait)
	defer cancel()
	start := time.Now()
	err := call(hctx, p, m)
	dur := time.Since(start)
	res.DurationMS = float64(dur.Microseconds()) / 1000

	o := processors.Outcome{Processor: p.Name, EventID: m.EventID, WebhookID: m.WebhookID, Workspace: m.Workspace,
		Subject: m.Subject, StreamSeq: m.StreamSeq, Attempts: m.Attempt, Duration: dur, Received: m.Received}
	o.Detail, _ = json.Marshal(map[string]any{"dlq_retry": e.ID})
	switch {
	case err == nil || errors.Is(err, processors.ErrAlreadyProcessed):
		res.Result, o.Status = Applied, processors.StatusOK
		if err != nil {
			res.Result, o.Status = AlreadyApplied, processors.StatusDuplicate
		}
		if derr := Discard(ctx, r.JS, e.ID); derr != nil && !errors.Is(derr, ErrNotFound) {
			// Applied, but the dead letter stays: a second retry reports
			// already_applied and removes it.
			res.Error = "applied, but removing the dead letter failed: " + derr.Error()
		}
	default:
		res.Result, o.Status = Failed, processors.StatusDead
		res.Error = err.Error()
		o.Error = "dlq retry: " + err.Error()
	}
	if r.Outcomes != nil {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := r.Outcomes.Record(rctx, o); err != nil {
			res.OutcomeError = err.Error() // the retry happened; its audit row did not
		}
		rcancel()
	}
	return res
}

// call runs OrderKeys (handlers may rely on what it parsed into Scratch)
// and the handler, turning panics into errors.
func call(ctx context.Context, p processors.Processor, m *processors.Message) error {
	err := panics.Call(func() error {
		if p.OrderKeys != nil {
			// As the runner: no ordering, the handler meets the bad input.
			_ = panics.Call(func() error { p.OrderKeys(m); return nil })
		}
		return p.Handler(ctx, m)
	})
	if pe, ok := panics.As(err); ok {
		return fmt.Errorf("%w\n%s", pe, pe.Stack)
	}
	return err
}
