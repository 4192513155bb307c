package processors

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// delivery is what the policies learn about one delivery of a message, from
// the innermost out: the retry policy classifies the handler's result, the
// dead-letter policy says whether the dead letter was written. verdict turns
// that into the delivery's one status and settlement.
type delivery struct {
	dur    time.Duration // handler time (a BatchFunc's for the batch's messages)
	err    error         // the handler's failure; nil on success
	status string        // what the result asks for (ok, skipped, duplicate, retry, rejected, dead)
	delay  time.Duration // the Nak's delay, if it is redelivered
	last   bool          // MaxDeliver reached: no redelivery follows

	deadLettered bool  // the dead letter is in dlq.<processor>
	dlqErr       error // why it is not

	yield func() // releases the handler slot, for a wait that needs none
}

// state is m's delivery, created for a Message the runner did not make.
func (m *Message) state() *delivery {
	if m.d == nil {
		m.d = &delivery{}
	}
	return m.d
}

// settlement is what happens to a delivery once its outcome is recorded.
type settlement int

const (
	settleAck  settlement = iota // done
	settleNak                    // redelivered after the delay
	settleTerm                   // dead-lettered: never redelivered
	settleNone                   // the last delivery with no dead letter: left to expire
)

// verdict is a delivery's status, error text and settlement.
type verdict struct {
	status string
	err    string
	settle settlement
	delay  time.Duration
}

// verdict decides the delivery's status, once, from what the policies
// learnt. A delivery is terminated only when its dead letter exists; without
// one it is redelivered (and dead-lettered then), or on its last delivery
// left in its stream, the only place that still holds it.
func (d *delivery) verdict() verdict {
	switch {
	case d.err == nil:
		return verdict{status: d.status, settle: settleAck}
	case d.status == StatusRetry:
		return verdict{status: StatusRetry, err: d.err.Error(), settle: settleNak, delay: d.delay}
	case d.deadLettered:
		return verdict{status: d.status, err: d.err.Error(), settle: settleTerm}
	}
	text := fmt.Sprintf("dead-letter publish failed: %v; %s", d.dlqErr, d.err)
	if d.last {
		return verdict{status: d.status, err: text, settle: settleNone}
	}
	return verdict{status: StatusRetry, err: text, settle: settleNak, delay: d.delay}
}

// outcomeOf is the outcome row of m's delivery for processor.
func outcomeOf(processor string, m *Message) Outcome {
	d := m.state()
	v := d.verdict()
	o := Outcome{Processor: processor, EventID: m.EventID, WebhookID: m.WebhookID, Workspace: m.Workspace,
		Subject: m.Subject, StreamSeq: m.StreamSeq, Attempts: m.Attempt, Duration: d.dur, Received: m.Received,
		Status: v.status, Error: v.err}
	if m.outcome != nil {
		o.Detail = m.outcome.detail
	}
	return o
}

// settle acknowledges, naks or terminates jm as its verdict says. An ack is
// a DoubleAck (the batch path acks together and confirms with one flush).
func (w *worker) settle(jm jetstream.Msg, m *Message) {
	v := m.state().verdict()
	var err error
	switch v.settle {
	case settleAck:
		// Its own deadline: a handler that used up its context must still
		// be able to ack what it committed.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = jm.DoubleAck(ctx)
		cancel()
	case settleNak:
		err = jm.NakWithDelay(v.delay)
	case settleTerm:
		err = jm.Term()
	case settleNone:
		return
	}
	if err != nil {
		w.log.Warn("settling failed; the message will be redelivered", "seq", m.StreamSeq, "status", v.status, "err", err)
	}
}

// yielder releases a handler slot once, whether a policy yields it early or
// the handler's goroutine ends.
func yielder(release func()) func() {
	var once sync.Once
	return func() { once.Do(release) }
}
