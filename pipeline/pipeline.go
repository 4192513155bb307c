package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/hookstream/hookstream/admin"
	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/ops/dlq"
	"github.com/hookstream/hookstream/processors"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

// Deps are what a pipeline is given rather than builds.
type Deps struct {
	// Log; nil discards.
	Log *slog.Logger
	// Registry receives every metric; nil: a new registry with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// Conns already open (tests); missing ones are opened from Config.
	Conns Conns
	// Name of the NATS connection. Default "hookstream".
	Name string
}

// Pipeline is one process's wiring: the gateway and/or the processors.
type Pipeline struct {
	Config   Config
	Log      *slog.Logger
	Registry *prometheus.Registry
	Conns

	// Gateway with the admin API mounted (nil without Config.Gateway).
	Gateway *gateway.Gateway
	Cache   *gateway.WebhookCache
	Admin   *admin.API
	// Waiter answers ?wait (nil when Config.WaitPrimary is empty).
	Waiter *processors.Waiter

	// Processors are the consumers the runner runs (none without
	// Config.Processors).
	Processors []processors.Processor
	// Outcomes is the process's one outcome recorder: the runner and the
	// dead-letter capture share its group commit.
	Outcomes *processors.GroupedOutcomes
	Runner   *processors.Runner
	Capture  *dlq.Capture

	metrics *processors.Metrics
	closers closers
}

