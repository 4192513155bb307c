package processors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/streams"
)

// Runner runs processors against JetStream until its context ends.
type Runner struct {
	JS       jetstream.JetStream
	Outcomes OutcomeRecorder // optional
	Log      *slog.Logger
	// Middleware wraps every Handler, outermost first (a BatchFunc is not
	// wrapped: Observe sees the outcomes of both paths).
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
		h := p.Handler
		for i := len(r.Middleware) - 1; i >= 0; i-- {
			h = r.Middleware[i](h)
		}
		workers = append(workers, &worker{p: p, r: r, h: h, cons: cons, log: log.With("processor", p.Name),
			sem: make(chan struct{}, p.Concurrency), tails: map[string]chan struct{}{}})
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
	h    HandlerFunc
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
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer w.release(1)
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
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("order keys panic", "seq", m.StreamSeq, "panic", p)
			keys = nil
		}
	}()
	return w.p.OrderKeys(m)
}

func (w *worker) handle(jm jetstream.Msg, m *Message) {
	// Handlers run to completion even during shutdown: a half-done handler
	// would only be redone on redelivery, but finishing saves the work.
	ctx, cancel := context.WithTimeout(context.Background(), w.p.AckWait*4)
	defer cancel()
	stopProgress := w.keepAlive(m)
	start := time.Now()
	err := w.safeCall(ctx, m)
	dur := time.Since(start)

	o, settle := w.conclude(jm, m, err, dur)
	if w.r.Outcomes != nil {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if rerr := w.r.Outcomes.Record(rctx, o); rerr != nil {
			w.log.Warn("recording outcome failed", "err", rerr)
		}
		rcancel()
	}
	// No InProgress may follow (and undo) a Nak's delay.
	stopProgress()
	settle()
	if w.r.Observe != nil {
		w.r.Observe(o)
	}
}

// conclude works out the outcome of one handled message and what settles
// its delivery (ack, nak with backoff, or term after a dead letter). The
// dead letter itself is written here, while the delivery is kept alive.
func (w *worker) conclude(jm jetstream.Msg, m *Message, err error, dur time.Duration) (Outcome, func()) {
	o := Outcome{Processor: w.p.Name, EventID: m.EventID, WebhookID: m.WebhookID, Workspace: m.Workspace,
		Subject: m.Subject, StreamSeq: m.StreamSeq, Attempts: m.Attempt, Duration: dur, Received: m.Received}
	if m.outcome != nil {
		o.Detail = m.outcome.detail
	}
	// settle is what happens to the delivery once the outcome is recorded
	// (recording first keeps the audit trail in attempt order: the next
	// delivery cannot start before this attempt's row exists).
	var settle func()
	switch {
	case err == nil || errors.Is(err, ErrAlreadyProcessed):
		o.Status = StatusOK
		if errors.Is(err, ErrAlreadyProcessed) {
			o.Status = StatusDuplicate
		} else if m.outcome != nil && m.outcome.status != "" {
			o.Status = m.outcome.status
		}
		settle = func() {
			// Its own deadline: a handler that used up its context must
			// still be able to ack what it committed.
			actx, acancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer acancel()
			if aerr := jm.DoubleAck(actx); aerr != nil {
				w.log.Warn("ack failed; the message will be redelivered", "seq", m.StreamSeq, "err", aerr)
			}
		}
	default:
		kind, delay := classify(err)
		o.Error = err.Error()
		if kind == StatusRetry && m.Attempt >= w.p.MaxDeliver {
			kind = StatusDead
			o.Error = fmt.Sprintf("gave up after %d attempts: %v", m.Attempt, err)
		}
		o.Status = kind
		if kind != StatusRetry {
			// Still kept alive while the dead letter is written. On the
			// last delivery nothing would bring the message back: insist.
			derr := w.deadLetter(m, o)
			for i := 1; derr != nil && m.Attempt >= w.p.MaxDeliver && i <= 5; i++ {
				time.Sleep(w.backoff(i))
				derr = w.deadLetter(m, o)
			}
			switch {
			case derr == nil:
				settle = func() {
					if terr := jm.Term(); terr != nil {
						w.log.Warn("term failed", "seq", m.StreamSeq, "err", terr)
					}
				}
				w.log.Warn("dead-lettered", "seq", m.StreamSeq, "event_id", m.EventID, "status", o.Status, "err", o.Error)
			case m.Attempt >= w.p.MaxDeliver:
				// The server delivers no more: only the stream itself keeps
				// the message now (replay it from there).
				w.log.Error("dead-letter publish failed on the last delivery; the message stays only in its stream",
					"seq", m.StreamSeq, "event_id", m.EventID, "err", derr)
				o.Error = fmt.Sprintf("dead-letter publish failed: %v; %s", derr, o.Error)
				settle = func() {}
			default:
				// Not terminated (that would lose it): redelivered, and
				// dead-lettered then.
				w.log.Error("dead-letter publish failed; will retry on redelivery", "seq", m.StreamSeq, "err", derr)
				o.Status = StatusRetry
				o.Error = fmt.Sprintf("dead-letter publish failed: %v; %s", derr, o.Error)
				delay = 0
			}
		}
		if settle == nil {
			if d := w.backoff(m.Attempt); d > delay {
				delay = d
			}
			settle = func() {
				if nerr := jm.NakWithDelay(delay); nerr != nil {
					w.log.Warn("nak failed", "seq", m.StreamSeq, "err", nerr)
				}
			}
			w.log.Info("retrying", "seq", m.StreamSeq, "attempt", m.Attempt, "delay", delay, "err", o.Error)
		}
	}
	return o, settle
}

