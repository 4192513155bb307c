package pipelinetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/processors"
)

// Run is a processors.Runner running in the background.
type Run struct {
	Runner *processors.Runner
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// NewRunner returns a Runner on the env's JetStream that records outcomes in
// its database and logs to the test log. Adjust it, then StartRunner.
// With a gateway it is the pipeline's runner shape: the env's one
// GroupedOutcomes and the per-processor metrics.
func (e *Env) NewRunner() *processors.Runner {
	if e.Pipeline != nil {
		return e.Pipeline.NewRunner()
	}
	return &processors.Runner{JS: e.JS, Outcomes: &processors.GroupedOutcomes{DB: e.DB}, Log: e.Log}
}

// Start runs procs on a new Runner until Stop or test end, and returns once
// every durable consumer exists. Several Runs may share a processor's
// durable (several `hookstream process` copies).
func (e *Env) Start(procs ...processors.Processor) *Run {
	e.T.Helper()
	return e.StartRunner(e.NewRunner(), procs...)
}

// StartRunner is Start with a given Runner.
func (e *Env) StartRunner(r *processors.Runner, procs ...processors.Processor) *Run {
	e.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rn := &Run{Runner: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rn.done <- r.Run(ctx, procs...) }()
	e.T.Cleanup(func() {
		if err := rn.Stop(); err != nil {
			e.T.Errorf("pipelinetest: runner: %v", err)
		}
	})
	for _, p := range procs {
		durable := p.Durable
		if durable == "" {
			durable = p.Name
		}
		e.Eventually(10*time.Second, func() error {
			if !rn.Running() {
				return fmt.Errorf("runner returned early: %w", rn.Stop())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := e.JS.Consumer(ctx, p.Stream, durable)
			return err
		})
	}
	return rn
}

// Cancel ends the runner's context without waiting for it (Stop waits), so
// a test can act while the runner drains.
func (r *Run) Cancel() { r.cancel() }

// Stop ends the runner and waits until its in-flight handlers finished.
func (r *Run) Stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(30 * time.Second):
			r.err = errors.New("pipelinetest: runner did not stop within 30s")
		}
	})
	return r.err
}

// Running reports whether the runner is still running (Run has not
// returned).
func (r *Run) Running() bool {
	select {
	case err := <-r.done:
		r.done <- err
		return false
	default:
		return true
	}
}

// DeleteConsumer removes a durable consumer (a replay from sequence 1 then
// recreates it); a missing consumer is not an error.
func (e *Env) DeleteConsumer(stream, durable string) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.JS.DeleteConsumer(ctx, stream, durable)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		e.T.Fatalf("pipelinetest: delete consumer %s/%s: %v", stream, durable, err)
	}
}

// WaitIdle waits until a durable consumer has delivered everything in its
// stream and every delivery was acknowledged or terminated (messages waiting
// for a retry count as not idle).
func (e *Env) WaitIdle(total time.Duration, stream, durable string) {
	e.T.Helper()
	e.Eventually(total, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return ConsumerIdle(ctx, e.JS, stream, durable)
	})
}

// ConsumerIdle reports (as an error) what a durable consumer still has to
// do: nil once it has delivered everything in its stream and every delivery
// was acknowledged or terminated.
func ConsumerIdle(ctx context.Context, js jetstream.JetStream, stream, durable string) error {
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return err
	}
	if info.NumPending > 0 || info.NumAckPending > 0 {
		return fmt.Errorf("%s/%s: %d pending, %d unacknowledged (%d redelivered; delivered up to %d, acknowledged up to %d)",
			stream, durable, info.NumPending, info.NumAckPending, info.NumRedelivered, info.Delivered.Stream, info.AckFloor.Stream)
	}
	// The pending count of a consumer with several filters catches up with
	// a publish asynchronously: also wait until the last message its
	// filters match has been delivered.
	last, err := lastMatching(ctx, js, stream, info.Config)
	if err != nil {
		return err
	}
	if info.Delivered.Stream < last {
		return fmt.Errorf("%s/%s: delivered up to %d, the stream holds a match at %d",
			stream, durable, info.Delivered.Stream, last)
	}
	return nil
}

// lastMatching is the stream sequence of the last message a consumer's
// filters match (0 if none).
func lastMatching(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (uint64, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	filters := cfg.FilterSubjects
	if cfg.FilterSubject != "" {
		filters = append(filters, cfg.FilterSubject)
	}
	if len(filters) == 0 {
		filters = []string{">"}
	}
	var last uint64
	for _, f := range filters {
		m, err := st.GetLastMsgForSubject(ctx, f)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		last = max(last, m.Sequence)
	}
	return last, nil
}
