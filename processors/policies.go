package processors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookstream/hookstream/internal/panics"
)

// The runner's policies, each a Middleware. They share what they learn
// about a delivery through its Message (see delivery); chain.go puts them in
// order.

// recoverPanics turns a panicking handler into a permanent failure, so a
// poison message is dead-lettered instead of crashing the process.
func recoverPanics(log *slog.Logger) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) error {
			err := panics.Call(func() error { return next(ctx, m) })
			if pe, ok := panics.As(err); ok {
				log.Error("handler panic", "seq", m.StreamSeq, "panic", pe.Value, "stack", string(pe.Stack))
				return Permanent(pe)
			}
			return err
		}
	}
}

// retry classifies the handler's result (see Reject, Permanent, RetryAfter):
// a transient failure is redelivered after the capped exponential backoff
// (or RetryAfter's delay, whichever is longer) until maxDeliver attempts,
// and is dead then. It also times the handler.
func retry(maxDeliver int, backoff func(attempt int) time.Duration, log *slog.Logger) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) error {
			start := time.Now()
			err := next(ctx, m)
			d := m.state()
			d.dur += time.Since(start)
			d.last = m.Attempt >= maxDeliver
			switch {
			case errors.Is(err, ErrAlreadyProcessed):
				d.status = StatusDuplicate
			case err == nil:
				d.status = StatusOK
				if m.outcome != nil && m.outcome.status != "" {
					d.status = m.outcome.status
				}
			default:
				kind, delay := classify(err)
				d.err = err
				if kind == StatusRetry && d.last {
					kind = StatusDead
					d.err = fmt.Errorf("gave up after %d attempts: %w", m.Attempt, err)
				}
				// The delay also applies when a dead letter cannot be
				// written and the message is redelivered instead.
				d.status, d.delay = kind, max(delay, backoff(m.Attempt))
				if kind == StatusRetry {
					log.Info("retrying", "seq", m.StreamSeq, "attempt", m.Attempt, "delay", d.delay, "err", err)
				}
			}
			return err
		}
	}
}

// deadLetter writes the message of a terminal failure (rejected, dead) to
// dlq.<processor>. On the last delivery nothing would bring the message
// back, so a failed publish is tried again (five more times, with backoff)
// after giving up the handler slot: the wait holds no worker.
func deadLetter(q dlq, backoff func(attempt int) time.Duration, log *slog.Logger) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, m *Message) error {
			err := next(ctx, m)
			d := m.state()
			if d.err == nil || d.status == StatusRetry {
				return err
			}
			derr := q.publish(m, d)
			if derr != nil && d.last {
				if d.yield != nil {
					d.yield()
				}
				for i := 1; derr != nil && i <= 5; i++ {
					<-time.After(backoff(i))
					derr = q.publish(m, d)
				}
			}
			d.deadLettered, d.dlqErr = derr == nil, derr
			switch {
			case derr == nil:
				log.Warn("dead-lettered", "seq", m.StreamSeq, "event_id", m.EventID, "status", d.status, "err", d.err)
			case d.last:
				log.Error("dead-letter publish failed on the last delivery; the message stays only in its stream",
					"seq", m.StreamSeq, "event_id", m.EventID, "err", derr)
			default:
				log.Error("dead-letter publish failed; will retry on redelivery", "seq", m.StreamSeq, "err", derr)
			}
			return err
		}
	}
}

// recordOutcome stores the delivery's outcome before it is settled, which
// keeps the audit trail in attempt order: the next delivery cannot start
// before this attempt's row exists. A failure to record is logged, never
// allowed to fail the message.
func recordOutcome(processor string, rec OutcomeRecorder, log *slog.Logger) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		if rec == nil {
			return next
		}
		return func(ctx context.Context, m *Message) error {
			err := next(ctx, m)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if rerr := rec.Record(rctx, outcomeOf(processor, m)); rerr != nil {
				log.Warn("recording outcome failed", "seq", m.StreamSeq, "err", rerr)
			}
			return err
		}
	}
}

// observe tells fn (Runner.Observe: Prometheus metrics) every outcome.
func observe(processor string, fn func(Outcome)) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		if fn == nil {
			return next
		}
		return func(ctx context.Context, m *Message) error {
			err := next(ctx, m)
			fn(outcomeOf(processor, m))
			return err
		}
	}
}
