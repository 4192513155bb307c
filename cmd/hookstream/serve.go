package main

import (
	"context"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/ops/dlq"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s settings
	fs := newFlags("serve", "serve [flags]", stderr)
	s.coreFlags(fs)
	s.gatewayFlags(fs)
	fs.StringVar(&s.only, "only", "", "run only these processors (comma-separated); default all")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	return runPipeline(ctx, s, true, true)
}

func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s settings
	fs := newFlags("gateway", "gateway [flags]", stderr)
	s.coreFlags(fs)
	s.gatewayFlags(fs)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	return runPipeline(ctx, s, true, false)
}

func runProcess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s settings
	fs := newFlags("process", "process [--only contacts,boards,…] [flags]", stderr)
	s.coreFlags(fs)
	fs.StringVar(&s.only, "only", "", "run only these processors (comma-separated); default all")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	return runPipeline(ctx, s, false, true)
}

// runPipeline opens NATS and Postgres, then runs the gateway and/or the
// processors until ctx ends, and shuts everything down in order: HTTP stops
// accepting and finishes in-flight requests, processors drain, NATS drains,
// Postgres closes (and the private cluster stops).
func runPipeline(ctx context.Context, s settings, withGateway, withProcessors bool) error {
	a, err := newApp(s)
	if err != nil {
		return err
	}
	defer a.close()
	a.ownDB = true
	if err := a.openDB(ctx); err != nil {
		return err
	}
	if err := a.openNATS(ctx, "hookstream"); err != nil {
		return err
	}
	procs, waiter, err := a.processors(splitList(s.only))
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if withGateway {
		gw, cache, err := a.newGateway(waiter)
		if err != nil {
			return err
		}
		a.mountAPI(gw)
		g.Go(func() error { cache.Listen(gctx, a.pool); return nil })
		g.Go(func() error { return a.serveHTTP(gctx, gw) })
	}
	if withProcessors && len(procs) > 0 {
		// Dead-letters messages whose process died during their last attempt.
		capture := &dlq.Capture{NC: a.nc, JS: a.js, DB: a.pool, Outcomes: &processors.GroupedOutcomes{DB: a.pool}, Log: a.log}
		g.Go(func() error { return capture.Run(gctx) })
		runner := a.runner()
		g.Go(func() error { return runner.Run(gctx, procs...) })
	}
	err = g.Wait()
	a.log.Info("shutting down")
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w", err)
	}
	return nil
}
