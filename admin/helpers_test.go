package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/hookstream/hookstream/admin"
	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/processors/notify"
	"github.com/hookstream/hookstream/processors/payments"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams"
	"github.com/hookstream/hookstream/streams/streamstest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	adminToken   = "admin-token-for-tests-0123456789"
	stripeSecret = "whsec_admin_test_secret"
)

// pipeline is the gateway (with the admin API mounted, as serve does) and
// the contacts, boards, payments and notify processors on real NATS and
// Postgres.
type pipeline struct {
	t    *testing.T
	nc   *nats.Conn
	js   jetstream.JetStream
	db   *pgxpool.Pool
	srv  *httptest.Server
	api  *admin.API
	logs *syncBuffer
}

type pipelineOpts struct {
	noProcessors bool
	token        string
	notify       notify.Config
}

func newPipeline(t *testing.T, o pipelineOpts) *pipeline {
	t.Helper()
	ns := streamstest.RunServer(t)
	nc, js := streamstest.Connect(t, ns)
	db := pgtest.New(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := &pipeline{t: t, nc: nc, js: js, db: db, logs: logs}

	cfg := gateway.DefaultConfig()
	cfg.StripeSecrets = []string{stripeSecret}
	cfg.PublishTimeout = 5 * time.Second
	cfg.WebhookRate, cfg.WebhookBurst = 10_000, 10_000
	cache := gateway.NewWebhookCache(&projections.Webhooks{DB: db}, cfg, log)
	g, err := gateway.New(cfg, gateway.Deps{Publisher: &streams.Publisher{JS: js}, Webhooks: cache,
		Registry: prometheus.NewRegistry(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	token := o.token
	if token == "-" {
		token = ""
	} else if token == "" {
		token = adminToken
	}
	p.api = admin.New(admin.Config{Token: token, DB: db, JS: js, Log: log, Heartbeat: 500 * time.Millisecond})
	g.Handle(admin.Pattern, p.api)
	p.srv = httptest.NewServer(g)
	t.Cleanup(p.srv.Close)
	t.Cleanup(p.api.Close)
	if o.noProcessors {
		return p
	}

	deps := processors.Deps{DB: db, JS: js, NC: nc, Log: log}
	cc := contacts.DefaultConfig()
	ct, err := contacts.New(deps, cc)
	if err != nil {
		t.Fatal(err)
	}
	pc := payments.DefaultConfig()
	pc.LeadWaitAttempts, pc.LeadWaitDelay = 1, 0
	pp, err := payments.New(deps, pc)
	if err != nil {
		t.Fatal(err)
	}
	nconf := o.notify
	if nconf.BatchWindow == 0 {
		nconf.BatchWindow = 300 * time.Millisecond
	}
	nt, err := notify.New(deps, nconf)
	if err != nil {
		t.Fatal(err)
	}
	bd, err := boards.New(deps, boards.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var procs []processors.Processor
	for _, b := range []processors.Builder{ct, bd, pp, nt} {
		procs = append(procs, b.Processors()...)
	}
	r := &processors.Runner{JS: js, Outcomes: processors.PGOutcomes{DB: db}, Log: log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx, procs...) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, pr := range procs {
		testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			_, err := js.Consumer(context.Background(), pr.Stream, pr.Name)
			return err
		})
	}
	return p
}

func (p *pipeline) webhook(workspace string) *projections.Webhook {
	p.t.Helper()
	wh, err := (&projections.Webhooks{DB: p.db}).Create(context.Background(), &projections.Webhook{
		WorkspaceID: workspace, Name: "vendor", Active: true, AuthScheme: "standard"})
	if err != nil {
		p.t.Fatal(err)
	}
	return wh
}

// postLead posts body to the webhook, signed (Standard Webhooks), and
// returns the event id.
func (p *pipeline) postLead(wh *projections.Webhook, id string, body []byte) string {
	p.t.Helper()
	ts := time.Now()
	req, _ := http.NewRequest(http.MethodPost, p.srv.URL+"/webhooks/"+wh.ID, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", verify.SignStandard(wh.Secrets[0].Value, id, ts, body))
	resp := p.do(req, "")
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		p.t.Fatalf("post lead: %d %s", resp.StatusCode, resp.body)
	}
	return "wh:" + wh.ID + ":" + id
}

// publishRaw stores a webhook post in INGEST as the gateway would, without
// its validation.
func (p *pipeline) publishRaw(wh *projections.Webhook, id string, body []byte) string {
	p.t.Helper()
	eventID := "wh:" + wh.ID + ":" + id
	m := nats.NewMsg(streams.IngestSubject(streams.SubjectIngestWebhook, wh.ID))
	m.Data = body
	m.Header.Set(streams.HdrMsgID, eventID)
	m.Header.Set(streams.HdrSource, streams.SourceWebhook)
	m.Header.Set(streams.HdrWebhookID, wh.ID)
	m.Header.Set(streams.HdrWorkspaceID, wh.WorkspaceID)
	m.Header.Set(streams.HdrReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	m.Header.Set(streams.HdrRequestID, "req_"+id)
	m.Header.Set(streams.HdrContentType, "application/json")
	if _, err := (&streams.Publisher{JS: p.js}).Publish(context.Background(), m); err != nil {
		p.t.Fatal(err)
	}
	return eventID
}

func (p *pipeline) postStripe(body []byte) {
	p.t.Helper()
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: time.Now()}).Header
	req, _ := http.NewRequest(http.MethodPost, p.srv.URL+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", sig)
	resp := p.do(req, "")
	if resp.StatusCode/100 != 2 {
		p.t.Fatalf("post stripe: %d %s", resp.StatusCode, resp.body)
	}
}

type response struct {
	*http.Response
	body []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
}

func (p *pipeline) do(req *http.Request, token string) response {
	p.t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.srv.Client().Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, b}
}

// get calls the admin API with the token.
func (p *pipeline) get(path string) response {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.srv.URL+path, nil)
	return p.do(req, adminToken)
}

func (p *pipeline) count(q string, args ...any) int {
	p.t.Helper()
	var n int
	if err := p.db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		p.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitOutcome waits for a processor's outcome of an event.
func (p *pipeline) waitOutcome(processor, eventID, status string) {
	p.t.Helper()
	testutil.CheckFor(p.t, 20*time.Second, 25*time.Millisecond, func() error {
		if p.count(`SELECT count(*) FROM event_outcomes WHERE processor=$1 AND event_id=$2 AND status=$3`,
			processor, eventID, status) == 0 {
			return fmt.Errorf("no %s outcome %s for %s", processor, status, eventID)
		}
		return nil
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
