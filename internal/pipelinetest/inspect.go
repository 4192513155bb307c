package pipelinetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/streams"
)

// Eventually polls f every 10 ms until it returns nil, failing the test
// with f's last error after total.
func (e *Env) Eventually(total time.Duration, f func() error) {
	e.T.Helper()
	testutil.CheckFor(e.T, total, 10*time.Millisecond, f)
}

// Count runs a SELECT count(*)-like query returning one integer.
func (e *Env) Count(sql string, args ...any) int {
	e.T.Helper()
	var n int
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.DB.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		e.T.Fatalf("pipelinetest: %s: %v", sql, err)
	}
	return n
}

// Outcome is one event_outcomes row.
type Outcome struct {
	Processor string
	EventID   string
	WebhookID string
	Subject   string
	StreamSeq int64
	Status    string
	Attempts  int
	Error     string
	Detail    json.RawMessage
}

// Outcomes returns a processor's recorded attempts for an event, oldest first.
func (e *Env) Outcomes(processor, eventID string) []Outcome {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := e.DB.Query(ctx, `SELECT processor, event_id, COALESCE(webhook_id,''), subject,
		COALESCE(stream_seq,0), status, attempts, COALESCE(error,''), detail
		FROM event_outcomes WHERE processor=$1 AND event_id=$2 ORDER BY id`, processor, eventID)
	if err != nil {
		e.T.Fatalf("pipelinetest: outcomes: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Outcome])
	if err != nil {
		e.T.Fatalf("pipelinetest: outcomes: %v", err)
	}
	return out
}

// WaitOutcome waits (up to 15 s) for an outcome of the event with one of the
// statuses (any status when none is given) and returns the first such row.
// Outcomes are recorded after the ack or term: wait for them rather than
// for WaitIdle when a test looks at them.
func (e *Env) WaitOutcome(processor, eventID string, statuses ...string) Outcome {
	e.T.Helper()
	var got Outcome
	e.Eventually(15*time.Second, func() error {
		os := e.Outcomes(processor, eventID)
		for _, o := range os {
			if len(statuses) == 0 || slices.Contains(statuses, o.Status) {
				got = o
				return nil
			}
		}
		return fmt.Errorf("no %s outcome %v for %s yet (have %+v)", processor, statuses, eventID, os)
	})
	return got
}

// WaitOutcomes waits (up to 15 s) until the event has at least n recorded
// outcomes and returns them all. Outcomes are recorded after the ack, so a
// consumer being idle (WaitIdle) does not mean its last outcomes are in.
func (e *Env) WaitOutcomes(processor, eventID string, n int) []Outcome {
	e.T.Helper()
	var os []Outcome
	e.Eventually(15*time.Second, func() error {
		if os = e.Outcomes(processor, eventID); len(os) < n {
			return fmt.Errorf("%d of %d %s outcomes for %s", len(os), n, processor, eventID)
		}
		return nil
	})
	return os
}

// Result is a processor's stored answer for a source event (what ?wait
// merges), nil when there is none.
func (e *Env) Result(processor, eventID string) json.RawMessage {
	e.T.Helper()
	var b []byte
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.DB.QueryRow(ctx, `SELECT body FROM results WHERE processor=$1 AND event_id=$2`,
		processor, eventID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		e.T.Fatalf("pipelinetest: result: %v", err)
	}
	return b
}

// Msg is one stored stream message.
type Msg struct {
	Subject string
	Seq     uint64
	Header  nats.Header
	Data    []byte
}

// MsgID is the message's Nats-Msg-Id.
func (m Msg) MsgID() string { return m.Header.Get(streams.HdrMsgID) }

// JSON decodes the body into v.
func (m Msg) JSON(v any) error { return json.Unmarshal(m.Data, v) }

// Messages returns every message of stream whose subject matches filter (a
// NATS subject with wildcards), in stream order.
func (e *Env) Messages(stream, filter string) []Msg {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ms, err := ReadStream(ctx, e.JS, stream, filter)
	if err != nil {
		e.T.Fatalf("pipelinetest: %v", err)
	}
	return ms
}

// ReadStream returns every message of stream whose subject matches filter,
// in stream order (for tests whose streams are not an Env's, such as a
// subprocess's server).
func ReadStream(ctx context.Context, js jetstream.JetStream, stream, filter string) ([]Msg, error) {
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	var out []Msg
	for left := int(info.NumPending); left > 0; {
		// Fetch waits for the first delivery, which may trail Info.
		batch, err := c.Fetch(min(left, 256), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			var seq uint64
			if md != nil {
				seq = md.Sequence.Stream
			}
			out = append(out, Msg{Subject: m.Subject(), Seq: seq, Header: m.Headers(), Data: m.Data()})
			n++
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		if n == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("read %s: %d messages missing", stream, left)
		}
		left -= n
	}
	return out, nil
}

// MessagesWithID returns the messages of stream matching filter whose
// Nats-Msg-Id is id.
func (e *Env) MessagesWithID(stream, filter, id string) []Msg {
	e.T.Helper()
	var out []Msg
	for _, m := range e.Messages(stream, filter) {
		if m.MsgID() == id {
			out = append(out, m)
		}
	}
	return out
}

// Raw is a raw event as the gateway publishes it to INGEST; Publish fills
// the envelope headers. Use it for input the gateway would
// refuse, or to publish without HTTP.
type Raw struct {
	Subject     string // e.g. "ingest.webhook.<id>" (required)
	MsgID       string // Nats-Msg-Id (required)
	Source      string // Hs-Source; default: the subject's second token
	WebhookID   string
	Workspace   string    // default Workspace
	ContentType string    // default application/json
	ReceivedAt  time.Time // default now
	RequestID   string    // default "req_" + MsgID
	Header      map[string]string
	Body        []byte
}

// PublishRaw publishes r and returns its acknowledgement.
func (e *Env) PublishRaw(r Raw) *jetstream.PubAck {
	e.T.Helper()
	if r.Subject == "" || r.MsgID == "" {
		e.T.Fatalf("pipelinetest: Raw needs a subject and a msg id")
	}
	m := nats.NewMsg(r.Subject)
	m.Data = r.Body
	if r.Source == "" {
		if parts := strings.Split(r.Subject, "."); len(parts) > 1 {
			r.Source = parts[1]
		}
	}
	if r.Workspace == "" {
		r.Workspace = Workspace
	}
	if r.ContentType == "" {
		r.ContentType = "application/json"
	}
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = time.Now()
	}
	if r.RequestID == "" {
		r.RequestID = "req_" + r.MsgID
	}
	h := m.Header
	h.Set(streams.HdrMsgID, r.MsgID)
	h.Set(streams.HdrSource, r.Source)
	if r.WebhookID != "" {
		h.Set(streams.HdrWebhookID, r.WebhookID)
	}
	h.Set(streams.HdrWorkspaceID, r.Workspace)
	h.Set(streams.HdrReceivedAt, r.ReceivedAt.UTC().Format(time.RFC3339Nano))
	h.Set(streams.HdrRequestID, r.RequestID)
	h.Set(streams.HdrContentType, r.ContentType)
	for k, v := range r.Header {
		h.Set(k, v)
	}
	return e.Publish(m)
}

// Publish publishes msg (its Nats-Msg-Id set) and waits for the PubAck.
func (e *Env) Publish(msg *nats.Msg) *jetstream.PubAck {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := (&streams.Publisher{JS: e.JS}).Publish(ctx, msg)
	if err != nil {
		e.T.Fatalf("pipelinetest: publish %s: %v", msg.Subject, err)
	}
	return ack
}

// WebhookRaw is the raw event of a post of body to webhook (id, workspace)
// with event id msgID, as the gateway would publish it.
func WebhookRaw(webhookID, workspace, msgID string, body []byte) Raw {
	return Raw{Subject: streams.IngestSubject(streams.SubjectIngestWebhook, webhookID), MsgID: msgID,
		Source: streams.SourceWebhook, WebhookID: webhookID, Workspace: workspace, Body: body}
}
