package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/projections"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

// Child roles: the bench re-executes itself (hsbench, or the test binary
// through TestMain) to serve the HTTP ceiling's bare handler, and — with
// PROFILE=1 — a gateway wired exactly as `hookstream gateway` wires it but
// writing a CPU profile (the real binary has no profiling hook). Both run in
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
	var h http.Handler
	switch role {
	case "bare":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
		})
	case "gateway":
		g, closeFn, err := childGateway(ctx)
		if err != nil {
			return err
		}
		defer closeFn()
		h = g
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	if path := os.Getenv(envProfile); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := gateway.NewHTTPServer(addr, h, gateway.ServerTimeouts{})
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

// childGateway wires the gateway as cmd/hookstream's `gateway` verb does:
// embedded JetStream (file store, in-process connection, streams.Ensure with
// the defaults), the Postgres-backed webhook cache with its change listener,
// streams.Publisher and gateway.DefaultConfig.
func childGateway(ctx context.Context) (http.Handler, func(), error) {
	ns, err := streams.StartServer(streams.ServerConfig{StoreDir: os.Getenv(envDir), Listen: "off"})
	if err != nil {
		return nil, nil, err
	}
	closers := []func(){func() { ns.Shutdown(); ns.WaitForShutdown() }}
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	nc, err := streams.Connect("", ns, "hookstream", nil)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	closers = append(closers, nc.Close)
	js, err := streams.JetStream(nc)
	if err == nil {
		err = streams.Ensure(ctx, js, streams.DefaultConfig())
	}
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	pool, err := projections.Open(ctx, os.Getenv(envDB))
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	closers = append(closers, pool.Close)
	cfg := gateway.DefaultConfig()
	cache := gateway.NewWebhookCache(&webhooksdb.Webhooks{DB: pool}, cfg, nil)
	lctx, cancel := context.WithCancel(context.Background())
	go cache.Listen(lctx, pool)
	closers = append(closers, cancel)
	g, err := gateway.New(cfg, gateway.Deps{Publisher: &streams.Publisher{JS: js}, Webhooks: cache,
		Registry: prometheus.NewRegistry()})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return g, closeAll, nil
}
