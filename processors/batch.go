package processors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/panics"
)

// BatchFunc handles the messages of one pull together — typically one
// transaction for all of them — in delivery order. It returns one error per
// message, meaning what a HandlerFunc's error means (nil acks it; Reject,
// Permanent, RetryAfter, ErrAlreadyProcessed, transient), or ErrOneByOne to
// hand that message to the processor's Handler on its own.
//
// It may also return a FinishFunc for the work that follows its commit
// (publishing what it emitted): the runner calls it while the next batch is
// being applied, in batch order, and acknowledges the batch after it.
type BatchFunc func(ctx context.Context, ms []*Message) ([]error, FinishFunc)

// FinishFunc completes a committed batch. Its error becomes the error of
// every message the batch had succeeded with (nil or ErrAlreadyProcessed),
// so they are redelivered and finished then.
type FinishFunc func(ctx context.Context) error

// ErrOneByOne, returned by a BatchFunc for a message, sends it to the
// processor's Handler (a message the batch path does not cover, or every
// message of a batch whose transaction failed: one bad event then fails
// alone and the others still succeed).
var ErrOneByOne = errors.New("processors: handle this message on its own")

// pulled is one batch on its way from the puller to the applier.
type pulled struct {
	jms  []jetstream.Msg
	ms   []*Message
	keys [][]string
	stop func() // ends the batch's InProgress signalling

	// Set by applyBatch:
	errs   []error
	finish FinishFunc
	dur    time.Duration
	single []int         // indexes handed back with ErrOneByOne
	done   chan struct{} // closed once finishBatch is through
}

// batchLoop is loop for processors with a BatchFunc, as a pipeline of three
// goroutines: one pulls the next batch and prepares it (OrderKeys parses the
// bodies), this one applies batches strictly one after the other in delivery
// order, and a third finishes each applied batch (FinishFunc, outcomes, acks)
// while the next is applied. Applying in delivery order keeps a rebuild
// deterministic: every event sees exactly the events before it.
func (w *worker) batchLoop(ctx context.Context) {
	ready := make(chan *pulled, 1)
	go func() {
		defer close(ready)
		for ctx.Err() == nil {
			b := w.pullBatch(ctx)
			if b == nil {
				continue
			}
			ready <- b // the applier drains ready until it is closed
		}
	}()
	applied := make(chan *pulled, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for b := range applied {
			w.finishBatch(b)
		}
	}()
	for b := range ready {
		w.applyBatch(b)
		applied <- b
		if len(b.single) > 0 {
			// Messages handed back run after the batch is finished and
			// before the next one is applied, in their stream order.
			<-b.done
			w.runSingles(b)
		}
	}
	close(applied)
	<-finished
}

// pullBatch takes whatever is pending up to BatchSize at once; with nothing
// pending it waits up to pollWait for one message (and then takes what came
// with it), so a quiet stream gets small batches and no added latency.
func (w *worker) pullBatch(ctx context.Context) *pulled {
	size := w.p.BatchSize
	jms, err := w.fetch(size, true)
	if err == nil && len(jms) == 0 {
		jms, err = w.fetch(1, false)
		if err == nil && len(jms) == 1 && size > 1 {
			var more []jetstream.Msg
			more, err = w.fetch(size-1, true)
			jms = append(jms, more...)
		}
	}
	if err == nil && len(jms) > 0 && len(jms) < size && w.p.BatchLinger > 0 {
		sleepCtx(ctx, w.p.BatchLinger)
		var more []jetstream.Msg
		more, err = w.fetch(size-len(jms), true)
		jms = append(jms, more...)
	}
	if err != nil {
		w.log.Warn("pull failed", "err", err)
		w.redeclare(ctx, err)
		if len(jms) == 0 {
			sleepCtx(ctx, pollWait/4)
		}
	}
	if len(jms) == 0 {
		return nil
	}
	b := &pulled{jms: jms, ms: make([]*Message, len(jms)), keys: make([][]string, len(jms))}
	for i, jm := range jms {
		b.ms[i] = newMessage(jm)
	}
	b.stop = w.keepAliveAll(b.ms)
	if w.p.OrderKeys != nil {
		for i, m := range b.ms {
			b.keys[i] = w.orderKeys(m)
		}
	}
	return b
}

// fetch pulls up to n messages: at once (noWait) or waiting up to pollWait.
func (w *worker) fetch(n int, noWait bool) ([]jetstream.Msg, error) {
	var batch jetstream.MessageBatch
	var err error
	if noWait {
		batch, err = w.cons.FetchNoWait(n)
	} else {
		batch, err = w.cons.Fetch(n, jetstream.FetchMaxWait(pollWait))
	}
	if err != nil {
		return nil, err
	}
	jms := make([]jetstream.Msg, 0, n)
	for jm := range batch.Messages() {
		jms = append(jms, jm)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) &&
		!errors.Is(err, context.DeadlineExceeded) {
		return jms, err
	}
	return jms, nil
}

// applyBatch runs the BatchFunc.
func (w *worker) applyBatch(b *pulled) {
	ctx, cancel := context.WithTimeout(context.Background(), w.p.AckWait*4)
	defer cancel()
	start := time.Now()
	b.errs, b.finish = w.safeBatch(ctx, b.ms)
	b.dur = time.Since(start)
	b.done = make(chan struct{})
	for i := range b.ms {
		if errors.Is(b.errs[i], ErrOneByOne) {
			b.single = append(b.single, i)
		}
	}
}

