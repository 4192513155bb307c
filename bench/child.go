package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/pipeline"
)

// Child roles: the bench re-executes itself (hsbench, or the test binary
// through TestMain) to serve the HTTP ceiling's bare handler, and — with
// PROFILE=1 — the pipeline `hookstream gateway` runs (pipeline.New),
// profiled from the end of its start-up on (the binary's
// HOOKSTREAM_CPU_PROFILE also covers opening Postgres and NATS). Both run in
// their own process, like the real gateway, so the load generator never
// shares a Go runtime with the server it measures.
const (
	envChild   = "HSBENCH_CHILD"      // bare | gateway
	envAddr    = "HSBENCH_ADDR"       // HTTP listen address
	envProfile = "HSBENCH_CPUPROFILE" // write a CPU profile here
	envDir     = "HSBENCH_DIR"        // gateway: NATS store dir
	envDB      = "HSBENCH_DB"         // gateway: Postgres URL
)

// MaybeChild runs this process in a child role and exits when HSBENCH_CHILD
// is set; otherwise it returns at once. Call it first thing in main (and in
// TestMain of tests that run the bench).
func MaybeChild() {
	role := os.Getenv(envChild)
	if role == "" {
		return
	}
	if err := runChild(role); err != nil {
		fmt.Fprintf(os.Stderr, "hsbench child %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(role string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	addr := os.Getenv(envAddr)
	switch role {
	case "bare":
		return serveBare(ctx, addr)
	case "gateway":
		return childGateway(ctx, addr)
	}
	return fmt.Errorf("unknown role %q", role)
}

// profile writes a CPU profile to HSBENCH_CPUPROFILE (if set) until the
// returned stop is called.
func profile() (stop func(), err error) {
	path := os.Getenv(envProfile)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// serveBare serves a handler that reads the body and answers 200, with the
// gateway's server settings, until ctx ends.
func serveBare(ctx context.Context, addr string) error {
	stopProfile, err := profile()
	if err != nil {
		return err
	}
	defer stopProfile()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	srv := gateway.NewHTTPServer(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the ceiling measures HTTP, not the body
		w.WriteHeader(http.StatusOK)
	}), gateway.ServerTimeouts{})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// childGateway runs the pipeline `hookstream gateway` runs (pipeline.New
// with the gateway alone, the defaults, embedded JetStream under
// HSBENCH_DIR without a client listener, Postgres at HSBENCH_DB), profiled
// from the moment it is built until it shuts down.
func childGateway(ctx context.Context, addr string) error {
	cfg := pipeline.DefaultConfig()
	cfg.Processors = false
	cfg.DataDir = os.Getenv(envDir)
	cfg.NATSListen = "off"
	cfg.DatabaseURL = os.Getenv(envDB)
	cfg.HTTPAddr = addr
	cfg.Log.Level = "warn"
	h, err := cfg.Log.Handler(os.Stderr)
	if err != nil {
		return err
	}
	p, err := pipeline.New(ctx, cfg, pipeline.Deps{Log: slog.New(h)})
	if err != nil {
		return err
	}
	defer p.Close()
	stopProfile, err := profile()
	if err != nil {
		return err
	}
	defer stopProfile()
	return p.Run(ctx)
}
