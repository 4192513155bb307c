package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// TestPoisonMessage runs `serve` and, attached to its NATS and Postgres, the
// real processors.Runner with one test-only processor, "faultpanic", that
// reads the same webhook's events and has a realistic bug: it asserts that
// first_name is a JSON string, so a vendor sending "first_name": 42 (which
// the gateway accepts and contacts coerces) makes it panic. Between good
// leads it also gets a raw event with a truncated JSON body, published to
// INGEST behind the gateway's back (a buggy replay tool, a hand-made
// `nats pub`). Checks:
//
//   - the panic is caught: the message is dead-lettered once to
//     dlq.faultpanic (status dead, the panic in Hs-Dlq-Error, the original
//     body), its outcome recorded, not retried;
//   - the raw event is dead-lettered by the real contacts processor to
//     dlq.contacts (status rejected) and projects nothing;
//   - both processors go on: every later lead is handled, the runner is
//     still running, both consumers are idle, serve is ready.
func TestPoisonMessage(t *testing.T) {
	slow(t)
	t.Parallel()
	dir := newDir(t, "poison")
	dbURL := freshDB(t)
	httpAddr, natsAddr := freeAddr(t), freeAddr(t)
	base, natsURL := "http://"+httpAddr, "nats://"+natsAddr
	serve := startProc(t, "serve", childEnv("DATABASE_URL="+dbURL), "serve", "--data-dir", filepath.Join(dir, "data"),
		"--http-addr", httpAddr, "--nats-listen", natsAddr)
	serve.waitReady(base, 60*time.Second)
	pool := openPool(t, dbURL)
	h := createHook(t, pool, "poison")

	// The test-only processor on the real runner.
	nc, err := streams.Connect(natsURL, nil, "faults-runner", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := streams.JetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	handled := map[string]bool{}
	proc := processors.Processor{
		Name: "faultpanic", Stream: streams.StreamIngest, Subjects: []string{streams.SubjectIngestWebhook + "." + h.ID},
		Concurrency: 4, MaxDeliver: 3, BackoffInitial: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Handler: func(_ context.Context, m *processors.Message) error {
			var body map[string]any
			if json.Unmarshal(m.Data, &body) == nil {
				_ = strings.TrimSpace(body["first_name"].(string)) // the bug: panics unless a string
			}
			mu.Lock()
			handled[m.EventID] = true
			mu.Unlock()
			return nil
		},
	}
	var logBuf syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- runner log ----\n%s", logBuf.String())
		}
	})
	runner := &processors.Runner{JS: js, Outcomes: processors.PGOutcomes{DB: pool},
		Log: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- runner.Run(ctx, proc) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ran:
		case <-time.After(30 * time.Second):
			t.Errorf("runner did not stop within 30s")
		}
	})
	eventually(t, 10*time.Second, 50*time.Millisecond, "faultpanic consumer", func() error {
		_, err := js.Consumer(ctxFor(t, 2*time.Second), streams.StreamIngest, proc.Name)
		return err
	})

	s := newSender(t, base, h)
	var good []string
	postGood := func(from, to int) {
		for i := from; i < to; i++ {
			l := newLead("poison", i)
			if a := s.post(context.Background(), l); !a.ok() {
				t.Fatalf("lead %d: %d %v %s", i, a.Status, a.Err, a.Body)
			}
			good = append(good, h.EventID(l))
		}
	}
	postGood(0, 5)
	bad := lead{ID: "poison-panic", Body: []byte(`{"email":"poison-panic@example.com","first_name":42,"last_name":"Fault"}`)}
	if a := s.post(context.Background(), bad); !a.ok() {
		t.Fatalf("panic lead: %d %v %s", a.Status, a.Err, a.Body)
	}
	badID := h.EventID(bad)
	raw := nats.NewMsg(streams.SubjectIngestWebhook + "." + h.ID)
	raw.Data = []byte(`{"email":"poison-raw@example.com","first_na`)
	rawID := "wh:" + h.ID + ":poison-raw"
	for k, v := range map[string]string{streams.HdrMsgID: rawID, streams.HdrSource: "webhook", streams.HdrWebhookID: h.ID,
		streams.HdrWorkspaceID: "poison", streams.HdrReceivedAt: time.Now().UTC().Format(time.RFC3339Nano),
		streams.HdrRequestID: "req-poison-raw", streams.HdrContentType: "application/json"} {
		raw.Header.Set(k, v)
	}
	if _, err := js.PublishMsg(ctxFor(t, 5*time.Second), raw); err != nil {
		t.Fatalf("publish raw poison: %v", err)
	}
	postGood(5, 10)

	// Both processors went on past their poison.
	eventually(t, 30*time.Second, 100*time.Millisecond, "every message handled", func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range append(good, rawID) {
			if !handled[ev] {
				return fmt.Errorf("faultpanic has not handled %s", ev)
			}
		}
		if err := pipelinetest.ConsumerIdle(ctx, js, streams.StreamIngest, proc.Name); err != nil {
			return err
		}
		return pipelinetest.ConsumerIdle(ctx, js, streams.StreamIngest, "contacts")
	})
	select {
	case err := <-ran:
		t.Fatalf("the runner stopped: %v", err)
	default:
	}

	// The panic: caught, dead-lettered once, not retried.
	dead := readStream(t, js, streams.StreamDLQ, streams.DLQSubject(proc.Name))
	if len(dead) != 1 {
		t.Fatalf("%d dead letters for faultpanic, want 1", len(dead))
	}
	d := dead[0]
	if got := d.Header.Get(streams.HdrDLQEventID); got != badID {
		t.Errorf("dead letter for %q, want %q", got, badID)
	}
	if st, e := d.Header.Get(streams.HdrDLQStatus), d.Header.Get(streams.HdrDLQError); st != processors.StatusDead ||
		!strings.Contains(e, "panic") || !strings.Contains(e, "interface conversion") {
		t.Errorf("dead letter status %q error %q, want dead and the panic", st, e)
	}
	if !bytes.Equal(d.Data, bad.Body) {
		t.Errorf("dead letter body %q, want the original %q", d.Data, bad.Body)
	}
	var statuses []string
	rows, err := pool.Query(ctx, `SELECT status FROM event_outcomes WHERE processor=$1 AND event_id=$2 ORDER BY id`, proc.Name, badID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, st)
	}
	rows.Close()
	if len(statuses) != 1 || statuses[0] != processors.StatusDead {
		t.Errorf("faultpanic outcomes of the panicking event: %v, want [dead]", statuses)
	}

	// The raw poison: rejected by the real contacts processor, nothing projected.
	cdead := readStream(t, js, streams.StreamDLQ, streams.DLQSubject("contacts"))
	if len(cdead) != 1 || cdead[0].Header.Get(streams.HdrDLQEventID) != rawID ||
		cdead[0].Header.Get(streams.HdrDLQStatus) != processors.StatusRejected {
		var got []string
		for _, m := range cdead {
			got = append(got, m.Header.Get(streams.HdrDLQEventID)+" "+m.Header.Get(streams.HdrDLQStatus)+": "+
				m.Header.Get(streams.HdrDLQError))
		}
		t.Errorf("contacts dead letters %q, want only %s rejected", got, rawID)
	}
	var leads, rawLeads int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE event_id=$2) FROM leads WHERE webhook_id=$1`,
		h.ID, rawID).Scan(&leads, &rawLeads); err != nil {
		t.Fatal(err)
	}
	if leads != len(good)+1 || rawLeads != 0 {
		t.Errorf("%d leads (%d from the raw poison), want %d (the good ones and the first_name 42 one) and 0",
			leads, rawLeads, len(good)+1)
	}

	// And the pipeline still takes new work.
	postGood(10, 11)
	eventually(t, 20*time.Second, 100*time.Millisecond, "a lead after the poison", func() error {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM leads WHERE event_id=$1`, good[len(good)-1]).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("not projected yet")
		}
		return nil
	})
	serve.waitReady(base, 5*time.Second)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
