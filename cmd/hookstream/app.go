package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/projections"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

// settings are the flags shared by serve, gateway and process.
type settings struct {
	dataDir      string
	natsListen   string
	natsURL      string
	databaseURL  string
	replicas     int
	dedup        time.Duration
	ingestMaxAge time.Duration
	syncAlways   bool
	logFormat    string
	logLevel     string

	httpAddr    string
	workspace   string
	bodyLimit   int64
	corsOrigins string
	formRate    float64
	formBurst   int
	region      string

	only string
}

func (s *settings) coreFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.dataDir, "data-dir", "./data", "where the embedded NATS store and the private Postgres live")
	fs.StringVar(&s.natsListen, "nats-listen", "127.0.0.1:4222", "embedded NATS client listener for the nats CLI and other processes; off disables it")
	fs.StringVar(&s.natsURL, "nats-url", "", "connect to this NATS server or cluster (comma-separated URLs) instead of embedding one")
	fs.StringVar(&s.databaseURL, "database-url", "", "Postgres connection string; empty starts a private cluster under --data-dir")
	fs.IntVar(&s.replicas, "replicas", 1, "stream replicas (3 on a NATS cluster)")
	fs.DurationVar(&s.dedup, "dedup-window", 10*time.Minute, "INGEST de-duplication window for Nats-Msg-Id")
	fs.DurationVar(&s.ingestMaxAge, "ingest-max-age", 90*24*time.Hour, "how long raw events are kept in INGEST")
	fs.BoolVar(&s.syncAlways, "sync-always", false, "fsync every JetStream write on the embedded server (default: fsync every 2 min; writes survive a process crash either way)")
	fs.StringVar(&s.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&s.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&s.region, "default-region", "US", "region for phone numbers written without a country code")
}

func (s *settings) gatewayFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address of the gateway")
	fs.StringVar(&s.workspace, "workspace", "default", "workspace of events from the global routes (Stripe, Facebook, MailerLite, forms)")
	fs.Int64Var(&s.bodyLimit, "body-limit", 1<<20, "maximum request body in bytes (413 above)")
	fs.StringVar(&s.corsOrigins, "cors-origins", "", "comma-separated origins allowed to post forms from a browser (* for any)")
	fs.Float64Var(&s.formRate, "form-rate", 1, "form posts per second per client IP (token bucket)")
	fs.IntVar(&s.formBurst, "form-burst", 10, "form post burst per client IP")
}

