package dlq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/ops/dlq"
	"github.com/hookstream/hookstream/ops/replay"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/projections/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// graph is a Graph API that fails until fixed.
type graph struct {
	broken atomic.Bool
	calls  atomic.Int64
	srv    *httptest.Server
}

func newGraph(t *testing.T) *graph {
	g := &graph{}
	g.broken.Store(true)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.calls.Add(1)
		if g.broken.Load() {
			http.Error(w, `{"error":{"message":"service unavailable","code":2}}`, http.StatusInternalServerError)
			return
		}
		id := strings.TrimPrefix(r.URL.Path, "/")
		fmt.Fprintf(w, `{"id":%q,"created_time":"2025-01-02T10:00:00+0000","field_data":[
			{"name":"email","values":["fb%s@example.com"]},
			{"name":"full_name","values":["Fay Book"]},
			{"name":"phone_number","values":["+1415555%s"]}]}`, id, id, id)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func contactsFor(t *testing.T, env *pipelinetest.Env, g *graph) processors.Processor {
	t.Helper()
	cfg := contacts.DefaultConfig()
	cfg.GraphURL = g.srv.URL
	cfg.PageToken = "page-token"
	cfg.HTTP = &http.Client{Timeout: 5 * time.Second}
	c, err := contacts.New(env.Deps(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Processors()[0]
	p.MaxDeliver, p.BackoffInitial, p.BackoffMax = 2, 20*time.Millisecond, 50*time.Millisecond
	return p
}

func postLead(t *testing.T, env *pipelinetest.Env, leadgen string) {
	t.Helper()
	body := fmt.Sprintf(`{"object":"page","entry":[{"id":"9","time":1735812000,"changes":[{"field":"leadgen",
		"value":{"leadgen_id":"%s","page_id":"9","form_id":"7","created_time":1735812000}}]}]}`, leadgen)
	if res := env.PostFacebook([]byte(body)); res.Status != 200 {
		t.Fatalf("facebook post: %d %s", res.Status, res.Body)
	}
}

func waitDead(t *testing.T, env *pipelinetest.Env, eventID string) *dlq.Entry {
	t.Helper()
	var got *dlq.Entry
	env.Eventually(60*time.Second, func() error {
		es, err := dlq.List(env.Ctx(5*time.Second), env.JS, "contacts", 0)
		if err != nil {
			return err
		}
		for _, e := range es {
			if e.EventID == eventID {
				got = e
				return nil
			}
		}
		return fmt.Errorf("no dead letter for %s yet (%d entries)", eventID, len(es))
	})
	return got
}

func leads(env *pipelinetest.Env, eventID string) int {
	return env.Count(`SELECT count(*) FROM leads WHERE event_id=$1`, eventID)
}

// TestRetryAfterCauseFixed: a Facebook lead whose Graph API fetch keeps
// failing is dead-lettered; retrying while the API is still down changes
// nothing; once it is back, the retry applies the event exactly once with
// its original id, and neither a replay nor a second retry applies it again.
func TestRetryAfterCauseFixed(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	g := newGraph(t)
	p := contactsFor(t, env, g)
	env.Start(append([]processors.Processor{p}, env.Must(boards.New(env.Deps(), boards.DefaultConfig()))...)...)
	ctx := env.Ctx(90 * time.Second)

	postLead(t, env, "4441")
	e := waitDead(t, env, "fb:4441")
	if e.Processor != "contacts" || e.Subject != "ingest.facebook.leadgen" || e.Stream != "INGEST" || e.StreamSeq != 1 ||
		e.Attempts != 2 || e.Status != processors.StatusDead || !strings.Contains(e.Error, "graph API answered 500") || e.Captured {
		t.Fatalf("dead letter %+v", e)
	}
	if e.Header.Get("Hs-Source") != "facebook" || !strings.Contains(string(e.Data), `"leadgen_id":"4441"`) {
		t.Errorf("original not kept: %v %s", e.Header, e.Data)
	}
	got, err := dlq.Get(ctx, env.JS, e.ID)
	if err != nil || got.EventID != e.EventID || string(got.Data) != string(e.Data) {
		t.Fatalf("get %d: %+v %v", e.ID, got, err)
	}

	r := &dlq.Retrier{JS: env.JS, Outcomes: processors.PGOutcomes{DB: env.DB}}
	// Still broken: the dead letter stays.
	if res := r.Retry(ctx, e, p); res.Result != dlq.Failed || !strings.Contains(res.Error, "500") {
		t.Fatalf("retry while broken: %+v", res)
	}
	if _, err := dlq.Get(ctx, env.JS, e.ID); err != nil {
		t.Fatalf("dead letter gone after a failed retry: %v", err)
	}

	// Fixed: applied once, removed from the DLQ.
	g.broken.Store(false)
	if res := r.Retry(ctx, e, p); res.Result != dlq.Applied || res.EventID != "fb:4441" {
		t.Fatalf("retry after the fix: %+v", res)
	}
	if _, err := dlq.Get(ctx, env.JS, e.ID); !errors.Is(err, dlq.ErrNotFound) {
		t.Fatalf("dead letter still there: %v", err)
	}
	if n := leads(env, "fb:4441"); n != 1 {
		t.Fatalf("%d leads for the retried event", n)
	}
	// The retry's effects flow on: boards sees the emitted contact event.
	env.WaitIdle(60*time.Second, "EVENTS", "boards")
	if n := env.Count(`SELECT count(*) FROM board_assignments WHERE source_event_id='fb:4441'`); n != 1 {
		t.Errorf("%d board evaluations for the retried event", n)
	}
	o := env.WaitOutcome("contacts", "fb:4441", processors.StatusOK)
	if o.Attempts != 3 || !strings.Contains(string(o.Detail), `"dlq_retry"`) {
		t.Errorf("retry outcome %+v", o)
	}

	// A replay over it is a no-op.
	rp := &replay.Replayer{JS: env.JS, Poll: 20 * time.Millisecond}
	if _, err := rp.Replay(ctx, replay.Options{Processor: "contacts", FromSeq: 1, Wait: true}); err != nil {
		t.Fatal(err)
	}
	if n := leads(env, "fb:4441"); n != 1 {
		t.Fatalf("%d leads after the replay", n)
	}

	// A dead letter the replay got to first: the retry reports it applied
	// already and clears it.
	g.broken.Store(true)
	postLead(t, env, "5552")
	e2 := waitDead(t, env, "fb:5552")
	// The runner terminates the delivery right after the dead letter is
	// stored: let the Term land before resetting the consumer, or it could
	// count as the ack of the replayed delivery.
	env.WaitIdle(10*time.Second, "INGEST", "contacts")
	g.broken.Store(false)
	if _, err := rp.Replay(ctx, replay.Options{Processor: "contacts", FromSeq: e2.StreamSeq, Wait: true}); err != nil {
		t.Fatal(err)
	}
	if n := leads(env, "fb:5552"); n != 1 {
		t.Fatalf("%d leads after replaying the dead-lettered event", n)
	}
	if res := r.Retry(ctx, e2, p); res.Result != dlq.AlreadyApplied {
		t.Fatalf("retry of an event applied by a replay: %+v", res)
	}
	if n := leads(env, "fb:5552"); n != 1 {
		t.Fatalf("%d leads after the retry", n)
	}

	// Discard.
	g.broken.Store(true)
	postLead(t, env, "6663")
	e3 := waitDead(t, env, "fb:6663")
	if err := dlq.Discard(ctx, env.JS, e3.ID); err != nil {
		t.Fatal(err)
	}
	if err := dlq.Discard(ctx, env.JS, e3.ID); !errors.Is(err, dlq.ErrNotFound) {
		t.Fatalf("second discard: %v", err)
	}
	if es, err := dlq.List(ctx, env.JS, "", 0); err != nil || len(es) != 0 {
		t.Fatalf("DLQ after all: %d entries, %v", len(es), err)
	}
	if _, err := dlq.Get(ctx, env.JS, 999); !errors.Is(err, dlq.ErrNotFound) {
		t.Fatalf("get of a missing id: %v", err)
	}
}

// TestCaptureMaxDeliveries: a process that dies during its last attempt
// leaves no dead letter; the MAX_DELIVERIES advisory the server raises next
// time the consumer pulls is turned into one, which retries like any other.
// Events the ledger already has, and consumers that are not processors',
// are left alone.
func TestCaptureMaxDeliveries(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoGateway: true})
	ctx := env.Ctx(60 * time.Second)
	capture := &dlq.Capture{NC: env.NC, JS: env.JS, DB: env.DB, Outcomes: processors.PGOutcomes{DB: env.DB}, Log: env.Log}
	cctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- capture.Run(cctx) }()
	t.Cleanup(func() { cancel(); <-done })
	advisory := func(consumer string) string { return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.INGEST." + consumer }
	env.Eventually(5*time.Second, func() error {
		if !env.NATS.GlobalAccount().SubscriptionInterest(advisory("contacts")) {
			return errors.New("capture not subscribed to the advisories yet")
		}
		return nil
	})

	// The contacts processor's durable, as the runner defines it but with
	// two attempts and a short AckWait; the "process" pulls and dies.
	cfg := contactsFor(t, env, newGraph(t)).ConsumerConfig()
	cfg.MaxDeliver, cfg.AckWait = 2, 300*time.Millisecond
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, "INGEST", cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.PublishRaw(pipelinetest.WebhookRaw("wh_crash", "ws-crash", "crash-1", []byte(`{"email":"crash1@example.com"}`)))
	env.PublishRaw(pipelinetest.WebhookRaw("wh_crash", "ws-crash", "crash-2", []byte(`{"email":"crash2@example.com"}`)))
	// crash-2 was applied; only its acks were lost.
	if _, err := env.DB.Exec(ctx, `INSERT INTO processed (processor, event_id) VALUES ('contacts','crash-2')`); err != nil {
		t.Fatal(err)
	}
	// Each pull waits (up to 1s) for the redelivery after AckWait; the
	// third one, past MaxDeliver, raises the advisory.
	crash := func(c jetstream.Consumer) {
		for attempt := 1; attempt <= 3; attempt++ {
			b, err := c.Fetch(2, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for range b.Messages() { // received, never answered
			}
		}
	}
	crash(cons)
	e := waitDead(t, env, "crash-1")
	if !e.Captured || e.Attempts != 2 || e.Status != processors.StatusDead || e.Subject != "ingest.webhook.wh_crash" ||
		e.StreamSeq != 1 || !strings.Contains(e.Error, "MAX_DELIVERIES") {
		t.Fatalf("captured dead letter %+v", e)
	}
	if o := env.WaitOutcome("contacts", "crash-1", processors.StatusDead); o.Attempts != 2 {
		t.Errorf("outcome %+v", o)
	}

	// A consumer that is not a processor's: nothing captured.
	other, err := env.JS.CreateOrUpdateConsumer(ctx, "INGEST", jetstream.ConsumerConfig{Durable: "inspect",
		AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 2, AckWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	raised, err := env.NC.SubscribeSync(advisory("inspect"))
	if err != nil {
		t.Fatal(err)
	}
	crash(other)
	am, err := raised.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no MAX_DELIVERIES advisory for inspect: %v", err)
	}
	// Capture handles it in the background; handled here as well, it must
	// write nothing either way.
	var adv dlq.Advisory
	if err := json.Unmarshal(am.Data, &adv); err != nil {
		t.Fatal(err)
	}
	if err := capture.Capture(ctx, adv); err != nil {
		t.Fatal(err)
	}
	es, err := dlq.List(ctx, env.JS, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		for _, e := range es {
			t.Logf("entry %+v", e)
		}
		t.Fatalf("%d dead letters, want only crash-1's (crash-2 was applied, inspect is not a processor)", len(es))
	}

	// The same advisory twice (two capturers, a redelivered advisory) or a
	// dead letter the runner did write: one entry.
	if err := capture.Capture(ctx, dlq.Advisory{Stream: "INGEST", Consumer: "contacts", StreamSeq: 1, Deliveries: 2}); err != nil {
		t.Fatal(err)
	}
	if es, _ := dlq.List(ctx, env.JS, "contacts", 0); len(es) != 1 {
		t.Fatalf("%d dead letters after a repeated advisory", len(es))
	}

	// The captured dead letter retries like any other.
	p := contactsFor(t, env, newGraph(t))
	res := (&dlq.Retrier{JS: env.JS}).Retry(ctx, e, p)
	if res.Result != dlq.Applied || leads(env, "crash-1") != 1 {
		t.Fatalf("retry of the captured dead letter: %+v", res)
	}
}
