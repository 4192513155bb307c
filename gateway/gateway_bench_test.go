package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/gateway/verify"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
	"github.com/hookstream/hookstream/streams/streamstest"
)

// The gateway's own CPU cost per signed Standard Webhooks request: routing,
// verification, validation, envelope and answer — with the network, the
// HTTP server and JetStream taken out (the publisher acknowledges at once).
// bench/ measures the whole path; this isolates the handler.

type instantPublisher struct{ seq uint64 }

func (p *instantPublisher) Publish(_ context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	p.seq++
	return &jetstream.PubAck{Stream: "INGEST", Sequence: p.seq}, nil
}

// PublishTimeout: like streams.Publisher, the gateway then bounds the wait
// without deriving a context per request.
func (p *instantPublisher) PublishTimeout(ctx context.Context, m *nats.Msg, _ time.Duration) (*jetstream.PubAck, error) {
	return p.Publish(ctx, m)
}

type staticWebhooks struct{ wh *webhooksdb.Webhook }

func (s staticWebhooks) Get(_ context.Context, id string) (*webhooksdb.Webhook, error) {
	if id != s.wh.ID {
		return nil, webhooksdb.ErrNotFound
	}
	return s.wh, nil
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

func BenchmarkGateway_StandardWebhook(b *testing.B) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh := &webhooksdb.Webhook{ID: "wh_bench", WorkspaceID: "ws", Active: true, AuthScheme: "standard",
		Secrets: []webhooksdb.Secret{{Value: secret}}, RateLimit: 1e9}
	cfg := gateway.DefaultConfig()
	g, err := gateway.New(cfg, gateway.Deps{Publisher: &instantPublisher{},
		Webhooks: gateway.NewWebhookCache(staticWebhooks{wh}, cfg, nil), Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	const n = 4096
	type req struct {
		body []byte
		h    http.Header
	}
	reqs := make([]req, n)
	ts := time.Now()
	for i := range reqs {
		body := fmt.Appendf(nil, `{"first_name":"Ada","last_name":"Bench %d","email":"lead-%d@example.com",`+
			`"phone":"+1 415-%03d-%04d","product":"Bath Remodel","lead_status":"new","utm_source":"google",`+
			`"page_url":"https://example.com/landing?gclid=abc123","marketing_consent":"yes"}`, i, i, 200+i/10000, i%10000)
		id := "msg_" + strconv.Itoa(i)
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Webhook-Id", id)
		h.Set("Webhook-Timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("Webhook-Signature", verify.SignStandard(secret, id, ts, body))
		reqs[i] = req{body, h}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		rq := reqs[i%n]
		i++
		r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/webhooks/wh_bench", bytes.NewReader(rq.body))
		r.Header = rq.h
		r.ContentLength = int64(len(rq.body))
		r.RemoteAddr = "127.0.0.1:50000"
		w := &discardWriter{h: http.Header{}}
		g.ServeHTTP(w, r)
		if w.status != 0 && w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	// Process CPU time per request: steadier than ns/op on a shared
	// machine (other processes' load stretches wall time, not our CPU time).
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The same request through a real HTTP server and an embedded JetStream
// (file store), to profile what the handler benchmark leaves out: net/http,
// the NATS client's async publish and the PubAck. The load generator (an
// http.Client in this process) shares the CPU, so compare profiles, not
// req/s with bench/.
func BenchmarkGateway_StandardWebhookHTTP(b *testing.B) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ns := streamstest.RunServer(b)
	streamstest.Connect(b, ns) // creates the streams
	// In-process, as hookstream serve connects to its embedded server.
	nc, err := streams.Connect(ns.ClientURL(), ns, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := streams.JetStream(nc)
	if err != nil {
		b.Fatal(err)
	}
	wh := &webhooksdb.Webhook{ID: "wh_bench", WorkspaceID: "ws", Active: true, AuthScheme: "standard",
		Secrets: []webhooksdb.Secret{{Value: secret}}, RateLimit: 1e9}
	cfg := gateway.DefaultConfig()
	g, err := gateway.New(cfg, gateway.Deps{Publisher: &streams.Publisher{JS: js},
		Webhooks: gateway.NewWebhookCache(staticWebhooks{wh}, cfg, nil), Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	ts := time.Now()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			body := fmt.Appendf(nil, `{"first_name":"Ada","last_name":"Bench %d","email":"lead-%d@example.com",`+
				`"phone":"+1 415-%03d-%04d","product":"Bath Remodel","lead_status":"new","utm_source":"google"}`,
				i, i, 200+i/10000%800, i%10000)
			id := "msg_" + strconv.FormatInt(i, 10)
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/wh_bench", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Webhook-Id", id)
			r.Header.Set("Webhook-Timestamp", strconv.FormatInt(ts.Unix(), 10))
			r.Header.Set("Webhook-Signature", verify.SignStandard(secret, id, ts, body))
			resp, err := client.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}
