package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config describes the three streams. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// Replicas is the replication factor of every stream: 1 on a single
	// server, 3 on a cluster.
	Replicas int
	// Duplicates is the INGEST de-duplication window (Nats-Msg-Id). Long-lived
	// idempotency is the processors' job (processed table); this window only
	// absorbs quick sender retries. Default 10 min.
	Duplicates time.Duration
	// IngestMaxAge bounds how long raw events are kept. Default 90 days.
	IngestMaxAge time.Duration
	// EventsMaxAge bounds domain events. Default 90 days.
	EventsMaxAge time.Duration
	// MaxMsgSize caps one message (body + headers). Default 2 MiB: the
	// gateway's body limit is 1 MiB.
	MaxMsgSize int32
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Replicas:     1,
		Duplicates:   10 * time.Minute,
		IngestMaxAge: 90 * 24 * time.Hour,
		EventsMaxAge: 90 * 24 * time.Hour,
		MaxMsgSize:   2 << 20,
	}
}

// Validate reports a setting the server would reject or that loses data.
func (c Config) Validate() error {
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("streams: replicas must be 1..5, got %d", c.Replicas)
	case c.Duplicates <= 0:
		return errors.New("streams: duplicates window must be positive")
	case c.IngestMaxAge > 0 && c.Duplicates > c.IngestMaxAge:
		return errors.New("streams: duplicates window exceeds ingest max age")
	case c.MaxMsgSize <= 0:
		return errors.New("streams: max message size must be positive")
	}
	return nil
}

// StreamConfigs returns the JetStream definitions for INGEST, EVENTS and DLQ.
func (c Config) StreamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:        StreamIngest,
			Description: "Raw webhook and form requests exactly as received",
			Subjects:    []string{SubjectIngestAll},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      c.IngestMaxAge,
			Duplicates:  c.Duplicates,
			Replicas:    c.Replicas,
			MaxMsgSize:  c.MaxMsgSize,
		},
		{
			Name:        StreamEvents,
			Description: "Domain events emitted by processors",
			Subjects:    []string{SubjectEventsAll},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      c.EventsMaxAge,
			Duplicates:  c.Duplicates,
			Replicas:    c.Replicas,
			MaxMsgSize:  c.MaxMsgSize,
		},
		{
			Name:        StreamDLQ,
			Description: "Messages a processor gave up on (kept until discarded)",
			Subjects:    []string{SubjectDLQAll},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			Duplicates:  c.Duplicates,
			Replicas:    c.Replicas,
			MaxMsgSize:  c.MaxMsgSize + 64<<10,
		},
	}
}

// Ensure creates the streams or updates them to the configuration; running it
// on every start is safe.
func Ensure(ctx context.Context, js jetstream.JetStream, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, sc := range c.StreamConfigs() {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("streams: ensure %s: %w", sc.Name, err)
		}
	}
	return nil
}

// Check reports whether every stream exists (used by /readyz).
func Check(ctx context.Context, js jetstream.JetStream) error {
	for _, name := range []string{StreamIngest, StreamEvents, StreamDLQ} {
		if _, err := js.Stream(ctx, name); err != nil {
			return fmt.Errorf("streams: %s: %w", name, err)
		}
	}
	return nil
}