func (s *settings) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(s.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch s.logFormat {
	case "json":
		return slog.New(scrubLogs(slog.NewJSONHandler(os.Stderr, opts))), nil
	case "text":
		return slog.New(scrubLogs(slog.NewTextHandler(os.Stderr, opts))), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, got %q", s.logFormat)
}

func (s *settings) streamsConfig() streams.Config {
	c := streams.DefaultConfig()
	c.Replicas, c.Duplicates, c.IngestMaxAge = s.replicas, s.dedup, s.ingestMaxAge
	return c
}

// app holds the process's connections; close releases them in reverse order.
type app struct {
	s       settings
	log     *slog.Logger
	ns      *server.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	pg      *projections.Local
	pool    *pgxpool.Pool
	reg     *prometheus.Registry
	closers []func()
	ownDB   bool // serve/gateway/process own the private cluster; CLI verbs share it
	// onHTTPShutdown run when the HTTP server starts shutting down (the
	// admin API's live feeds end, so Shutdown need not wait for them).
	onHTTPShutdown []func()
}

func newApp(s settings) (*app, error) {
	log, err := s.logger()
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &app{s: s, log: log, reg: reg}, nil
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// openNATS embeds a server unless --nats-url is set, connects and ensures the
// streams.
func (a *app) openNATS(ctx context.Context, name string) error {
	if a.s.natsURL == "" {
		if err := os.MkdirAll(a.s.dataDir, 0o755); err != nil {
			return err
		}
		ns, err := streams.StartServer(streams.ServerConfig{
			StoreDir:   filepath.Join(a.s.dataDir, "nats"),
			Listen:     a.s.natsListen,
			SyncAlways: a.s.syncAlways,
			Logger:     a.log,
		})
		if err != nil {
			return err
		}
		a.ns = ns
		a.closers = append(a.closers, func() { ns.Shutdown(); ns.WaitForShutdown() })
		if a.s.natsListen != "off" {
			a.log.Info("embedded NATS listening", "url", ns.ClientURL())
		}
	}
	nc, err := streams.Connect(a.s.natsURL, a.ns, name, a.log)
	if err != nil {
		return err
	}
	a.nc = nc
	a.closers = append(a.closers, func() { nc.Drain(); waitClosed(nc) })
	js, err := streams.JetStream(nc)
	if err != nil {
		return err
	}
	a.js = js
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return streams.Ensure(ectx, js, a.s.streamsConfig())
}

func waitClosed(nc *nats.Conn) {
	for i := 0; i < 100 && !nc.IsClosed(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	nc.Close()
}

// openDB connects to DATABASE_URL or starts the private cluster, then
// migrates.
func (a *app) openDB(ctx context.Context) error {
	dsn := a.s.databaseURL
	if dsn == "" {
		pg, err := projections.StartLocal(ctx, projections.LocalConfig{
			Dir: filepath.Join(a.s.dataDir, "postgres"), Logger: a.log, Own: a.ownDB})
		if err != nil {
			return err
		}
		a.pg = pg
		a.closers = append(a.closers, func() { pg.Stop() })
		dsn = pg.URL
	}
	pool, err := projections.Open(ctx, dsn)
	if err != nil {
		return err
	}
	a.pool = pool
	a.closers = append(a.closers, pool.Close)
	applied, err := projections.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		a.log.Info("migrations applied", "versions", applied)
	}
	return nil
}

// newGateway builds the HTTP gateway from settings and the environment's
// secrets (secrets never come from flags, which other users can read in ps).
func (a *app) newGateway(waiter gateway.ResultWaiter) (*gateway.Gateway, *gateway.WebhookCache, error) {
	cfg := gateway.DefaultConfig()
	cfg.Workspace = a.s.workspace
	cfg.BodyLimit = a.s.bodyLimit
	cfg.CORSOrigins = splitList(a.s.corsOrigins)
	cfg.FormRate, cfg.FormBurst = a.s.formRate, a.s.formBurst
	cfg.DefaultRegion = a.s.region
	cfg.StripeSecrets = verify.SplitSecrets(os.Getenv("STRIPE_WEBHOOK_SECRET"))
	cfg.FacebookVerifyToken = os.Getenv("FACEBOOK_VERIFY_TOKEN")
	cfg.FacebookAppSecret = os.Getenv("FACEBOOK_APP_SECRET")
	cfg.MailerLiteSecret = os.Getenv("MAILERLITE_WEBHOOK_SECRET")
	cache := gateway.NewWebhookCache(&webhooksdb.Webhooks{DB: a.pool}, cfg, a.log)
	g, err := gateway.New(cfg, gateway.Deps{
		Publisher: &streams.Publisher{JS: a.js},
		Webhooks:  cache,
		Waiter:    waiter,
		Registry:  a.reg,
		Log:       a.log,
		Checks: []gateway.Check{
			{Name: "nats", Fn: func(context.Context) error {
				if !a.nc.IsConnected() {
					return errors.New("not connected")
				}
				return nil
			}},
			{Name: "streams", Fn: func(ctx context.Context) error { return streams.Check(ctx, a.js) }},
			{Name: "postgres", Optional: true, Fn: func(ctx context.Context) error { return a.pool.Ping(ctx) }},
		},
	})
	return g, cache, err
}

// serveHTTP serves h until ctx ends, then shuts down gracefully: stop
// accepting, let in-flight requests finish (their publishes are acked first).
func (a *app) serveHTTP(ctx context.Context, h http.Handler) error {
	ln, err := net.Listen("tcp", a.s.httpAddr)
	if err != nil {
		return err
	}
	srv := gateway.NewHTTPServer(a.s.httpAddr, h, gateway.ServerTimeouts{})
	for _, f := range a.onHTTPShutdown {
		srv.RegisterOnShutdown(f)
	}
	a.log.Info("gateway listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	return nil
}
