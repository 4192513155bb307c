package processors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/panics"
)

// Runner runs processors against JetStream until its context ends.
type Runner struct {
	JS       jetstream.JetStream
	Outcomes OutcomeRecorder // optional
	Log      *slog.Logger
	// Middleware wraps every Handler, outermost first, inside the runner's
	// policies (chain.go). A BatchFunc is not wrapped: the policies, and
	// Observe, still see the outcomes of both paths.
	Middleware []Middleware
	// Observe, when set, is told every outcome (Prometheus metrics).
	Observe func(o Outcome)
}

// pollWait bounds one pull request. It is also the longest Run waits, once
// its context ends, for a pull already sent to the server: every message that
// pull brings is handled, none is dropped unacknowledged.
const pollWait = time.Second

// maxBatch matches the consumer's MaxRequestBatch: no pull asks for more.
const maxBatch = 512

// Run creates or updates each processor's durable consumer, consumes until ctx
// ends, then drains: no new pulls, in-flight handlers finish and ack (or nak),
// and only then does Run return.
//
// Messages are pulled only for free handler slots, so a delivery never waits
// unacknowledged in a client-side buffer, where its AckWait would run out, the
// server would redeliver it (burning an attempt and running it twice) and a
// shutdown would leave it pending until AckWait.
func (r *Runner) Run(ctx context.Context, procs ...Processor) error {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Check every definition before starting any, so a bad one cannot leave
	// the others consuming behind a returned error.
	seen := map[string]string{}
	for _, p := range procs {
		if err := p.Validate(); err != nil {
			return err
		}
		p = p.withDefaults()
		key := p.Stream + "/" + p.Durable
		if other, ok := seen[key]; ok {
			return fmt.Errorf("processors: %s and %s share the consumer %s", other, p.Name, key)
		}
		seen[key] = p.Name
	}
	workers := make([]*worker, 0, len(procs))
	for _, p := range procs {
		p = p.withDefaults()
		cons, err := r.JS.CreateOrUpdateConsumer(ctx, p.Stream, p.ConsumerConfig())
		if err != nil {
			return fmt.Errorf("processors: %s: consumer: %w", p.Name, err)
		}
		w := &worker{p: p, r: r, cons: cons, log: log.With("processor", p.Name),
			sem: make(chan struct{}, p.Concurrency), tails: map[string]chan struct{}{}}
		w.h = w.handlerChain()
		workers = append(workers, w)
	}
	var loops sync.WaitGroup
	for _, w := range workers {
		loops.Add(1)
		go func() {
			defer loops.Done()
			if w.p.Batch != nil {
				w.batchLoop(ctx)
				return
			}
			w.loop(ctx)
		}()
		log.Info("processor started", "processor", w.p.Name, "stream", w.p.Stream, "subjects", w.p.Subjects)
	}
	<-ctx.Done()
	loops.Wait()
	for _, w := range workers {
		w.wg.Wait()
	}
	// Naks and Terms are fire-and-forget publishes: make sure they left.
	if nc := r.JS.Conn(); nc != nil && !nc.IsClosed() {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			log.Warn("flush on shutdown", "err", err)
		}
	}
	return nil
}

type worker struct {
	p    Processor
	r    *Runner
	h    HandlerFunc // handlerChain
	cons jetstream.Consumer
	log  *slog.Logger
	sem  chan struct{} // one token per pulled, not yet finished message
	wg   sync.WaitGroup

	mu    sync.Mutex
	tails map[string]chan struct{} // per order key: closed when its last message is done
}

