package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/projections/pgtest"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
	"github.com/hookstream/hookstream/streams/streamstest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Test secrets of the global routes.
const (
	stripeSecret     = "whsec_test_stripe_primary"
	stripeOldSecret  = "whsec_test_stripe_previous"
	fbVerifyToken    = "fb-verify-token"
	fbAppSecret      = "fb-app-secret"
	mailerLiteSecret = "ml-webhook-secret"
	allowedOrigin    = "https://www.example.com"
	workspace        = "15213"
)

// t0 is where every fake clock starts (the fixtures' "created").
var t0 = time.Unix(1_763_800_000, 0).UTC()

// fakeClock is the gateway's injected clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// testEnv is one gateway on a real embedded JetStream server and a real,
// freshly migrated Postgres database, served by httptest.
type testEnv struct {
	t testing.TB
	// listenerLost counts the webhook cache's "listener lost" warnings
	// (one per failed LISTEN attempt).
	listenerLost *countingHandler
	cfg          gateway.Config
	clock        *fakeClock
	gw           *gateway.Gateway
	srv          *httptest.Server
	ns           *server.Server
	natsDir      string
	nc           *nats.Conn
	js           jetstream.JetStream
	pool         *pgxpool.Pool
	store        *webhooksdb.Webhooks
	cache        *gateway.WebhookCache
	reg          *prometheus.Registry
	client       *http.Client
}

type envOptions struct {
	cfg    func(*gateway.Config)
	db     bool
	ownDB  bool
	listen bool
	waiter gateway.ResultWaiter
}

type envOption func(*envOptions)

// withConfig edits the gateway configuration before the gateway is built.
func withConfig(f func(*gateway.Config)) envOption {
	return func(o *envOptions) { o.cfg = f }
}

// withWaiter answers ?wait through w.
func withWaiter(w gateway.ResultWaiter) envOption { return func(o *envOptions) { o.waiter = w } }

// withDB gives the gateway Postgres for webhook configs: the test binary's
// shared database (see sharedPool).
func withDB() envOption { return func(o *envOptions) { o.db = true } }

// withOwnDB gives the gateway a database of its own, for tests that break it
// (outages, a closed pool).
func withOwnDB() envOption { return func(o *envOptions) { o.db, o.ownDB = true, true } }

var shared struct {
	once sync.Once
	pool *pgxpool.Pool
	err  error
}

// sharedPool returns one migrated database for the whole test binary.
// Webhook ids are random, so tests do not see each other's rows; a NOTIFY
// for another test's webhook only drops that id from a cache. Cloning a
// database per test costs a few hundred ms each, serialized — most of this
// package's run time. The database lives as long as pgtest's cluster.
func sharedPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	shared.once.Do(func() {
		url := pgtest.URL(binaryLifetime{t})
		shared.pool, shared.err = projections.Open(context.Background(), url)
	})
	if shared.err != nil {
		t.Fatalf("shared database: %v", shared.err)
	}
	return shared.pool
}

// binaryLifetime keeps what is created with it past the test that made it.
type binaryLifetime struct{ testing.TB }

func (binaryLifetime) Cleanup(func()) {}

// withListen starts the cache's NOTIFY listener (and waits until it listens).
func withListen() envOption { return func(o *envOptions) { o.db, o.listen = true, true } }

func newTestGateway(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	var o envOptions
	for _, f := range opts {
		f(&o)
	}
	e := &testEnv{t: t, clock: &fakeClock{now: t0}, reg: prometheus.NewRegistry()}
	e.natsDir = t.TempDir()
	e.ns = streamstest.RunServerIn(t, e.natsDir)
	e.nc, e.js = streamstest.Connect(t, e.ns)

	cfg := gateway.DefaultConfig()
	cfg.Now = e.clock.Now
	cfg.PublishTimeout = 10 * time.Second
	cfg.StripeSecrets = []string{stripeSecret}
	cfg.FacebookVerifyToken = fbVerifyToken
	cfg.FacebookAppSecret = fbAppSecret
	cfg.MailerLiteSecret = mailerLiteSecret
	cfg.CORSOrigins = []string{allowedOrigin}
	cfg.FormRate, cfg.FormBurst = 1000, 100_000 // tests post many forms from 127.0.0.1
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	e.cfg = cfg
	js := e.js
	deps := gateway.Deps{
		Publisher: &streams.Publisher{JS: e.js},
		Checks: []gateway.Check{
			{Name: "nats", Fn: func(ctx context.Context) error { return streams.Check(ctx, js) }},
		},
		Registry: e.reg,
		Waiter:   o.waiter,
	}
	if o.db {
		e.pool = sharedPool(t)
		if o.ownDB {
			e.pool = pgtest.New(t)
		}
		e.store = &webhooksdb.Webhooks{DB: e.pool}
		e.listenerLost = &countingHandler{msg: "webhook change listener lost; retrying"}
		e.cache = gateway.NewWebhookCache(e.store, cfg, slog.New(e.listenerLost))
		deps.Webhooks = e.cache
		pool := e.pool
		deps.Checks = append(deps.Checks, gateway.Check{Name: "postgres", Optional: true, Fn: func(ctx context.Context) error { return pool.Ping(ctx) }})
	}
	g, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	e.gw = g
	e.srv = httptest.NewServer(g)
	t.Cleanup(e.srv.Close)
	e.client = e.srv.Client()
	e.client.Timeout = 30 * time.Second
	e.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if o.listen {
		e.startListen()
	}
	return e
}

