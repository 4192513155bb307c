package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/projections"
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

type staticWebhooks struct{ wh *projections.Webhook }

func (s staticWebhooks) Get(_ context.Context, id string) (*projections.Webhook, error) {
	if id != s.wh.ID {
		return nil, projections.ErrNotFound
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
	wh := &projections.Webhook{ID: "wh_bench", WorkspaceID: "ws", Active: true, AuthScheme: "standard",
		Secrets: []projections.Secret{{Value: secret}}, RateLimit: 1e9}
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
