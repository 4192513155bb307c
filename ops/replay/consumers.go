package replay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/streams"
)

// Consumer names one durable consumer of a processor.
type Consumer struct {
	Stream  string `json:"stream"`
	Durable string `json:"consumer"`
}

func (c Consumer) String() string { return c.Stream + "/" + c.Durable }

// Streams a processor may consume.
var Streams = []string{streams.StreamIngest, streams.StreamEvents, streams.StreamDLQ}

// ConsumersOf finds a processor's durable consumers on the server: the one
// named after it and those named <processor>-… (<processor>-<stream>,
// and notify's per-channel notify-email…), on any of Streams. name may also be
// one durable ("mailerlite-ingest"), which then is the only one returned.
func ConsumersOf(ctx context.Context, js jetstream.JetStream, name string) ([]Consumer, error) {
	var all []Consumer
	for _, st := range Streams {
		s, err := js.Stream(ctx, st)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", st, err)
		}
		names := s.ConsumerNames(ctx)
		for n := range names.Name() {
			if n == name || strings.HasPrefix(n, name+"-") {
				all = append(all, Consumer{st, n})
			}
		}
		if err := names.Err(); err != nil {
			return nil, fmt.Errorf("consumers of %s: %w", st, err)
		}
	}
	sortConsumers(all)
	return all, nil
}

// consumersFor finds the consumers of a spec: its Durables, or those of
// its processor.
func consumersFor(ctx context.Context, js jetstream.JetStream, s Spec) ([]Consumer, error) {
	if len(s.Durables) == 0 {
		return ConsumersOf(ctx, js, s.Processor)
	}
	var out []Consumer
	for _, d := range s.Durables {
		cs, err := ConsumersOf(ctx, js, d)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if c.Durable == d {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// StartSeq finds the first sequence of stream at or after t among the
// messages matching filters (all messages when none): the point a --since
// replay starts from. ok is false when nothing that recent exists.
func StartSeq(ctx context.Context, js jetstream.JetStream, stream string, filters []string, t time.Time) (seq uint64, ok bool, err error) {
	oc, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters,
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &t,
	})
	if err != nil {
		return 0, false, err
	}
	info, err := oc.Info(ctx)
	if err != nil {
		return 0, false, err
	}
	if info.NumPending == 0 {
		return 0, false, nil
	}
	m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		return 0, false, err
	}
	md, err := m.Metadata()
	if err != nil {
		return 0, false, err
	}
	return md.Sequence.Stream, true, nil
}

// ErrResetUnsupported means the server has no consumer reset API (NATS
// Server before 2.12).
var ErrResetUnsupported = errors.New("the NATS server cannot reset consumers (needs nats-server 2.12 or newer)")

// resetTo moves a durable consumer's delivery point to seq: everything from
// seq on is delivered again, its pending deliveries are forgotten and its
// redelivery counts start over. With the reset API (nats-server ≥ 2.12) the
// consumer stays in place and the processors consuming it simply receive the
// older messages next. Without it, a reset to sequence 1 deletes and
// recreates the durable with the same configuration (a DeliverAll consumer
// starts at 1); other sequences need the API.
func resetTo(ctx context.Context, js jetstream.JetStream, c Consumer, seq uint64) error {
	_, err := js.ResetConsumerToSequence(ctx, c.Stream, c.Durable, seq)
	if err == nil {
		return nil
	}
	if errors.Is(err, jetstream.ErrConsumerInvalidReset) {
		return fmt.Errorf("%s: reset to %d refused (the consumer's deliver policy starts later): %w", c, seq, err)
	}
	if !unsupported(err) {
		return fmt.Errorf("%s: reset to %d: %w", c, seq, err)
	}
	if seq != 1 {
		return fmt.Errorf("%s: %w", c, ErrResetUnsupported)
	}
	cons, err := js.Consumer(ctx, c.Stream, c.Durable)
	if err != nil {
		return err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	cfg := info.Config
	if cfg.DeliverPolicy != jetstream.DeliverAllPolicy {
		return fmt.Errorf("%s: %w", c, ErrResetUnsupported)
	}
	if err := js.DeleteConsumer(ctx, c.Stream, c.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return err
	}
	cfg.PauseUntil = nil
	_, err = js.CreateConsumer(ctx, c.Stream, cfg)
	return err
}

func unsupported(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) || strings.Contains(strings.ToLower(err.Error()), "unknown")
}

// stateOf is a snapshot of one consumer's position.
type stateOf struct {
	delivered  uint64 // deliveries since the reset
	ackPending int
	pending    uint64
	ackFloor   uint64 // stream sequence
	redeliv    int
}

func consumerState(ctx context.Context, js jetstream.JetStream, c Consumer) (stateOf, *jetstream.ConsumerInfo, error) {
	cons, err := js.Consumer(ctx, c.Stream, c.Durable)
	if err != nil {
		return stateOf{}, nil, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return stateOf{}, nil, err
	}
	return stateOf{delivered: info.Delivered.Consumer, ackPending: info.NumAckPending, pending: info.NumPending,
		ackFloor: info.AckFloor.Stream, redeliv: info.NumRedelivered}, info, nil
}

func lastSeq(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

func sortConsumers(cs []Consumer) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].String() < cs[j].String() })
}