// New validates cfg, opens what deps does not give (Postgres first, then
// NATS and the streams) and builds the gateway and the processors cfg asks
// for. Close releases what New opened.
func New(ctx context.Context, cfg Config, deps Deps) (p *Pipeline, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p = &Pipeline{Config: cfg, Log: deps.Log, Registry: deps.Registry, Conns: deps.Conns}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.Registry == nil {
		p.Registry = prometheus.NewRegistry()
		p.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if p.DB == nil {
		if p.DB, err = openDB(ctx, cfg, p.Log, true, &p.closers); err != nil {
			return nil, err
		}
	} else if err := migrate(ctx, p.DB, p.Log); err != nil {
		return nil, err
	}
	if p.NC == nil {
		name := deps.Name
		if name == "" {
			name = "hookstream"
		}
		if p.NATS, p.NC, err = openNATS(cfg, name, p.Log, &p.closers); err != nil {
			return nil, err
		}
	}
	if p.JS == nil {
		if p.JS, err = streams.JetStream(p.NC); err != nil {
			return nil, err
		}
	}
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := streams.Ensure(ectx, p.JS, cfg.Streams); err != nil {
		return nil, err
	}
	if cfg.WaitPrimary != "" {
		p.Waiter = &processors.Waiter{NC: p.NC, DB: p.DB, Primary: cfg.WaitPrimary, FollowUps: cfg.WaitFollowUps}
	}
	// One per process: a second GroupedOutcomes would split the group
	// commit into two streams of small COPYs.
	p.Outcomes = &processors.GroupedOutcomes{DB: p.DB}
	if cfg.Gateway {
		if err := p.buildGateway(); err != nil {
			return nil, err
		}
	}
	if cfg.Processors {
		if err := p.buildProcessors(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// ProcessorDeps are the dependencies every processor is built with.
func (p *Pipeline) ProcessorDeps() processors.Deps {
	return processors.Deps{DB: p.DB, JS: p.JS, NC: p.NC, Log: p.Log, Metrics: p.Registry}
}

// NewRunner is a runner recording outcomes in the pipeline's Outcomes and
// feeding the per-processor metrics.
func (p *Pipeline) NewRunner() *processors.Runner {
	return &processors.Runner{JS: p.JS, Outcomes: p.Outcomes, Log: p.Log, Observe: p.observe()}
}

// observe registers the per-processor series (and the consumer lag
// collector) once per pipeline.
func (p *Pipeline) observe() func(processors.Outcome) {
	if p.metrics == nil {
		p.metrics = processors.NewMetrics(p.Registry)
		p.Registry.MustRegister(&processors.ConsumerCollector{JS: p.JS, Timeout: 2 * time.Second})
	}
	return p.metrics.Observe
}

func (p *Pipeline) buildProcessors() error {
	procs, err := BuildProcessors(p.ProcessorDeps(), p.Config)
	if err != nil {
		return err
	}
	p.Processors = procs
	p.Runner = p.NewRunner()
	// Dead-letters messages whose process died during their last attempt.
	p.Capture = &dlq.Capture{NC: p.NC, JS: p.JS, DB: p.DB, Outcomes: p.Outcomes, Log: p.Log}
	return nil
}

// buildGateway builds the HTTP gateway and mounts the admin API on it.
func (p *Pipeline) buildGateway() error {
	p.Cache = gateway.NewWebhookCache(&webhooksdb.Webhooks{DB: p.DB}, p.Config.HTTP, p.Log)
	gd := gateway.Deps{
		Publisher: &streams.Publisher{JS: p.JS},
		Webhooks:  p.Cache,
		Registry:  p.Registry,
		Log:       p.Log,
		Checks: []gateway.Check{
			{Name: "nats", Fn: func(context.Context) error {
				if !p.NC.IsConnected() {
					return errors.New("not connected")
				}
				return nil
			}},
			{Name: "streams", Fn: func(ctx context.Context) error { return streams.Check(ctx, p.JS) }},
			{Name: "postgres", Optional: true, Fn: func(ctx context.Context) error { return p.DB.Ping(ctx) }},
		},
	}
	if p.Waiter != nil {
		gd.Waiter = waiter{p.Waiter}
	}
	g, err := gateway.New(p.Config.HTTP, gd)
	if err != nil {
		return err
	}
	p.Gateway = g
	p.Admin = admin.New(admin.Config{Token: p.Config.Admin.Token, DB: p.DB, JS: p.JS, Log: p.Log, Heartbeat: p.Config.Admin.Heartbeat})
	if p.Config.Admin.Token == "" {
		p.Log.Info("admin API off: set HOOKSTREAM_ADMIN_TOKEN to enable /api/")
	}
	g.Handle(admin.Pattern, p.Admin)
	return nil
}

// waiter adapts processors.Waiter to gateway.ResultWaiter.
type waiter struct{ w *processors.Waiter }

func (w waiter) Expect(eventID string) (gateway.ResultWait, error) {
	p, err := w.w.Expect(eventID)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// NewHTTPServer is the gateway's HTTP server; its shutdown ends the admin
// API's live feeds, so Shutdown need not wait for them.
func (p *Pipeline) NewHTTPServer(addr string) *http.Server {
	srv := gateway.NewHTTPServer(addr, p.Gateway, gateway.ServerTimeouts{})
	srv.RegisterOnShutdown(p.Admin.Close)
	return srv
}

// Run runs the gateway (listening on Config.HTTPAddr) and/or the
// processors until ctx ends, then shuts down in order: HTTP stops accepting
// and finishes in-flight requests, processors drain.
func (p *Pipeline) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	if p.Gateway != nil {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", p.Config.HTTPAddr)
		if err != nil {
			return err
		}
		g.Go(func() error { p.Cache.Listen(gctx, p.DB); return nil })
		g.Go(func() error { return p.serve(gctx, ln) })
	}
	if p.Gateway == nil && p.Config.MetricsAddr != "" {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", p.Config.MetricsAddr)
		if err != nil {
			return err
		}
		g.Go(func() error { return p.serveMetrics(gctx, ln) })
	}
	if len(p.Processors) > 0 {
		g.Go(func() error { return p.RunProcessors(gctx) })
	}
	err := g.Wait()
	p.Log.Info("shutting down")
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}

// RunProcessors runs the processors and the dead-letter capture until ctx
// ends and every in-flight handler has finished.
func (p *Pipeline) RunProcessors(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Capture.Run(gctx) })
	g.Go(func() error { return p.Runner.Run(gctx, p.Processors...) })
	return g.Wait()
}

// serve serves the gateway on ln until ctx ends, then shuts down
// gracefully (in-flight requests finish; their publishes are acked first).
func (p *Pipeline) serve(ctx context.Context, ln net.Listener) error {
	srv := p.NewHTTPServer(p.Config.HTTPAddr)
	p.Log.Info("gateway listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// Close releases what New opened, in reverse order: NATS drains, Postgres
// closes (and the private cluster stops).
func (p *Pipeline) Close() { p.closers.close() }
