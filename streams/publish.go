package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrPublish wraps every failure to get a PubAck: the caller must not report
// success (the gateway answers 503 with Retry-After).
var ErrPublish = errors.New("streams: publish not acknowledged")

// Publisher publishes with a Nats-Msg-Id and waits for the stream's PubAck.
// Concurrent callers share the connection's asynchronous publish pipeline
// (PublishMsgAsync), so many requests travel in one round trip ("group commit")
// while each still waits for its own acknowledgement.
type Publisher struct {
	JS jetstream.JetStream

	timers sync.Pool // *time.Timer, stopped (PublishTimeout)
}

// Publish stores msg (whose Nats-Msg-Id header must be set) and returns the
// acknowledgement. It returns only once the stream has the message, or with an
// error wrapping ErrPublish.
func (p *Publisher) Publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	return p.publish(ctx, msg, nil)
}

// PublishTimeout is Publish(ctx', msg) with ctx' = context.WithTimeout(ctx, d),
// without deriving that context: WithTimeout allocates a timer context and
// registers it with its parent (a map insert and delete under the parent's
// lock) on every call, which the gateway's CPU profile showed on every
// request. The deadline starts before the publish, as it would with the
// derived context, and runs on a pooled timer.
func (p *Publisher) PublishTimeout(ctx context.Context, msg *nats.Msg, d time.Duration) (*jetstream.PubAck, error) {
	t := p.startTimer(d)
	defer p.stopTimer(t)
	return p.publish(ctx, msg, t.C)
}

// publish is Publish with an extra deadline (nil: none but ctx's).
func (p *Publisher) publish(ctx context.Context, msg *nats.Msg, deadline <-chan time.Time) (*jetstream.PubAck, error) {
	if msg.Header.Get(nats.MsgIdHdr) == "" {
		return nil, fmt.Errorf("%w: %s has no %s", ErrPublish, msg.Subject, nats.MsgIdHdr)
	}
	f, err := p.JS.PublishMsgAsync(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPublish, err)
	}
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, fmt.Errorf("%w: %w", ErrPublish, err)
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrPublish, ctx.Err())
	case <-deadline:
		return nil, fmt.Errorf("%w: %w", ErrPublish, context.DeadlineExceeded)
	}
}

func (p *Publisher) startTimer(d time.Duration) *time.Timer {
	if t, ok := p.timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// stopTimer returns t to the pool. Since Go 1.23 a stopped timer's channel
// holds no stale tick, so the next Reset starts clean.
func (p *Publisher) stopTimer(t *time.Timer) {
	t.Stop()
	p.timers.Put(t)
}

// NewMsg builds a message with the dedup id set.
func NewMsg(subject, msgID string, body []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(nats.MsgIdHdr, msgID)
	return m
}