// sub returns the environment bound to a subtest's t (helpers call t.Fatal,
// which must run on that test's goroutine).
func (e *testEnv) sub(t testing.TB) *testEnv {
	c := *e
	c.t = t
	return &c
}

// startListen runs cache.Listen until the test ends and waits until its
// LISTEN is in place, so a change made afterwards is announced.
func (e *testEnv) startListen() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.cache.Listen(ctx, e.pool)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
	testutil.CheckFor(e.t, 10*time.Second, 10*time.Millisecond, func() error {
		var n int
		err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN hookstream_webhooks'`).Scan(&n)
		if err == nil && n == 0 {
			err = errString("listener not connected yet")
		}
		return err
	})
}

type errString string

func (e errString) Error() string { return string(e) }

// result is one HTTP answer, body read.
type result struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorBody is the gateway's JSON error shape.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Details []struct {
		Field   string `json:"field"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"details"`
}

// hdrs builds a header from name/value pairs; a value "" deletes the name
// (so a test can drop the default Content-Type).
func hdrs(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// do sends one request. h may be nil. A Content-Type of "" in h means the
// request carries none.
func (e *testEnv) do(method, path string, body io.Reader, h http.Header) *result {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL, body)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	req.URL.Opaque = path // sent exactly as written (escapes, dots)
	if !strings.HasPrefix(path, "/") {
		e.t.Fatalf("path %q must start with /", path)
	}
	for k, vs := range h {
		for _, v := range vs {
			if v == "" {
				req.Header.Del(k)
				continue
			}
			req.Header.Add(k, v)
		}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return &result{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// post sends body as JSON unless h sets another Content-Type.
func (e *testEnv) post(path string, body []byte, h http.Header) *result {
	e.t.Helper()
	hh := http.Header{"Content-Type": {"application/json"}}
	for k, v := range h {
		hh[http.CanonicalHeaderKey(k)] = v
	}
	return e.do(http.MethodPost, path, bytes.NewReader(body), hh)
}

func (e *testEnv) get(path string) *result {
	e.t.Helper()
	return e.do(http.MethodGet, path, nil, nil)
}

// streamCount is how many messages INGEST holds.
func (e *testEnv) streamCount() uint64 {
	e.t.Helper()
	return streamstest.StreamMsgs(e.t, e.js, streams.StreamIngest)
}

// lastMsg returns the newest INGEST message on subject.
func (e *testEnv) lastMsg(subject string) *jetstream.RawStreamMsg {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, streams.StreamIngest)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		e.t.Fatalf("last message on %s: %v", subject, err)
	}
	return m
}

// msgAt returns the INGEST message with sequence seq.
func (e *testEnv) msgAt(seq uint64) *jetstream.RawStreamMsg {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, streams.StreamIngest)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		e.t.Fatalf("message %d: %v", seq, err)
	}
	return m
}

// healthy fails unless GET /healthz answers 200.
func (e *testEnv) healthy() {
	e.t.Helper()
	if r := e.get("/healthz"); r.Status != http.StatusOK {
		e.t.Fatalf("healthz: %d %s", r.Status, r.Body)
	}
}

// rejects sends the request and checks the JSON error answer, that INGEST
// did not grow, and that the server still answers /healthz.
func (e *testEnv) rejects(t testing.TB, status int, code string, send func() *result) *errorBody {
	t.Helper()
	e = e.sub(t)
	before := e.streamCount()
	r := send()
	eb := r.wantError(t, status, code)
	if after := e.streamCount(); after != before {
		t.Fatalf("INGEST grew from %d to %d on a rejected request (%d %s)", before, after, r.Status, r.Body)
	}
	e.healthy()
	return eb
}

