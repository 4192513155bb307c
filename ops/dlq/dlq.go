// Package dlq is the operator's side of the dead-letter stream: list, show,
// retry and discard the messages processors gave up on (stream DLQ, subjects
// dlq.<processor>), and Capture, which turns JetStream's MAX_DELIVERIES
// advisories into dead letters when a process died before writing one.
//
// A dead letter's id is its sequence in the DLQ stream. It carries the
// original message (body and headers) and, in Hs-Dlq-* headers, where it
// came from: processor, original subject, stream and sequence, the event id,
// the error, the attempts made.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// Entry is one dead letter.
type Entry struct {
	ID        uint64    `json:"id"` // sequence in the DLQ stream
	Processor string    `json:"processor"`
	EventID   string    `json:"event_id"`
	Subject   string    `json:"subject"` // the original subject
	Stream    string    `json:"stream"`  // the original stream
	StreamSeq uint64    `json:"stream_seq"`
	Attempts  int       `json:"attempts"`
	Status    string    `json:"status"` // rejected | dead
	Error     string    `json:"error"`
	At        time.Time `json:"dead_lettered_at"`
	// Captured is true for dead letters written from a MAX_DELIVERIES
	// advisory rather than by the processor itself.
	Captured bool `json:"captured,omitempty"`
	// Header is the original message's headers (without the Hs-Dlq-* ones).
	Header nats.Header `json:"headers,omitempty"`
	Data   []byte      `json:"-"`
}

// HdrDLQCaptured marks a dead letter written by Capture.
const HdrDLQCaptured = "Hs-Dlq-Captured"

// ErrNotFound is returned for an id that is not (or no longer) in the DLQ;
// it is an ops.ErrNotFound.
var ErrNotFound = ops.NotFound("no such dead letter")

func entryFrom(seq uint64, subject string, h nats.Header, data []byte, at time.Time) *Entry {
	e := &Entry{ID: seq, Data: data, At: at, Header: nats.Header{}}
	e.Processor = h.Get(streams.HdrDLQProcessor)
	if e.Processor == "" {
		e.Processor = streams.SubjectTail(subject, "dlq")
	}
	e.EventID = h.Get(streams.HdrDLQEventID)
	e.Subject = h.Get(streams.HdrDLQSubject)
	e.Stream = h.Get(streams.HdrDLQStream)
	e.StreamSeq, _ = strconv.ParseUint(h.Get(streams.HdrDLQSeq), 10, 64)
	e.Attempts, _ = strconv.Atoi(h.Get(streams.HdrDLQAttempts))
	e.Status = h.Get(streams.HdrDLQStatus)
	e.Error = h.Get(streams.HdrDLQError)
	if t, err := time.Parse(time.RFC3339Nano, h.Get(streams.HdrDLQAt)); err == nil {
		e.At = t
	}
	e.Captured = h.Get(HdrDLQCaptured) != ""
	for k, v := range h {
		if strings.HasPrefix(k, "Hs-Dlq-") || k == streams.HdrMsgID {
			continue
		}
		e.Header[k] = v
	}
	return e
}

// Get reads one dead letter.
func Get(ctx context.Context, js jetstream.JetStream, id uint64) (*Entry, error) {
	s, err := js.Stream(ctx, streams.StreamDLQ)
	if err != nil {
		return nil, err
	}
	m, err := s.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	return entryFrom(m.Sequence, m.Subject, m.Header, m.Data, m.Time), nil
}

// List returns the dead letters of one processor (all when processor is
// empty), oldest first; afterSeq skips those up to that DLQ sequence.
func List(ctx context.Context, js jetstream.JetStream, processor string, afterSeq uint64) ([]*Entry, error) {
	filter := streams.SubjectDLQAll
	if processor != "" {
		filter = streams.DLQSubject(processor)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}}
	if afterSeq > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = afterSeq + 1
	}
	c, err := js.OrderedConsumer(ctx, streams.StreamDLQ, cfg)
	if err != nil {
		return nil, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Entry
	for left := int(info.NumPending); left > 0; {
		batch, err := c.Fetch(min(left, 256), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			out = append(out, entryFrom(md.Sequence.Stream, m.Subject(), m.Headers(), m.Data(), md.Timestamp))
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if n == 0 {
			break
		}
		left -= n
	}
	return out, nil
}

// Discard removes a dead letter for good.
func Discard(ctx context.Context, js jetstream.JetStream, id uint64) error {
	s, err := js.Stream(ctx, streams.StreamDLQ)
	if err != nil {
		return err
	}
	err = s.DeleteMsg(ctx, id)
	if err != nil && (errors.Is(err, jetstream.ErrMsgNotFound) || strings.Contains(err.Error(), "no message found")) {
		return fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return err
}

// Message rebuilds the original delivery a processor handles: the original
// subject, headers, stream position and — what makes a retry exactly-once —
// the original event id, which the processed ledger is keyed on.
func (e *Entry) Message() *processors.Message {
	h := nats.Header{}
	for k, v := range e.Header {
		h[k] = append([]string(nil), v...)
	}
	if e.EventID != "" && e.EventID != e.Stream+":"+strconv.FormatUint(e.StreamSeq, 10) {
		h.Set(streams.HdrMsgID, e.EventID)
	}
	m := &processors.Message{
		Subject:   e.Subject,
		Header:    h,
		Data:      e.Data,
		EventID:   e.EventID,
		Stream:    e.Stream,
		StreamSeq: e.StreamSeq,
		Attempt:   e.Attempts + 1,
		WebhookID: h.Get(streams.HdrWebhookID),
		Workspace: h.Get(streams.HdrWorkspaceID),
	}
	if t, err := time.Parse(time.RFC3339Nano, h.Get(streams.HdrReceivedAt)); err == nil {
		m.Received = t
	}
	return m
}

// DropRepeats deletes dead letters written after afterSeq for an original
// message (processor, stream, sequence) that already had an older one — what
// a rebuild or replay produces when it re-handles events that were already
// dead-lettered. It returns how many it dropped.
func DropRepeats(ctx context.Context, js jetstream.JetStream, afterSeq uint64, processorNames []string) (int, error) {
	n := 0
	for _, p := range processorNames {
		all, err := List(ctx, js, p, 0)
		if err != nil {
			return n, err
		}
		seen := map[string]bool{}
		for _, e := range all {
			key := e.Stream + "/" + strconv.FormatUint(e.StreamSeq, 10)
			if e.StreamSeq == 0 {
				continue
			}
			if e.ID > afterSeq && seen[key] {
				if err := Discard(ctx, js, e.ID); err != nil && !errors.Is(err, ErrNotFound) {
					return n, err
				}
				n++
				continue
			}
			if e.ID <= afterSeq {
				seen[key] = true
			}
		}
	}
	return n, nil
}
