package processors

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Processor describes one durable consumer and its handler.
type Processor struct {
	// Name is the processor and durable consumer name (contacts, boards, …).
	Name string
	// Durable overrides the consumer name (a processor reading a second stream
	// uses <processor>-<stream>). Default: Name.
	Durable string
	// Stream is the stream consumed (INGEST, EVENTS, DLQ).
	Stream string
	// Subjects filter the stream.
	Subjects []string
	// Handler does the work.
	Handler HandlerFunc
	// Concurrency bounds handlers running at once. Default 8.
	Concurrency int
	// MaxDeliver is the number of attempts before dead-lettering. Default 8.
	MaxDeliver int
	// AckWait is how long a delivery may stay unacknowledged before the
	// server redelivers it; long handlers call InProgress. Default 30s.
	AckWait time.Duration
	// MaxAckPending bounds deliveries in flight. Default 1024.
	MaxAckPending int
	// OrderKeys, when set, returns identity keys of a message (e.g. a
	// contact's e-mail and phone); messages sharing a key are handled one at
	// a time in delivery order, while unrelated messages run concurrently.
	// This keeps projections deterministic across replays.
	OrderKeys func(m *Message) []string
	// Batch, when set, handles the messages of one pull together (one
	// transaction for many events) in delivery order; Handler still handles
	// the messages Batch hands back with ErrOneByOne, and every retry.
	Batch BatchFunc
	// BatchSize is the most messages one Batch call gets. Default 256
	// (at most the consumer's MaxRequestBatch, 512).
	BatchSize int
	// BatchLinger, when set, lets a batch that is not full wait this long
	// for more messages before it is applied: fewer, larger transactions
	// for processors whose latency matters less than their cost (boards,
	// notify). Default 0: apply at once.
	BatchLinger time.Duration
	// BackoffInitial and BackoffMax shape the capped exponential retry delay
	// (defaults 500ms and 1m).
	BackoffInitial time.Duration
	BackoffMax     time.Duration
}

func (p Processor) withDefaults() Processor {
	if p.Durable == "" {
		p.Durable = p.Name
	}
	if p.Concurrency <= 0 {
		p.Concurrency = 8
	}
	if p.MaxDeliver <= 0 {
		p.MaxDeliver = 8
	}
	if p.AckWait <= 0 {
		p.AckWait = 30 * time.Second
	}
	if p.MaxAckPending <= 0 {
		p.MaxAckPending = 1024
	}
	if p.BatchSize <= 0 {
		p.BatchSize = 256
	}
	p.BatchSize = min(p.BatchSize, maxBatch)
	if p.BackoffInitial <= 0 {
		p.BackoffInitial = 500 * time.Millisecond
	}
	if p.BackoffMax <= 0 {
		p.BackoffMax = time.Minute
	}
	return p
}

// Validate checks the definition.
func (p Processor) Validate() error {
	switch {
	case p.Name == "":
		return errors.New("processors: name required")
	case p.Stream == "":
		return fmt.Errorf("processors: %s: stream required", p.Name)
	case len(p.Subjects) == 0:
		return fmt.Errorf("processors: %s: filter subjects required", p.Name)
	case p.Handler == nil:
		return fmt.Errorf("processors: %s: handler required", p.Name)
	}
	return nil
}

// ConsumerConfig is the durable pull consumer definition.
func (p Processor) ConsumerConfig() jetstream.ConsumerConfig {
	p = p.withDefaults()
	return jetstream.ConsumerConfig{
		Durable:         p.Durable,
		Description:     "hookstream processor " + p.Name,
		AckPolicy:       jetstream.AckExplicitPolicy,
		DeliverPolicy:   jetstream.DeliverAllPolicy,
		AckWait:         p.AckWait,
		MaxDeliver:      p.MaxDeliver,
		MaxAckPending:   p.MaxAckPending,
		FilterSubjects:  p.Subjects,
		MaxRequestBatch: 512,
	}
}