// wantError checks status, the JSON content type and the error shape.
func (r *result) wantError(t testing.TB, status int, code string) *errorBody {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q, want application/json; body %q", ct, r.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, r.Body)
	}
	for _, k := range []string{"error", "message", "details"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("error body lacks %q: %s", k, r.Body)
		}
	}
	var eb errorBody
	if err := json.Unmarshal(r.Body, &eb); err != nil {
		t.Fatalf("error body: %v: %s", err, r.Body)
	}
	if eb.Error != code {
		t.Fatalf("error code %q, want %q; body %s", eb.Error, code, r.Body)
	}
	if eb.Message == "" || eb.Details == nil {
		t.Fatalf("error body needs a message and a details array: %s", r.Body)
	}
	if (status == http.StatusTooManyRequests || code == "stream_unavailable") && r.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %s without Retry-After", status, code)
	}
	return &eb
}

// accepted is the success body.
type accepted struct {
	Accepted  bool   `json:"accepted"`
	EventID   string `json:"event_id"`
	Duplicate bool   `json:"duplicate"`
	StreamSeq uint64 `json:"stream_seq"`
}

func (r *result) wantAccepted(t testing.TB) accepted {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var a accepted
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("success body: %v: %s", err, r.Body)
	}
	if !a.Accepted || a.EventID == "" || a.StreamSeq == 0 {
		t.Fatalf("success body incomplete: %s", r.Body)
	}
	return a
}

// wantDetail fails unless details hold field with code.
func (eb *errorBody) wantDetail(t testing.TB, field, code string) {
	t.Helper()
	for _, d := range eb.Details {
		if d.Field == field && d.Code == code {
			return
		}
	}
	t.Fatalf("details lack {field:%q code:%q}: %+v", field, code, eb.Details)
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// createWebhook stores a webhook in workspace 15213.
func (e *testEnv) createWebhook(wh webhooksdb.Webhook) *webhooksdb.Webhook {
	e.t.Helper()
	if e.store == nil {
		e.t.Fatal("createWebhook needs newTestGateway(t, withDB())")
	}
	if wh.WorkspaceID == "" {
		wh.WorkspaceID = workspace
	}
	if wh.Name == "" {
		wh.Name = "test " + wh.AuthScheme
	}
	out, err := e.store.Create(context.Background(), &wh)
	if err != nil {
		e.t.Fatalf("create webhook: %v", err)
	}
	return out
}

func secrets(vals ...string) []webhooksdb.Secret {
	out := make([]webhooksdb.Secret, len(vals))
	for i, v := range vals {
		out[i] = webhooksdb.Secret{Value: v}
	}
	return out
}

// ---- signers ---------------------------------------------------------------

// signStandard returns Standard Webhooks headers for body at ts.
func signStandard(secret, id string, ts time.Time, body []byte) http.Header {
	return hdrs("webhook-id", id, "webhook-timestamp", strconv.FormatInt(ts.Unix(), 10),
		"webhook-signature", verify.SignStandard(secret, id, ts, body))
}

func hmacSHA256(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

func hexMAC(secret string, body []byte) string { return hex.EncodeToString(hmacSHA256(secret, body)) }

func b64MAC(secret string, body []byte) string {
	return base64.StdEncoding.EncodeToString(hmacSHA256(secret, body))
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// stripeHeader signs body for Stripe at ts.
func stripeHeader(secret string, ts time.Time, body []byte) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: ts}).Header
}

func (e *testEnv) postStripe(body []byte, secret string, ts time.Time) *result {
	e.t.Helper()
	return e.post("/webhooks/stripe", body, hdrs("Stripe-Signature", stripeHeader(secret, ts, body)))
}

// metricsText is the /metrics exposition.
func (e *testEnv) metricsText() string {
	e.t.Helper()
	r := e.get("/metrics")
	if r.Status != http.StatusOK {
		e.t.Fatalf("/metrics: %d", r.Status)
	}
	return string(r.Body)
}

func decodeMap(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	mustJSON(t, b, &m)
	return m
}

func readAll(resp *http.Response) ([]byte, error) { return io.ReadAll(resp.Body) }

// countingHandler counts the log records with one message.
type countingHandler struct {
	msg string
	n   atomic.Int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
