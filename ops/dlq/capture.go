package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// AdvisorySubject is where JetStream announces a message that reached its
// consumer's MaxDeliver without being acknowledged or terminated.
const AdvisorySubject = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"

// CaptureQueue is the queue group capturers share, so each advisory is
// handled by one process.
const CaptureQueue = "hookstream-dlq-capture"

// consumerDescPrefix is how the runner describes a processor's consumer
// (processors.Processor.ConsumerConfig).
const consumerDescPrefix = "hookstream processor "

// Advisory is JetStream's io.nats.jetstream.advisory.v1.max_deliver event.
type Advisory struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Time       time.Time `json:"timestamp"`
	Stream     string    `json:"stream"`
	Consumer   string    `json:"consumer"`
	StreamSeq  uint64    `json:"stream_seq"`
	Deliveries uint64    `json:"deliveries"`
}

// Capture turns MAX_DELIVERIES advisories of processors' consumers into
// dead letters. The runner dead-letters a message on its last attempt and
// then terminates it, which raises no such advisory; the advisory comes when
// the last delivery was never answered — the process died between the
// attempt and its DLQ publish, or the publish kept failing. Capture copies
// the original from its stream into dlq.<processor> with the same
// Nats-Msg-Id the runner would have used (so a dead letter that did get
// written is deduplicated), unless the processed ledger shows the event was
// applied after all (only its ack was lost).
//
// The server raises the advisory when it would redeliver, i.e. when a
// processor pulls again, so a capturer running next to the processors (serve
// and process start one) sees it even after a crash.
type Capture struct {
	NC *nats.Conn
	JS jetstream.JetStream
	// DB, when set, is checked for already-applied events.
	DB *pgxpool.Pool
	// Outcomes, when set, records a "dead" outcome per captured message.
	Outcomes processors.OutcomeRecorder
	Log      *slog.Logger

	mu    sync.Mutex
	procs map[string]string // stream/consumer → processor ("" = not ours)
}

// Run captures until ctx ends.
func (c *Capture) Run(ctx context.Context) error {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	ch := make(chan *nats.Msg, 1024)
	sub, err := c.NC.ChanQueueSubscribe(AdvisorySubject, CaptureQueue, ch)
	if err != nil {
		return fmt.Errorf("dlq: subscribe to advisories: %w", err)
	}
	if err := c.NC.Flush(); err != nil {
		_ = sub.Unsubscribe() // the connection is failing already
		return fmt.Errorf("dlq: subscribe to advisories: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			_ = sub.Unsubscribe() // shutting down: the connection drains next
			for {
				select {
				case m := <-ch:
					c.handle(m)
				default:
					return nil
				}
			}
		case m := <-ch:
			c.handle(m)
		}
	}
}

