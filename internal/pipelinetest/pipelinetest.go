// Package pipelinetest runs Hookstream's pipeline for tests: a real embedded
// JetStream server (INGEST, EVENTS, DLQ), a fresh migrated Postgres database,
// the real gateway served over HTTP (with ?wait wired as in `serve`) and
// processor runners started on demand.
//
// A test package that uses it needs pgtest's TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Typical use:
//
//	env := pipelinetest.New(t, pipelinetest.Options{})
//	env.Start(env.Must(contacts.New(env.Deps(), contacts.DefaultConfig()))...)
//	wh := env.CreateWebhook("ws1", nil)
//	res := env.PostWebhook(wh, body, pipelinetest.WebhookPost{Query: "wait=5s"})
//
// Everything is torn down at test cleanup, runners first.
package pipelinetest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/admin"
	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/projections/pgtest"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
	"github.com/hookstream/hookstream/streams/streamstest"
)

// Secrets the gateway's global routes are configured with, so tests can sign
// requests (stripe-go's webhook.GenerateTestSignedPayload, FacebookSignature,
// MailerLiteSignature).
const (
	StripeSecret        = "whsec_pipelinetest_stripe"
	FacebookAppSecret   = "pipelinetest-fb-app-secret"
	FacebookVerifyToken = "pipelinetest-fb-verify-token"
	MailerLiteSecret    = "pipelinetest-mailerlite-secret"
	// Workspace owns events from the global routes (Stripe, Facebook,
	// MailerLite, forms).
	Workspace = "default"
)

// Options shape an Env. The zero value is a full pipeline with default
// stream settings and ?wait answered by contacts + boards, as `serve` does.
type Options struct {
	// Streams replaces streams.DefaultConfig() (e.g. a short Duplicates
	// window to test sender retries outside it).
	Streams *streams.Config
	// Gateway edits the gateway configuration before it is built.
	Gateway func(*gateway.Config)
	// NoGateway skips the gateway and its HTTP server.
	NoGateway bool
	// WaitPrimary and WaitFollowUps name the processors whose results ?wait
	// merges. Defaults: "contacts" and ["boards"]. NoWait disables ?wait.
	WaitPrimary   string
	WaitFollowUps []string
	NoWait        bool
	// ListenWebhooks runs the gateway cache's Postgres LISTEN, so webhook
	// changes reach the gateway at once (off: the cache keeps its copy for
	// its TTL, like a gateway that missed a notification).
	ListenWebhooks bool
	// Pipeline edits the pipeline configuration (after Gateway), e.g. the
	// admin API: cfg.Admin.Token turns /api/ on, as HOOKSTREAM_ADMIN_TOKEN
	// does for serve.
	Pipeline func(*pipeline.Config)
	// LogLevel of the runners' and gateway's logs, written to the test log
	// (nil: slog.LevelWarn).
	LogLevel slog.Leveler
	// Logs also receives every record of the env's log, whatever LogLevel
	// says (its own Enabled decides), for tests that count or read log
	// lines.
	Logs slog.Handler
	// NATSDir is the JetStream store directory (default: a fresh
	// t.TempDir()); a test that restarts the server on the same store
	// chooses it.
	NATSDir string
	// DB is a migrated database to use instead of a fresh one (a package
	// that shares one database between its tests).
	DB *pgxpool.Pool
}

// Env is one pipeline under test.
type Env struct {
	T    testing.TB
	NATS *server.Server
	// NATSDir is the server's store directory.
	NATSDir  string
	NC       *nats.Conn
	JS       jetstream.JetStream
	DB       *pgxpool.Pool
	Store    *processors.Store
	Webhooks *webhooksdb.Webhooks
	// Waiter answers ?wait (nil with NoWait).
	Waiter *processors.Waiter

	// Pipeline built the gateway; the gateway (with the admin API mounted
	// at /api/ as serve mounts it), its HTTP server and a client for it
	// (all nil with NoGateway).
	Pipeline      *pipeline.Pipeline
	GatewayConfig gateway.Config
	Gateway       *gateway.Gateway
	Admin         *admin.API
	Cache         *gateway.WebhookCache
	HTTP          *httptest.Server
	Client        *http.Client

	Log *slog.Logger
}

