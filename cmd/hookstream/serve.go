package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/hookstream/hookstream/pipeline"
)

// role is what a pipeline verb runs.
type role struct {
	name, synopsis      string
	gateway, processors bool
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRole(ctx, role{"serve", "serve [flags]", true, true}, args, stdout, stderr)
}

func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRole(ctx, role{"gateway", "gateway [flags]", true, false}, args, stdout, stderr)
}

func runProcess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRole(ctx, role{"process", "process [--only contacts,boards,…] [flags]", false, true}, args, stdout, stderr)
}

// roleFlags are the flags of a pipeline verb; --help also lists its
// environment settings.
func roleFlags(r role, s *settings, stderr io.Writer) *flag.FlagSet {
	fs := newFlags(r.name, r.synopsis, stderr)
	s.coreFlags(fs)
	if r.gateway {
		s.gatewayFlags(fs)
	}
	if r.processors {
		fs.StringVar(&s.only, "only", "", "run only these processors (comma-separated); default all")
	}
	if r.processors && !r.gateway {
		fs.StringVar(&s.metricsAddr, "metrics-addr", "", "serve /metrics and /healthz on this address (e.g. 127.0.0.1:9100); the gateway serves them itself")
	}
	flagUsage := fs.Usage
	fs.Usage = func() {
		flagUsage()
		printEnv(fs.Output(), r.gateway, r.processors)
	}
	return fs
}

// runRole reads the configuration, builds the pipeline and runs it until
// ctx ends.
func runRole(ctx context.Context, r role, args []string, stdout, stderr io.Writer) error {
	var s settings
	fs := roleFlags(r, &s, stderr)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	cfg, err := s.pipelineConfig(os.Getenv, r.gateway, r.processors)
	if err != nil {
		return err
	}
	log, err := s.logger()
	if err != nil {
		return err
	}
	p, err := pipeline.New(ctx, cfg, pipeline.Deps{Log: log})
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Run(ctx)
}
