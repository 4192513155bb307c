// Package processors runs Hookstream's durable JetStream consumers: one pull
// consumer per processor, a bounded pool of handlers, acks only after the
// handler's work committed, retries with capped exponential backoff
// (NakWithDelay), dead letters to dlq.<processor>, and a recorded outcome for
// every attempt. Each processor lives in its own sub-package.
package processors

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/streams"
)

// Message is one delivery as a handler sees it.
type Message struct {
	Subject   string
	Header    nats.Header
	Data      []byte
	EventID   string // the source's stable id (Nats-Msg-Id; "<stream>:<seq>" if absent): the idempotency key
	Stream    string
	StreamSeq uint64
	Attempt   int // 1 on the first delivery
	WebhookID string
	Workspace string
	Received  time.Time // Hs-Received-At, zero if absent
	Published time.Time // when the stream stored the message (a replay sees it again)

	// Scratch lets a processor keep work done in OrderKeys (a parsed body)
	// for its handler.
	Scratch any

	raw     jetstream.Msg
	outcome *outcomeNote
	d       *delivery // what the runner's policies learn about this delivery
}

type outcomeNote struct {
	status string
	detail json.RawMessage
}

// SetOutcome overrides the recorded status of a successful handling
// ("skipped", "unhandled", "duplicate", …) and attaches a JSON detail (the
// contacts result, per-step timings) to the outcome row.
func (m *Message) SetOutcome(status string, detail any) {
	if m.outcome == nil {
		m.outcome = &outcomeNote{}
	}
	if status != "" {
		m.outcome.status = status
	}
	if detail != nil {
		if b, err := json.Marshal(detail); err == nil {
			m.outcome.detail = b
		}
	}
}

// InProgress tells the server the handler is still working (resets AckWait).
func (m *Message) InProgress() error {
	if m.raw == nil {
		return nil
	}
	return m.raw.InProgress()
}

func newMessage(jm jetstream.Msg) *Message {
	m := &Message{Subject: jm.Subject(), Header: jm.Headers(), Data: jm.Data(), raw: jm}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	if md, err := jm.Metadata(); err == nil {
		m.Stream, m.StreamSeq, m.Attempt = md.Stream, md.Sequence.Stream, int(md.NumDelivered)
		m.Published = md.Timestamp
	}
	m.EventID = m.Header.Get(streams.HdrMsgID)
	if m.EventID == "" && m.Stream != "" {
		// Published without a dedup id (by hand, with the nats CLI): the
		// stream position is the only stable identity it has.
		m.EventID = m.Stream + ":" + strconv.FormatUint(m.StreamSeq, 10)
	}
	m.WebhookID = m.Header.Get(streams.HdrWebhookID)
	m.Workspace = m.Header.Get(streams.HdrWorkspaceID)
	if t, err := time.Parse(time.RFC3339Nano, m.Header.Get(streams.HdrReceivedAt)); err == nil {
		m.Received = t
	}
	return m
}

// HandlerFunc handles one message. Returning nil acks it; see Reject,
// RetryAfter and Permanent for the other outcomes; any other error is
// transient and retried with backoff.
type HandlerFunc func(ctx context.Context, m *Message) error

// Middleware wraps a handler (metrics, tracing, …).
type Middleware func(HandlerFunc) HandlerFunc