// New starts NATS, a fresh database and (unless opts.NoGateway) the gateway.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	e := &Env{T: t}
	e.Log = TestLogger(t, opts.LogLevel)
	if opts.Logs != nil {
		e.Log = slog.New(tee{e.Log.Handler(), opts.Logs})
	}
	e.NATSDir = opts.NATSDir
	if e.NATSDir == "" {
		e.NATSDir = t.TempDir()
	}
	e.NATS = streamstest.RunServerIn(t, e.NATSDir)
	e.NC, e.JS = streamstest.Connect(t, e.NATS)
	if opts.Streams != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := streams.Ensure(ctx, e.JS, *opts.Streams)
		cancel()
		if err != nil {
			t.Fatalf("pipelinetest: streams: %v", err)
		}
	}
	e.DB = opts.DB
	if e.DB == nil {
		e.DB = pgtest.New(t)
	}
	e.Store = &processors.Store{DB: e.DB, JS: e.JS, NC: e.NC}
	e.Webhooks = &webhooksdb.Webhooks{DB: e.DB}
	if opts.NoGateway {
		if !opts.NoWait {
			e.Waiter = &processors.Waiter{NC: e.NC, DB: e.DB, Primary: "contacts", FollowUps: []string{"boards"}}
			if opts.WaitPrimary != "" {
				e.Waiter.Primary, e.Waiter.FollowUps = opts.WaitPrimary, opts.WaitFollowUps
			}
		}
		return e
	}

	// The gateway as `serve` builds it (pipeline.New), with the admin API
	// mounted, on the test's server and database.
	cfg := pipeline.DefaultConfig()
	cfg.Gateway, cfg.Processors = true, false
	if opts.Streams != nil {
		cfg.Streams = *opts.Streams
	}
	if opts.NoWait {
		cfg.WaitPrimary, cfg.WaitFollowUps = "", nil
	} else if opts.WaitPrimary != "" {
		cfg.WaitPrimary, cfg.WaitFollowUps = opts.WaitPrimary, opts.WaitFollowUps
	}
	gc := &cfg.HTTP
	gc.Workspace = Workspace
	gc.PublishTimeout = 5 * time.Second
	gc.StripeSecrets = []string{StripeSecret}
	gc.FacebookAppSecret = FacebookAppSecret
	gc.FacebookVerifyToken = FacebookVerifyToken
	gc.MailerLiteSecret = MailerLiteSecret
	gc.CORSOrigins = []string{"*"}
	gc.FormRate, gc.FormBurst = 100_000, 100_000
	gc.WebhookRate, gc.WebhookBurst = 100_000, 100_000
	if opts.Gateway != nil {
		opts.Gateway(gc)
	}
	if opts.Pipeline != nil {
		opts.Pipeline(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := pipeline.New(ctx, cfg, pipeline.Deps{Log: e.Log, Registry: prometheus.NewRegistry(),
		Conns: pipeline.Conns{NATS: e.NATS, NC: e.NC, JS: e.JS, DB: e.DB}})
	if err != nil {
		t.Fatalf("pipelinetest: pipeline: %v", err)
	}
	t.Cleanup(p.Close)
	e.Pipeline = p
	e.GatewayConfig = cfg.HTTP
	e.Gateway, e.Cache, e.Admin, e.Waiter = p.Gateway, p.Cache, p.Admin, p.Waiter
	e.HTTP = httptest.NewUnstartedServer(p.Gateway)
	e.HTTP.Config.RegisterOnShutdown(p.Admin.Close)
	e.HTTP.Start()
	t.Cleanup(e.HTTP.Close)
	e.Client = e.HTTP.Client()
	e.Client.Timeout = 30 * time.Second
	if opts.ListenWebhooks {
		e.ListenWebhooks()
	}
	return e
}

// Deps are the processor dependencies on the env's database and streams,
// logging to the test log.
func (e *Env) Deps() processors.Deps {
	return processors.Deps{DB: e.DB, JS: e.JS, NC: e.NC, Log: e.Log}
}

// Must returns a built processor's consumers and fails the test on err:
//
//	env.Start(env.Must(boards.New(env.Deps(), boards.DefaultConfig()))...)
func (e *Env) Must(b processors.Builder, err error) []processors.Processor {
	e.T.Helper()
	if err != nil {
		e.T.Fatalf("pipelinetest: build processor: %v", err)
	}
	return b.Processors()
}

// ListenWebhooks runs the gateway cache's Postgres LISTEN until the test
// ends, and returns once it listens: a webhook change made afterwards
// reaches the gateway at once (Options.ListenWebhooks does it at New).
func (e *Env) ListenWebhooks() {
	e.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Cache.Listen(ctx, e.DB)
	}()
	e.T.Cleanup(func() { cancel(); <-done })
	e.Eventually(10*time.Second, func() error {
		var n int
		if err := e.DB.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN hookstream_webhooks'`).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errorString("webhook listener not connected yet")
		}
		return nil
	})
}

type errorString string

func (e errorString) Error() string { return string(e) }

// Ctx is a context that ends after d or at test end.
func (e *Env) Ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	e.T.Cleanup(cancel)
	return ctx
}

// TestLogger writes slog records at level and above to t's log while the
// test runs (and drops them afterwards, when t.Log would panic).
func TestLogger(t testing.TB, level slog.Leveler) *slog.Logger {
	if level == nil {
		level = slog.LevelWarn
	}
	w := &logWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type logWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
