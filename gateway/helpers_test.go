package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	"github.com/hookstream/hookstream/internal/pipelinetest"
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

// testEnv is one gateway built as `hookstream gateway` builds it
// (pipelinetest: pipeline.New on a real embedded JetStream server and a
// real, migrated Postgres database), served by httptest, on a fake clock.
type testEnv struct {
	t   testing.TB
	env *pipelinetest.Env
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
	client       *http.Client
}

type envOptions struct {
	cfg    func(*gateway.Config)
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

// withOwnDB gives the gateway a database of its own, for tests that break it
// (outages, a closed pool); without it the gateway uses the test binary's
// shared database (see sharedPool).
func withOwnDB() envOption { return func(o *envOptions) { o.ownDB = true } }

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
func withListen() envOption { return func(o *envOptions) { o.listen = true } }

func newTestGateway(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	var o envOptions
	for _, f := range opts {
		f(&o)
	}
	e := &testEnv{t: t, clock: &fakeClock{now: t0},
		listenerLost: &countingHandler{msg: "webhook change listener lost; retrying"}}
	po := pipelinetest.Options{NoWait: true, ListenWebhooks: o.listen, Logs: e.listenerLost,
		Gateway: func(cfg *gateway.Config) {
			*cfg = gateway.DefaultConfig() // this package's settings, not pipelinetest's
			cfg.Now = e.clock.Now
			cfg.PublishTimeout = 10 * time.Second
			cfg.StripeSecrets = []string{stripeSecret}
			cfg.FacebookVerifyToken = fbVerifyToken
			cfg.FacebookAppSecret = fbAppSecret
			cfg.MailerLiteSecret = mailerLiteSecret
			cfg.CORSOrigins = []string{allowedOrigin}
			cfg.FormRate, cfg.FormBurst = 1000, 100_000 // tests post many forms from 127.0.0.1
			if o.cfg != nil {
				o.cfg(cfg)
			}
		}}
	if !o.ownDB {
		po.DB = sharedPool(t)
	}
	env := pipelinetest.New(t, po)
	e.env = env
	e.cfg, e.gw, e.srv, e.client = env.GatewayConfig, env.Gateway, env.HTTP, env.Client
	e.ns, e.natsDir, e.nc, e.js = env.NATS, env.NATSDir, env.NC, env.JS
	e.pool, e.store, e.cache = env.DB, env.Webhooks, env.Cache
	if o.waiter != nil {
		e.serveWithWaiter(o.waiter)
	}
	e.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return e
}

// serveWithWaiter serves a gateway that answers ?wait through w instead of
// the pipeline's (the processors' results): a test of the gateway's side of
// ?wait. Everything else is the pipeline's: config, publisher, webhook cache.
func (e *testEnv) serveWithWaiter(w gateway.ResultWaiter) {
	e.t.Helper()
	g, err := gateway.New(e.cfg, gateway.Deps{Publisher: &streams.Publisher{JS: e.js}, Webhooks: e.cache,
		Registry: prometheus.NewRegistry(), Waiter: w})
	if err != nil {
		e.t.Fatalf("gateway.New: %v", err)
	}
	e.gw = g
	e.srv = httptest.NewServer(g)
	e.t.Cleanup(e.srv.Close)
	e.client = e.srv.Client()
	e.client.Timeout = 30 * time.Second
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
func (e *testEnv) startListen() { e.env.ListenWebhooks() }

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
	return e.ingestMsg("last message on "+subject, func(ctx context.Context, st jetstream.Stream) (*jetstream.RawStreamMsg, error) {
		return st.GetLastMsgForSubject(ctx, subject)
	})
}

// msgAt returns the INGEST message with sequence seq.
func (e *testEnv) msgAt(seq uint64) *jetstream.RawStreamMsg {
	e.t.Helper()
	return e.ingestMsg(fmt.Sprintf("message %d", seq), func(ctx context.Context, st jetstream.Stream) (*jetstream.RawStreamMsg, error) {
		return st.GetMsg(ctx, seq)
	})
}

// ingestMsg reads one INGEST message with get, failing the test on error.
func (e *testEnv) ingestMsg(what string, get func(context.Context, jetstream.Stream) (*jetstream.RawStreamMsg, error)) *jetstream.RawStreamMsg {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, streams.StreamIngest)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := get(ctx, st)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
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
