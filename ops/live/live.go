// Package live reads the live notification feed: the notices the notify
// processor publishes on events.notification.live in EVENTS. A notice's
// position is its sequence in EVENTS, so a reader that saw notice N resumes
// right after it.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/streams"
)

// Query says where a feed starts and what it shows.
type Query struct {
	// After resumes right after the notice with this sequence (a browser's
	// Last-Event-ID). Zero: start with new notices, or at Since.
	After uint64
	// Since starts with the notices published at or after it (when After
	// is zero).
	Since time.Time
	// Workspace shows only that workspace's notices; empty: all.
	Workspace string
}

// Notice is one notification as the notify processor published it.
type Notice struct {
	Seq  uint64          // its sequence in EVENTS: the feed's position
	Data json.RawMessage // the notice, one JSON object
}

// Feed reads the live feed from JetStream.
type Feed struct {
	JS  jetstream.JetStream
	Log *slog.Logger
}

// Open starts reading; the feed's starting position is fixed when Open
// returns (a notice published afterwards is delivered). The channel closes
// when ctx ends or the stream cannot be read any more. Without JetStream,
// or when the stream refuses a reader, Open returns an ops.ErrUnavailable.
func (f Feed) Open(ctx context.Context, q Query) (<-chan Notice, error) {
	if f.JS == nil {
		return nil, fmt.Errorf("live feed: no JetStream connection: %w", ops.ErrUnavailable)
	}
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{streams.SubjectNotificationLive},
		DeliverPolicy: jetstream.DeliverNewPolicy}
	switch {
	case q.After > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, q.After+1
	case !q.Since.IsZero():
		t := q.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	cons, err := f.JS.OrderedConsumer(ctx, streams.StreamEvents, cfg)
	if err != nil {
		return nil, fmt.Errorf("live feed: consumer: %w: %w", err, ops.ErrUnavailable)
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(64))
	if err != nil {
		return nil, fmt.Errorf("live feed: read: %w: %w", err, ops.ErrUnavailable)
	}
	// Next blocks until a message arrives; stopping the iterator is what
	// ends it when ctx does.
	stop := context.AfterFunc(ctx, iter.Stop)
	out := make(chan Notice)
	go func() {
		defer close(out)
		defer stop()
		defer iter.Stop()
		for {
			m, err := iter.Next()
			if err != nil {
				if !errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() == nil {
					log.Warn("live feed: read", "err", err)
				}
				return
			}
			n, ok := notice(m, q.Workspace)
			if !ok {
				continue
			}
			select {
			case out <- n:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// notice turns a message into a Notice when it is one of workspace's.
func notice(m jetstream.Msg, workspace string) (Notice, bool) {
	if workspace != "" {
		var n struct {
			Workspace string `json:"workspace_id"`
		}
		if json.Unmarshal(m.Data(), &n) != nil || n.Workspace != workspace {
			return Notice{}, false
		}
	}
	md, err := m.Metadata()
	if err != nil {
		return Notice{}, false
	}
	return Notice{Seq: md.Sequence.Stream, Data: m.Data()}, true
}
