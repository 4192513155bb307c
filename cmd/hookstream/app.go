package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/processors"
)

// settings are the flags of serve, gateway, process and the CLI verbs.
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
	metricsAddr string
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

// pipelineConfig is THE place serve, gateway and process (and dlq retry)
// get their configuration: the flags in s plus the environment settings of
// what runs — the gateway's when withGateway, the processors' (those in
// --only, or all) when withProcessors.
func (s *settings) pipelineConfig(getenv func(string) string, withGateway, withProcessors bool) (pipeline.Config, error) {
	c := pipeline.DefaultConfig()
	c.Gateway, c.Processors, c.Only = withGateway, withProcessors, splitList(s.only)
	c.DataDir, c.NATSURL, c.NATSListen, c.SyncAlways, c.DatabaseURL = s.dataDir, s.natsURL, s.natsListen, s.syncAlways, s.databaseURL
	if s.replicas > 0 { // the CLI verbs have no stream flags
		c.Streams.Replicas, c.Streams.Duplicates, c.Streams.IngestMaxAge = s.replicas, s.dedup, s.ingestMaxAge
	}
	c.Log = pipeline.LogConfig{Format: s.logFormat, Level: s.logLevel}
	c.HTTPAddr, c.MetricsAddr = s.httpAddr, s.metricsAddr
	if s.workspace != "" {
		c.HTTP.Workspace, c.Payments.Workspace = s.workspace, s.workspace
	}
	if s.bodyLimit > 0 {
		c.HTTP.BodyLimit = s.bodyLimit
	}
	c.HTTP.CORSOrigins = splitList(s.corsOrigins)
	if s.formRate > 0 || s.formBurst > 0 {
		c.HTTP.FormRate, c.HTTP.FormBurst = s.formRate, s.formBurst
	}
	c.HTTP.DefaultRegion, c.Contacts.DefaultRegion = s.region, s.region
	var procs []string
	if withProcessors {
		if procs = c.Only; len(procs) == 0 {
			procs = pipeline.Names()
		}
	}
	if err := readEnv(&c, getenv, withGateway, procs); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func (s *settings) logger() (*slog.Logger, error) {
	h, err := pipeline.LogConfig{Format: s.logFormat, Level: s.logLevel}.Handler(os.Stderr)
	if err != nil {
		return nil, err
	}
	return slog.New(scrubLogs(h)), nil
}

// app holds a CLI verb's connections; close releases them in reverse order.
type app struct {
	s       settings
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	pool    *pgxpool.Pool
	reg     *prometheus.Registry
	closers []func()
}

func newApp(s settings) (*app, error) {
	log, err := s.logger()
	if err != nil {
		return nil, err
	}
	return &app{s: s, log: log, reg: prometheus.NewRegistry()}, nil
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// openDB connects to DATABASE_URL or the private cluster a serve started
// under --data-dir (starting it if none runs), then migrates.
func (a *app) openDB(ctx context.Context) error {
	cfg := pipeline.DefaultConfig()
	cfg.DataDir, cfg.DatabaseURL = a.s.dataDir, a.s.databaseURL
	pool, closeDB, err := pipeline.OpenDB(ctx, cfg, a.log, false)
	if err != nil {
		return err
	}
	a.pool = pool
	a.closers = append(a.closers, closeDB)
	return nil
}

// processors builds the processors in only (all when empty) from the
// environment, as `process` does (dlq retry applies dead letters with
// them). The waiter is always nil: verbs answer no ?wait.
func (a *app) processors(only []string) ([]processors.Processor, gateway.ResultWaiter, error) {
	s := a.s
	s.only = strings.Join(only, ",")
	cfg, err := s.pipelineConfig(os.Getenv, false, true)
	if err != nil {
		return nil, nil, err
	}
	procs, err := pipeline.BuildProcessors(processors.Deps{DB: a.pool, JS: a.js, NC: a.nc, Log: a.log, Metrics: a.reg}, cfg)
	return procs, nil, err
}
