package processors_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// harness is one test's pipelinetest env without a gateway: a real
// JetStream server (INGEST/EVENTS/DLQ) and its own migrated Postgres
// database; runners log at debug level to the test log.
type harness struct {
	*pipelinetest.Env
	t  *testing.T
	nc *nats.Conn
	js jetstream.JetStream
	db *pgxpool.Pool
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	env := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true, LogLevel: slog.LevelDebug})
	return &harness{Env: env, t: t, nc: env.NC, js: env.JS, db: env.DB}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newRunner is the env's runner: outcomes in the harness's database.
func (h *harness) newRunner() *processors.Runner { return h.NewRunner() }

// start runs r with procs until the returned run is stopped (at the latest
// at test cleanup), and waits until every consumer exists.
func (h *harness) start(r *processors.Runner, procs ...processors.Processor) *pipelinetest.Run {
	h.t.Helper()
	return h.StartRunner(r, procs...)
}

// publish stores one message in its stream with the envelope headers given
// as name, value pairs and returns its stream sequence.
func (h *harness) publish(subject, msgID, body string, hdr ...string) uint64 {
	h.t.Helper()
	m := streams.NewMsg(subject, msgID, []byte(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Set(hdr[i], hdr[i+1])
	}
	ack, err := (&streams.Publisher{JS: h.js}).Publish(ctxT(h.t, 5*time.Second), m)
	if err != nil {
		h.t.Fatalf("publish %s: %v", subject, err)
	}
	if ack.Duplicate {
		h.t.Fatalf("publish %s %s: unexpectedly a duplicate", subject, msgID)
	}
	return ack.Sequence
}

func (h *harness) consumerInfo(stream, durable string) *jetstream.ConsumerInfo {
	h.t.Helper()
	ctx := ctxT(h.t, 5*time.Second)
	c, err := h.js.Consumer(ctx, stream, durable)
	if err != nil {
		h.t.Fatalf("consumer %s/%s: %v", stream, durable, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		h.t.Fatalf("consumer %s/%s info: %v", stream, durable, err)
	}
	return info
}

// waitSettled waits until the consumer has nothing pending or unacked.
func (h *harness) waitSettled(stream, durable string) *jetstream.ConsumerInfo {
	h.t.Helper()
	h.WaitIdle(10*time.Second, stream, durable)
	return h.consumerInfo(stream, durable)
}

// outcomeRow is one event_outcomes row.
type outcomeRow struct {
	Status     string
	Attempts   int
	DurationMS float64
	Error      *string
	WebhookID  *string
	Workspace  *string
	Subject    string
	Seq        *int64
	Received   *time.Time
	Detail     []byte
}

func (h *harness) outcomes(processor, eventID string) []outcomeRow {
	h.t.Helper()
	rows, err := h.db.Query(ctxT(h.t, 5*time.Second), `SELECT status, attempts, duration_ms, error,
		webhook_id, workspace_id, subject, stream_seq, received_at, detail
		FROM event_outcomes WHERE processor=$1 AND event_id=$2 ORDER BY id`, processor, eventID)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []outcomeRow
	for rows.Next() {
		var o outcomeRow
		if err := rows.Scan(&o.Status, &o.Attempts, &o.DurationMS, &o.Error, &o.WebhookID, &o.Workspace,
			&o.Subject, &o.Seq, &o.Received, &o.Detail); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func statuses(rows []outcomeRow) string {
	s := make([]string, len(rows))
	for i, r := range rows {
		s[i] = fmt.Sprintf("%s/%d", r.Status, r.Attempts)
	}
	return strings.Join(s, ",")
}

// waitOutcomes waits until the event's recorded outcomes are exactly want
// ("status/attempts,…") and returns them.
func (h *harness) waitOutcomes(processor, eventID, want string) []outcomeRow {
	h.t.Helper()
	var rows []outcomeRow
	testutil.CheckFor(h.t, 15*time.Second, 20*time.Millisecond, func() error {
		rows = h.outcomes(processor, eventID)
		if got := statuses(rows); got != want {
			return fmt.Errorf("outcomes of %s: got %q, want %q", eventID, got, want)
		}
		return nil
	})
	return rows
}

// dlqMsg waits for the last dead letter on subject.
func (h *harness) dlqMsg(subject string) *jetstream.RawStreamMsg {
	h.t.Helper()
	var msg *jetstream.RawStreamMsg
	testutil.CheckFor(h.t, 15*time.Second, 20*time.Millisecond, func() error {
		ctx := ctxT(h.t, 5*time.Second)
		st, err := h.js.Stream(ctx, streams.StreamDLQ)
		if err != nil {
			return err
		}
		msg, err = st.GetLastMsgForSubject(ctx, subject)
		return err
	})
	return msg
}

// dlqCount is the number of dead letters held for subject.
func (h *harness) dlqCount(subject string) uint64 {
	h.t.Helper()
	ctx := ctxT(h.t, 5*time.Second)
	st, err := h.js.Stream(ctx, streams.StreamDLQ)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// countCalls is a concurrency-safe per-event call counter.
type countCalls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countCalls) add(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[id]++
	return c.n[id]
}

func (c *countCalls) get(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

func (c *countCalls) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

var errTransient = errors.New("upstream unavailable")

// inProgress counts the InProgress signals (+WPI acks) the runner sends per
// stream sequence: a positive sign that a delivery is being kept alive, and
// that time has passed (one every third of AckWait).
type inProgress struct {
	mu sync.Mutex
	n  map[uint64]int
}

func (h *harness) watchInProgress() *inProgress {
	h.t.Helper()
	ip := &inProgress{n: map[uint64]int{}}
	sub, err := h.nc.Subscribe("$JS.ACK.>", func(msg *nats.Msg) {
		if string(msg.Data) != "+WPI" {
			return
		}
		// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.… (with a domain
		// and an account hash first in the longer form).
		tok := strings.Split(msg.Subject, ".")
		i := 5
		if len(tok) > 9 {
			i = 7
		}
		if seq, err := strconv.ParseUint(tok[i], 10, 64); err == nil {
			ip.mu.Lock()
			ip.n[seq]++
			ip.mu.Unlock()
		}
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		h.t.Fatal(err)
	}
	return ip
}

// waitFor waits until seq's delivery was kept alive at least n times.
func (ip *inProgress) waitFor(t *testing.T, seq uint64, n int) {
	t.Helper()
	testutil.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		ip.mu.Lock()
		defer ip.mu.Unlock()
		if got := ip.n[seq]; got < n {
			return fmt.Errorf("seq %d kept alive %d times, want %d", seq, got, n)
		}
		return nil
	})
}