func (c *Capture) handle(m *nats.Msg) {
	var a Advisory
	if err := json.Unmarshal(m.Data, &a); err != nil || a.Stream == "" || a.Consumer == "" || a.StreamSeq == 0 {
		c.Log.Warn("unreadable max-deliveries advisory", "subject", m.Subject, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Capture(ctx, a); err != nil {
		c.Log.Error("capturing a message that hit max deliveries failed; it stays only in its stream",
			"stream", a.Stream, "consumer", a.Consumer, "seq", a.StreamSeq, "err", err)
	}
}

// Capture writes the dead letter for one advisory (exported for tests and
// for re-processing advisories saved elsewhere).
func (c *Capture) Capture(ctx context.Context, a Advisory) error {
	if a.Stream == streams.StreamDLQ {
		// A consumer of dead letters (notify-dlq) that gave up: copying it
		// back into the DLQ would loop.
		c.logger().Warn("a DLQ consumer hit max deliveries; not re-dead-lettered", "consumer", a.Consumer, "seq", a.StreamSeq)
		return nil
	}
	proc, err := c.processor(ctx, a.Stream, a.Consumer)
	if err != nil {
		return err
	}
	if proc == "" {
		return nil // not a hookstream processor's consumer
	}
	st, err := c.JS.Stream(ctx, a.Stream)
	if err != nil {
		return err
	}
	orig, err := st.GetMsg(ctx, a.StreamSeq)
	if err != nil {
		return fmt.Errorf("reading the original: %w", err)
	}
	eventID := orig.Header.Get(streams.HdrMsgID)
	if eventID == "" {
		eventID = a.Stream + ":" + strconv.FormatUint(a.StreamSeq, 10)
	}
	if c.DB != nil {
		done, err := processors.Processed(ctx, c.DB, proc, eventID)
		if err != nil {
			return err
		}
		if done {
			c.logger().Info("max deliveries reached for an event already applied (its ack was lost); no dead letter",
				"processor", proc, "event_id", eventID, "seq", a.StreamSeq)
			return nil
		}
	}
	errText := fmt.Sprintf("no acknowledgement after %d deliveries: the processor stopped (or could not write the dead letter) "+
		"during its last attempt; captured from the MAX_DELIVERIES advisory", a.Deliveries)
	dm := nats.NewMsg(streams.DLQSubject(proc))
	dm.Data = orig.Data
	for k, v := range orig.Header {
		if k == streams.HdrMsgID {
			continue
		}
		dm.Header[k] = v
	}
	at := a.Time
	if at.IsZero() {
		at = time.Now().UTC()
	}
	dm.Header.Set(streams.HdrMsgID, "dlq:"+a.Consumer+":"+a.Stream+":"+strconv.FormatUint(a.StreamSeq, 10))
	dm.Header.Set(streams.HdrDLQEventID, eventID)
	dm.Header.Set(streams.HdrDLQProcessor, proc)
	dm.Header.Set(streams.HdrDLQSubject, orig.Subject)
	dm.Header.Set(streams.HdrDLQStream, a.Stream)
	dm.Header.Set(streams.HdrDLQSeq, strconv.FormatUint(a.StreamSeq, 10))
	dm.Header.Set(streams.HdrDLQError, errText)
	dm.Header.Set(streams.HdrDLQAttempts, strconv.FormatUint(a.Deliveries, 10))
	dm.Header.Set(streams.HdrDLQStatus, processors.StatusDead)
	dm.Header.Set(streams.HdrDLQAt, at.UTC().Format(time.RFC3339Nano))
	dm.Header.Set(HdrDLQCaptured, "max_deliveries")
	var ack *jetstream.PubAck
	for i := 0; i < 5; i++ {
		if ack, err = c.JS.PublishMsg(ctx, dm); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(i+1) * 200 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("publishing the dead letter: %w", err)
	}
	if ack.Duplicate {
		c.logger().Info("max deliveries reached; the dead letter already existed", "processor", proc, "seq", a.StreamSeq)
		return nil
	}
	c.logger().Warn("dead-lettered from a max-deliveries advisory", "processor", proc, "event_id", eventID,
		"stream", a.Stream, "seq", a.StreamSeq, "dlq_id", ack.Sequence)
	if c.Outcomes != nil {
		// The dead letter is stored; a lost audit row is logged, not retried.
		if err := c.Outcomes.Record(ctx, processors.Outcome{Processor: proc, EventID: eventID,
			WebhookID: orig.Header.Get(streams.HdrWebhookID), Workspace: orig.Header.Get(streams.HdrWorkspaceID),
			Subject: orig.Subject, StreamSeq: a.StreamSeq, Status: processors.StatusDead, Attempts: int(a.Deliveries),
			Error: errText}); err != nil {
			c.logger().Warn("recording the captured dead letter's outcome failed", "processor", proc, "seq", a.StreamSeq, "err", err)
		}
	}
	return nil
}

func (c *Capture) logger() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// processor maps a consumer to the processor that owns it, from the
// description the runner gives its consumers; "" for other consumers.
func (c *Capture) processor(ctx context.Context, stream, consumer string) (string, error) {
	key := stream + "/" + consumer
	c.mu.Lock()
	p, ok := c.procs[key]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	cons, err := c.JS.Consumer(ctx, stream, consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return "", err
	}
	if d := info.Config.Description; strings.HasPrefix(d, consumerDescPrefix) {
		p = strings.TrimSpace(strings.TrimPrefix(d, consumerDescPrefix))
	}
	c.mu.Lock()
	if c.procs == nil {
		c.procs = map[string]string{}
	}
	c.procs[key] = p
	c.mu.Unlock()
	return p, nil
}
