package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams/streamstest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testPipeline is `hookstream serve` — the configuration read as serve
// reads it, the pipeline package's wiring — on a test NATS server and
// database, logging JSON into a buffer.
type testPipeline struct {
	a       *app
	p       *pipeline.Pipeline
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
	fs := roleFlags(role{"serve", "serve", true, true}, &s, io.Discard)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	s.databaseURL, s.natsURL = dbURL, ns.ClientURL()
	cfg, err := s.pipelineConfig(os.Getenv, true, true)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuf{}
	// The handler chain of --log-format json --log-level debug, into a buffer.
	log := slog.New(scrubLogs(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := context.Background()
	p, err := pipeline.New(ctx, cfg, pipeline.Deps{Log: log, Conns: pipeline.Conns{NC: nc, JS: js}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	srv := httptest.NewUnstartedServer(p.Gateway)
	srv.Config.RegisterOnShutdown(p.Admin.Close)
	srv.Start()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.RunProcessors(rctx) }()
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
	for _, pr := range p.Processors {
		durable := pr.Durable
		if durable == "" {
			durable = pr.Name
		}
		testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			_, err := js.Consumer(ctx, pr.Stream, durable)
			return err
		})
	}
	a := &app{s: s, log: log, nc: nc, js: js, pool: p.DB}
	return &testPipeline{a: a, p: p, srv: srv, logs: logs, dbURL: dbURL, natsURL: ns.ClientURL(), stop: stop}
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