// finishBatch runs the batch's FinishFunc, then takes every message through
// the same policies as a Handler's (outcomes recorded in one statement,
// acks confirmed with one flush).
func (w *worker) finishBatch(b *pulled) {
	defer close(b.done)
	if b.finish != nil {
		ctx, cancel := context.WithTimeout(context.Background(), w.p.AckWait*4)
		ferr := w.safeFinish(ctx, b.finish)
		cancel()
		if ferr != nil {
			for i, err := range b.errs {
				if err == nil || errors.Is(err, ErrAlreadyProcessed) {
					b.errs[i] = ferr
				}
			}
		}
	}
	rec := &collected{}
	var concluded []int
	for i, m := range b.ms {
		err := b.errs[i]
		if errors.Is(err, ErrOneByOne) {
			continue
		}
		m.state().dur = b.dur
		_ = w.batchChain(rec, err)(context.Background(), m)
		concluded = append(concluded, i)
	}
	w.recordAll(rec.os)
	// No InProgress may follow (and undo) a Nak's delay.
	b.stop()
	acks := 0
	for _, i := range concluded {
		if b.ms[i].state().verdict().settle != settleAck {
			w.settle(b.jms[i], b.ms[i])
			continue
		}
		acks++
		if err := b.jms[i].Ack(); err != nil {
			w.log.Warn("ack failed; the message will be redelivered", "err", err)
		}
	}
	if acks > 0 {
		// One round trip confirms the server has every ack of the batch
		// (what DoubleAck does per message).
		if err := w.r.JS.Conn().FlushTimeout(10 * time.Second); err != nil {
			w.log.Warn("flushing acks failed; unconfirmed ones will be redelivered", "err", err)
		}
	}
}

// collected keeps the outcomes of a batch for recordAll.
type collected struct{ os []Outcome }

func (c *collected) Record(_ context.Context, o Outcome) error {
	c.os = append(c.os, o)
	return nil
}

// runSingles hands the messages a batch gave back to Handler: concurrently,
// but messages sharing an order key one after the other in stream order.
func (w *worker) runSingles(b *pulled) {
	var wg sync.WaitGroup
	for _, i := range b.single {
		w.sem <- struct{}{}
		w.run(b.jms[i], b.ms[i], b.keys[i], &wg)
	}
	wg.Wait()
}

// safeFinish runs a FinishFunc, turning a panic into an error (the batch is
// then redelivered, and its messages find their effects already applied).
func (w *worker) safeFinish(ctx context.Context, f FinishFunc) error {
	err := panics.Call(func() error { return f(ctx) })
	if pe, ok := panics.As(err); ok {
		w.log.Error("batch finish panic", "panic", pe.Value, "stack", string(pe.Stack))
	}
	return err
}

// safeBatch runs the BatchFunc; a panic (or a wrong number of errors) sends
// every message of the batch through Handler, which finds the poison one
// and dead-letters only it.
func (w *worker) safeBatch(ctx context.Context, ms []*Message) (errs []error, finish FinishFunc) {
	err := panics.Call(func() error { errs, finish = w.p.Batch(ctx, ms); return nil })
	if pe, ok := panics.As(err); ok {
		w.log.Error("batch panic; handling its messages one by one", "panic", pe.Value, "stack", string(pe.Stack))
		errs = nil
	} else if len(errs) != len(ms) {
		w.log.Error(fmt.Sprintf("batch returned %d results for %d messages; handling them one by one", len(errs), len(ms)))
	}
	if len(errs) != len(ms) {
		errs, finish = make([]error, len(ms)), nil
		for i := range errs {
			errs[i] = ErrOneByOne
		}
	}
	return errs, finish
}

// recordAll stores the outcomes of a batch, in one statement when the
// recorder can.
func (w *worker) recordAll(os []Outcome) {
	if w.r.Outcomes == nil || len(os) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if br, ok := w.r.Outcomes.(BatchOutcomeRecorder); ok {
		if err := br.RecordBatch(ctx, os); err != nil {
			w.log.Warn("recording outcomes failed", "n", len(os), "err", err)
		}
		return
	}
	for _, o := range os {
		if err := w.r.Outcomes.Record(ctx, o); err != nil {
			w.log.Warn("recording outcome failed", "err", err)
		}
	}
}

// keepAliveAll is keepAlive for several messages (a whole batch, from the
// pull until it is settled): one ticker for all of them.
func (w *worker) keepAliveAll(ms []*Message) func() {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(max(w.p.AckWait/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range ms {
					if err := m.InProgress(); err != nil {
						w.log.Debug("in progress", "seq", m.StreamSeq, "err", err)
					}
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-exited
	}
}

// InOrder is a BatchFunc that handles a batch's messages one after the
// other with h. It saves the per-message costs around the handler (one
// outcome COPY and one ack flush per batch), so it suits handlers that
// return at once — a processor whose destination is not configured skips
// every event — never handlers that wait on an outside service, which need
// their own concurrency.
func InOrder(h HandlerFunc) BatchFunc {
	return func(ctx context.Context, ms []*Message) ([]error, FinishFunc) {
		errs := make([]error, len(ms))
		for i, m := range ms {
			errs[i] = panics.Call(func() error { return h(ctx, m) })
			if _, ok := panics.As(errs[i]); ok {
				errs[i] = ErrOneByOne // Handler meets the panic again and dead-letters it
			}
		}
		return errs, nil
	}
}
