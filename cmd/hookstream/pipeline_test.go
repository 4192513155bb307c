package main

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams/streamstest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testPipeline is `hookstream serve` assembled from the same pieces
// runPipeline uses (registry, gateway, admin API, runner with metrics),
// on a test NATS server and database, logging JSON into a buffer.
type testPipeline struct {
	a       *app
	srv     *httptest.Server
	logs    *lockedBuf
	dbURL   string
	natsURL string
	stop    func()
}

func startPipeline(t *testing.T) *testPipeline {
	t.Helper()
	ns := streamstest.RunServer(t)
	nc, js := streamstest.Connect(t, ns)
	dbURL := pgtest.URL(t)
	var s settings
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s.coreFlags(fs)
	s.gatewayFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	s.databaseURL, s.natsURL = dbURL, ns.ClientURL()
	logs := &lockedBuf{}
	// The handler chain of --log-format json --log-level debug, into a buffer.
	a := &app{s: s, log: slog.New(scrubLogs(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		reg: prometheus.NewRegistry(), nc: nc, js: js}
	ctx := context.Background()
	if err := a.openDB(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	procs, waiter, err := a.processors(nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, _, err := a.newGateway(waiter)
	if err != nil {
		t.Fatal(err)
	}
	a.mountAPI(gw)
	srv := httptest.NewUnstartedServer(gw)
	for _, f := range a.onHTTPShutdown {
		srv.Config.RegisterOnShutdown(f)
	}
	srv.Start()
	runner := a.runner()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); runner.Run(rctx, procs...) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Config.Shutdown(ctx)
			srv.Close()
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	for _, p := range procs {
		durable := p.Durable
		if durable == "" {
			durable = p.Name
		}
		testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			_, err := js.Consumer(ctx, p.Stream, durable)
			return err
		})
	}
	return &testPipeline{a: a, srv: srv, logs: logs, dbURL: dbURL, natsURL: ns.ClientURL(), stop: stop}
}

func (p *testPipeline) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := p.a.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (p *testPipeline) post(t *testing.T, path, ctype string, body []byte, h http.Header) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := p.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// cli runs a verb against the pipeline's database and NATS.
func (p *testPipeline) cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append(args, "--database-url", p.dbURL)
	if needsNATS(args[0], args[1]) {
		args = append(args, "--nats-url", p.natsURL)
	}
	code := Main(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func needsNATS(verb, sub string) bool {
	return (verb == "events" && sub == "show") || verb == "contacts"
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuf) lines() []string {
	return strings.Split(strings.TrimSpace(l.String()), "\n")
}