// safeCall runs the handler, turning a panic into a permanent failure so a
// poison message is dead-lettered instead of crashing the process.
func (w *worker) safeCall(ctx context.Context, m *Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("handler panic", "seq", m.StreamSeq, "panic", p, "stack", string(debug.Stack()))
			err = Permanent(fmt.Errorf("panic: %v", p))
		}
	}()
	return w.h(ctx, m)
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

// deadLetter publishes the original message to dlq.<processor> with what went
// wrong. Its Nats-Msg-Id names the delivery (durable, stream, seq), so a dead
// letter written again after a lost Term is deduplicated. The caller Terms
// the delivery only once this succeeded.
func (w *worker) deadLetter(m *Message, o Outcome) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dm := nats.NewMsg(streams.DLQSubject(w.p.Name))
	dm.Data = m.Data
	for k, v := range m.Header {
		if k == streams.HdrMsgID {
			continue
		}
		dm.Header[k] = v
	}
	dm.Header.Set(streams.HdrMsgID, "dlq:"+w.p.Durable+":"+m.Stream+":"+strconv.FormatUint(m.StreamSeq, 10))
	dm.Header.Set(HdrDLQEventID, m.EventID)
	dm.Header.Set(HdrDLQProcessor, w.p.Name)
	dm.Header.Set(HdrDLQSubject, m.Subject)
	dm.Header.Set(HdrDLQStream, m.Stream)
	dm.Header.Set(HdrDLQSeq, strconv.FormatUint(m.StreamSeq, 10))
	dm.Header.Set(HdrDLQError, truncate(o.Error, 4000))
	dm.Header.Set(HdrDLQAttempts, strconv.Itoa(m.Attempt))
	dm.Header.Set(HdrDLQStatus, o.Status)
	dm.Header.Set(HdrDLQAt, time.Now().UTC().Format(time.RFC3339Nano))
	_, err := w.r.JS.PublishMsg(ctx, dm)
	return err
}

// Dead-letter headers (besides the original message's own).
const (
	HdrDLQEventID   = "Hs-Dlq-Event-Id"
	HdrDLQProcessor = "Hs-Dlq-Processor"
	HdrDLQSubject   = "Hs-Dlq-Subject"
	HdrDLQStream    = "Hs-Dlq-Stream"
	HdrDLQSeq       = "Hs-Dlq-Seq"
	HdrDLQError     = "Hs-Dlq-Error"
	HdrDLQAttempts  = "Hs-Dlq-Attempts"
	HdrDLQStatus    = "Hs-Dlq-Status"
	HdrDLQAt        = "Hs-Dlq-At"
)