// loop pulls as many messages as there are free handler slots and starts a
// handler for each, in delivery order, until ctx ends.
func (w *worker) loop(ctx context.Context) {
	limit := min(w.p.Concurrency, maxBatch)
	for ctx.Err() == nil {
		select {
		case w.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	free:
		for n < limit {
			select {
			case w.sem <- struct{}{}:
				n++
			default:
				break free
			}
		}
		batch, err := w.cons.Fetch(n, jetstream.FetchMaxWait(pollWait))
		if err != nil {
			w.release(n)
			w.log.Warn("pull failed", "err", err)
			w.redeclare(ctx, err)
			sleepCtx(ctx, pollWait)
			continue
		}
		for jm := range batch.Messages() {
			n--
			w.start(jm)
		}
		w.release(n)
		if err := batch.Error(); err != nil {
			w.log.Warn("pull ended", "err", err)
			w.redeclare(ctx, err)
			sleepCtx(ctx, pollWait/4)
		}
	}
}

// redeclare creates the durable consumer again when a pull failed because
// it is gone (deleted with `nats consumer rm`, or its stream removed for a
// restore): a new consumer starts at sequence 1 and the processed ledger
// skips what was applied. While the stream itself is missing this fails and
// the next pull tries again; a restored consumer is kept as restored.
func (w *worker) redeclare(ctx context.Context, err error) {
	if !errors.Is(err, jetstream.ErrConsumerDeleted) && !errors.Is(err, jetstream.ErrConsumerNotFound) &&
		!errors.Is(err, nats.ErrNoResponders) {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, ierr := w.r.JS.Consumer(cctx, w.p.Stream, w.p.Durable); ierr == nil {
		return // still there (a leader election); pulls resume
	}
	cons, cerr := w.r.JS.CreateOrUpdateConsumer(cctx, w.p.Stream, w.p.ConsumerConfig())
	if cerr != nil {
		w.log.Warn("consumer is gone and cannot be declared again yet", "err", cerr)
		return
	}
	w.cons = cons
	w.log.Warn("consumer was gone: declared it again (it re-delivers from the start; applied events are skipped)")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (w *worker) release(n int) {
	for range n {
		<-w.sem
	}
}

// start runs one pulled message's handler; its slot is already taken. With
// OrderKeys, it first waits for the earlier messages sharing a key (called in
// delivery order, so the chain follows the stream).
func (w *worker) start(jm jetstream.Msg) {
	m := newMessage(jm)
	var keys []string
	if w.p.OrderKeys != nil {
		keys = w.orderKeys(m)
	}
	w.run(jm, m, keys, &w.wg)
}

// run handles m in its own goroutine (counted in wg), after the earlier
// messages sharing one of its keys, and releases its slot when done. Called
// in delivery order, so each key's chain follows the stream.
func (w *worker) run(jm jetstream.Msg, m *Message, keys []string, wg *sync.WaitGroup) {
	var waits []chan struct{}
	var done chan struct{}
	if len(keys) > 0 {
		done = make(chan struct{})
		w.mu.Lock()
		for _, k := range keys {
			if t := w.tails[k]; t != nil {
				waits = append(waits, t)
			}
			w.tails[k] = done
		}
		w.mu.Unlock()
	}
	release := yielder(func() { w.release(1) })
	m.state().yield = release
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer release()
		if len(waits) > 0 {
			// Keep the delivery alive while earlier messages run.
			stop := w.keepAlive(m)
			for _, t := range waits {
				<-t
			}
			stop()
		}
		w.handle(jm, m)
		if done != nil {
			close(done)
			w.mu.Lock()
			for _, k := range keys {
				if w.tails[k] == done {
					delete(w.tails, k)
				}
			}
			w.mu.Unlock()
		}
	}()
}

// orderKeys calls OrderKeys; a panic there means no ordering (the handler
// will meet the same bad input and be dead-lettered).
func (w *worker) orderKeys(m *Message) (keys []string) {
	if err := panics.Call(func() error { keys = w.p.OrderKeys(m); return nil }); err != nil {
		w.log.Error("order keys panic", "seq", m.StreamSeq, "panic", err)
		return nil
	}
	return keys
}

// handle runs m through the handler chain (which records its outcome),
// then settles the delivery.
func (w *worker) handle(jm jetstream.Msg, m *Message) {
	// Handlers run to completion even during shutdown: a half-done handler
	// would only be redone on redelivery, but finishing saves the work.
	ctx, cancel := context.WithTimeout(context.Background(), w.p.AckWait*4)
	defer cancel()
	stopProgress := w.keepAlive(m)
	_ = w.h(ctx, m) // the policies took its result into m's verdict
	// No InProgress may follow (and undo) a Nak's delay.
	stopProgress()
	w.settle(jm, m)
}

// keepAlive signals InProgress every third of AckWait while a handler runs,
// so slow work is not redelivered mid-flight. The returned stop waits for the
// signalling to end, so no InProgress can follow (and undo) a Nak's delay.
func (w *worker) keepAlive(m *Message) func() {
	return w.keepAliveAll([]*Message{m})
}

// backoff is the capped exponential delay before attempt+1 (with jitter).
func (w *worker) backoff(attempt int) time.Duration {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = w.p.BackoffInitial
	b.MaxInterval = w.p.BackoffMax
	b.Multiplier = 2
	b.RandomizationFactor = 0.2
	b.MaxElapsedTime = 0
	b.Reset()
	d := b.NextBackOff()
	for i := 1; i < attempt; i++ {
		d = b.NextBackOff()
	}
	return d
}
