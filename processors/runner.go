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
	// Middleware wraps every handler, outermost first.
	Middleware []Middleware
	// Observe, when set, is told every outcome (Prometheus metrics).
	Observe func(o Outcome)
}

// Run creates or updates each processor's durable consumer, consumes until ctx
// ends, then drains: no new deliveries, in-flight handlers finish and ack.
func (r *Runner) Run(ctx context.Context, procs ...Processor) error {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	var stops []func()
	for _, p := range procs {
		if err := p.Validate(); err != nil {
			return err
		}
		p = p.withDefaults()
		cons, err := r.JS.CreateOrUpdateConsumer(ctx, p.Stream, p.ConsumerConfig())
		if err != nil {
			return fmt.Errorf("processors: %s: consumer: %w", p.Name, err)
		}
		w := &worker{p: p, r: r, log: log.With("processor", p.Name), sem: make(chan struct{}, p.Concurrency), wg: &wg,
			tails: map[string]chan struct{}{}}
		h := p.Handler
		for i := len(r.Middleware) - 1; i >= 0; i-- {
			h = r.Middleware[i](h)
		}
		w.h = h
		cc, err := cons.Consume(w.dispatch,
			jetstream.PullMaxMessages(min(p.MaxAckPending, 256)),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				if !errors.Is(err, jetstream.ErrNoHeartbeat) {
					w.log.Debug("consume", "err", err)
				}
			}))
		if err != nil {
			return fmt.Errorf("processors: %s: consume: %w", p.Name, err)
		}
		stops = append(stops, cc.Stop)
		log.Info("processor started", "processor", p.Name, "stream", p.Stream, "subjects", p.Subjects)
	}
	<-ctx.Done()
	for _, stop := range stops {
		stop()
	}
	wg.Wait()
	return nil
}

type worker struct {
	p   Processor
	r   *Runner
	h   HandlerFunc
	log *slog.Logger
	sem chan struct{}
	wg  *sync.WaitGroup

	mu    sync.Mutex
	tails map[string]chan struct{} // per order key: closed when its last message is done
}

// dispatch is called by the consumer for each delivery; it blocks while
// Concurrency handlers run, which in turn holds back pulls.
func (w *worker) dispatch(jm jetstream.Msg) {
	m := newMessage(jm)
	var keys []string
	var waits []chan struct{}
	var done chan struct{}
	if w.p.OrderKeys != nil {
		keys = w.p.OrderKeys(m)
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
	w.sem <- struct{}{}
	w.wg.Add(1)
	go func() {
		defer func() { <-w.sem; w.wg.Done() }()
		for _, t := range waits {
			<-t
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

func (w *worker) handle(jm jetstream.Msg, m *Message) {
	// Handlers run to completion even during shutdown: a half-done handler
	// would only be redone on redelivery, but finishing saves the work.
	ctx, cancel := context.WithTimeout(context.Background(), w.p.AckWait*4)
	defer cancel()
	stopProgress := w.keepAlive(m)
	start := time.Now()
	err := w.safeCall(ctx, m)
	stopProgress()
	dur := time.Since(start)

	o := Outcome{Processor: w.p.Name, EventID: m.EventID, WebhookID: m.WebhookID, Workspace: m.Workspace,
		Subject: m.Subject, StreamSeq: m.StreamSeq, Attempts: m.Attempt, Duration: dur, Received: m.Received}
	if m.outcome != nil {
		o.Detail = m.outcome.detail
	}
	switch {
	case err == nil || errors.Is(err, ErrAlreadyProcessed):
		o.Status = StatusOK
		if errors.Is(err, ErrAlreadyProcessed) {
			o.Status = StatusDuplicate
		} else if m.outcome != nil && m.outcome.status != "" {
			o.Status = m.outcome.status
		}
		if aerr := jm.DoubleAck(ctx); aerr != nil {
			w.log.Warn("ack failed; the message will be redelivered", "seq", m.StreamSeq, "err", aerr)
		}
	default:
		kind, delay := classify(err)
		o.Error = err.Error()
		if kind == StatusRetry && m.Attempt >= w.p.MaxDeliver {
			kind = StatusDead
			o.Error = fmt.Sprintf("gave up after %d attempts: %v", m.Attempt, err)
		}
		o.Status = kind
		if kind == StatusRetry {
			if d := w.backoff(m.Attempt); d > delay {
				delay = d
			}
			if nerr := jm.NakWithDelay(delay); nerr != nil {
				w.log.Warn("nak failed", "seq", m.StreamSeq, "err", nerr)
			}
			w.log.Info("retrying", "seq", m.StreamSeq, "attempt", m.Attempt, "delay", delay, "err", err)
		} else {
			w.deadLetter(ctx, m, o)
		}
	}
	if w.r.Outcomes != nil {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if rerr := w.r.Outcomes.Record(rctx, o); rerr != nil {
			w.log.Warn("recording outcome failed", "err", rerr)
		}
		rcancel()
	}
	if w.r.Observe != nil {
		w.r.Observe(o)
	}
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

// keepAlive signals InProgress while a handler runs longer than a third of
// AckWait, so slow external calls are not redelivered mid-flight.
func (w *worker) keepAlive(m *Message) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(w.p.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				m.InProgress()
			}
		}
	}()
	return func() { close(done) }
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
// wrong, then terminates the delivery. If the DLQ publish fails the message
// is not terminated: it is redelivered and dead-lettered again later.
func (w *worker) deadLetter(ctx context.Context, m *Message, o Outcome) {
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
	if _, err := w.r.JS.PublishMsg(ctx, dm); err != nil {
		w.log.Error("dead-letter publish failed; will retry on redelivery", "seq", m.StreamSeq, "err", err)
		jmNak(m, w.p.BackoffMax)
		return
	}
	if err := m.raw.Term(); err != nil {
		w.log.Warn("term failed", "seq", m.StreamSeq, "err", err)
	}
	w.log.Warn("dead-lettered", "seq", m.StreamSeq, "event_id", m.EventID, "status", o.Status, "err", o.Error)
}

func jmNak(m *Message, d time.Duration) {
	if m.raw != nil {
		m.raw.NakWithDelay(d)
	}
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
