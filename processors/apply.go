package processors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/projections/ledger"
	"github.com/hookstream/hookstream/streams"
)

// Store is what a projecting processor needs: Postgres for its projection
// and JetStream for the domain events it emits.
type Store struct {
	DB *pgxpool.Pool
	JS jetstream.JetStream
	// NC, when set, announces results to ?wait listeners.
	NC *nats.Conn
}

// Tx is the transaction a handler projects in. Emit and Result write to the
// outbox and results tables inside it, so events and answers exist exactly
// when the projection does.
type Tx struct {
	pgx.Tx
	processor string
	m         *Message
	results   [][]byte
	// emitted are the outbox rows written, kept in memory too so the
	// common path publishes them after commit without reading them back.
	emitted []ledger.Emitted
}

// Emit queues a domain event, published after commit with msgID as its
// Nats-Msg-Id (derive it from the source event so redelivery never doubles
// it). The source event's id, workspace, webhook and received time travel in
// the headers.
func (t *Tx) Emit(ctx context.Context, subject, msgID string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	e := ledger.Emitted{EventID: t.m.EventID, Subject: subject, MsgID: msgID, Headers: emitHeaders(t.m), Body: b}
	if err := ledger.InsertOutbox(ctx, t, t.processor, &e); err != nil {
		return err
	}
	t.emitted = append(t.emitted, e)
	return nil
}

// emitHeaders are the headers of an event emitted because of m: the source
// event's id, workspace, webhook and received time travel with it.
func emitHeaders(m *Message) map[string]string {
	h := map[string]string{
		streams.HdrCausationID: m.EventID,
		streams.HdrWorkspaceID: m.Workspace,
		streams.HdrWebhookID:   m.WebhookID,
		streams.HdrSource:      m.Header.Get(streams.HdrSource),
		streams.HdrReceivedAt:  m.Header.Get(streams.HdrReceivedAt),
		streams.HdrRequestID:   m.Header.Get(streams.HdrRequestID),
		streams.HdrContentType: "application/json",
	}
	if c := m.Header.Get(streams.HdrCausationID); c != "" {
		h[streams.HdrCausationID] = c // keep the original source event across hops
	}
	return h
}

// Result stores this processor's answer for the source event (what ?wait
// returns) and announces it after commit.
func (t *Tx) Result(ctx context.Context, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if err := ledger.PutResult(ctx, t, SourceEventID(t.m), t.processor, b); err != nil {
		return err
	}
	t.results = append(t.results, b)
	return nil
}

// SourceEventID is the id of the ingest event a message derives from: its
// causation id for domain events, its own id for raw events.
func SourceEventID(m *Message) string {
	if c := m.Header.Get(streams.HdrCausationID); c != "" {
		return c
	}
	return m.EventID
}

// Apply runs fn exactly once per (processor, event): projection, processed
// row, outbox and results commit together; then the outbox is published. On
// a redelivery of an already-applied event fn is skipped but any outbox rows
// left by a crash are published, and ErrAlreadyProcessed is returned.
//
// Inside a Batched run it joins the batch's transaction, and the publishing
// and announcing wait for the batch's commit.
func (s *Store) Apply(ctx context.Context, processor string, m *Message, fn func(ctx context.Context, tx *Tx) error) error {
	if shared := sharedFrom(ctx); shared != nil {
		return shared.apply(ctx, processor, m, fn)
	}
	var results [][]byte
	var emitted []ledger.Emitted
	work := func(tx pgx.Tx) error {
		t := &Tx{Tx: tx, processor: processor, m: m}
		if err := fn(ctx, t); err != nil {
			return err
		}
		results, emitted = t.results, t.emitted
		return nil
	}
	err := Once(ctx, s.DB, processor, m, work)
	if err != nil && !errors.Is(err, ErrAlreadyProcessed) {
		return err
	}
	// Just committed: publish what this transaction emitted from memory.
	// Already processed (a redelivery after a crash): publish whatever the
	// outbox still holds for the event.
	var ferr error
	if err == nil {
		ferr = s.publish(ctx, emitted)
	} else {
		ferr = s.FlushOutbox(ctx, processor, m.EventID)
	}
	if ferr != nil {
		// The projection is committed; the redelivery publishes the rest.
		return fmt.Errorf("publishing emitted events: %w", ferr)
	}
	for _, r := range results {
		s.AnnounceResult(SourceEventID(m), processor, r)
	}
	return err
}

// FlushOutbox publishes and deletes the outbox rows events left behind
// (their transaction committed but the publish did not finish): the
// redeliveries of those events call it.
func (s *Store) FlushOutbox(ctx context.Context, processor string, eventIDs ...string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	rs, err := ledger.PendingOutbox(ctx, s.DB, processor, eventIDs)
	if err != nil {
		return err
	}
	return s.publish(ctx, rs)
}

// publish sends outbox rows (waiting for every PubAck), then deletes them.
func (s *Store) publish(ctx context.Context, rs []ledger.Emitted) error {
	if len(rs) == 0 {
		return nil
	}
	if err := s.publishRows(ctx, rs); err != nil {
		return err
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ledger.DeleteOutbox(ctx, s.DB, ids)
}

// publishRows sends outbox rows asynchronously, in order, and waits for
// every PubAck.
func (s *Store) publishRows(ctx context.Context, rs []ledger.Emitted) error {
	futures := make([]jetstream.PubAckFuture, 0, len(rs))
	for _, r := range rs {
		msg := nats.NewMsg(r.Subject)
		msg.Data = r.Body
		for k, v := range r.Headers {
			if v != "" {
				msg.Header.Set(k, v)
			}
		}
		msg.Header.Set(streams.HdrMsgID, r.MsgID)
		f, err := s.JS.PublishMsgAsync(msg)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// AnnounceResult tells ?wait waiters (core NATS, ResultSubject) the answer
// a processor stored for a source event. It is fire-and-forget by design: a
// waiter that misses it reads the stored result (Waiter loads stored results
// first), so a lost announcement costs latency, never the answer.
func (s *Store) AnnounceResult(sourceEventID, processor string, body []byte) {
	if s.NC != nil {
		_ = s.NC.Publish(ResultSubject(sourceEventID, processor), body)
	}
}

// ResultSubject is the core NATS subject a processor announces a source
// event's result on (not stored in a stream; the results table is the record).
func ResultSubject(sourceEventID, processor string) string {
	sum := sha256.Sum256([]byte(sourceEventID))
	return "_HS.results." + hex.EncodeToString(sum[:12]) + "." + processor
}
