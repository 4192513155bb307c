package gateway_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testutil"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

// stripeEvent is a minimal signed-able Stripe event with its own id.
func stripeEvent(id, typ string) []byte {
	return []byte(`{"id":"` + id + `","object":"event","api_version":"2023-10-16","created":1763800000,"type":"` + typ + `","data":{"object":{}}}`)
}

// TestNATS_Unavailable: with the JetStream server gone the gateway answers
// 503 stream_unavailable with Retry-After (never 2xx), /readyz fails and
// /healthz does not; once the server is back on the same store everything
// recovers by itself and nothing stored earlier is lost.
func TestNATS_Unavailable(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	env.postStripe(stripeEvent("evt_before", "charge.succeeded"), stripeSecret, env.clock.Now()).wantAccepted(t)
	if r := env.get("/readyz"); r.Status != 200 {
		t.Fatalf("readyz before: %d %s", r.Status, r.Body)
	}
	_, port, _ := net.SplitHostPort(env.ns.Addr().String())
	env.ns.Shutdown()
	env.ns.WaitForShutdown()

	for i := range 3 {
		start := time.Now()
		r := env.postStripe(stripeEvent(fmt.Sprintf("evt_during_%d", i), "charge.succeeded"), stripeSecret, env.clock.Now())
		r.wantError(t, 503, "stream_unavailable")
		if ra := r.Header.Get("Retry-After"); ra != "5" {
			t.Fatalf("Retry-After %q, want 5", ra)
		}
		if d := time.Since(start); d > env.cfg.PublishTimeout+time.Second {
			t.Fatalf("503 took %v", d)
		}
	}
	r := env.get("/readyz")
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz during outage: %d %s", r.Status, r.Body)
	}
	if m := decodeMap(t, r.Body); m["ready"] != false {
		t.Fatalf("readyz body %s", r.Body)
	}
	env.healthy()

	// Same store, same port: the client reconnects on its own.
	ns, err := streams.StartServer(streams.ServerConfig{StoreDir: env.natsDir, Listen: "127.0.0.1:" + port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if r := env.get("/readyz"); r.Status != 200 {
			return fmt.Errorf("readyz %d %s", r.Status, r.Body)
		}
		return nil
	})
	a := env.postStripe(stripeEvent("evt_after", "charge.succeeded"), stripeSecret, env.clock.Now()).wantAccepted(t)
	if a.StreamSeq != 2 || env.streamCount() != 2 {
		t.Fatalf("after recovery: %+v, %d messages", a, env.streamCount())
	}
	// A sender retrying what got a 503 lands once.
	env.postStripe(stripeEvent("evt_during_0", "charge.succeeded"), stripeSecret, env.clock.Now()).wantAccepted(t)
	if env.streamCount() != 3 {
		t.Fatalf("%d messages", env.streamCount())
	}
}

// TestConcurrent_Posts: 200 simultaneous signed posts with distinct ids all
// get a 2xx and INGEST holds exactly 200 messages with distinct sequences.
func TestConcurrent_Posts(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "hmac", Secrets: secrets("conc")})
	const n = 200
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: 30 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		seqs  = map[uint64]bool{}
		fails []string
		start = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(fmt.Sprintf(`{"email":"c%d@example.com","first_name":"C%d"}`, i, i))
			req, _ := http.NewRequest("POST", env.srv.URL+"/webhooks/"+wh.ID, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Signature", hexMAC("conc", body))
			req.Header.Set("webhook-id", fmt.Sprintf("lead-%d", i))
			<-start
			resp, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails = append(fails, err.Error())
				return
			}
			defer resp.Body.Close()
			r := &result{Status: resp.StatusCode, Header: resp.Header}
			r.Body, _ = readAll(resp)
			if r.Status/100 != 2 {
				fails = append(fails, fmt.Sprintf("%d %s", r.Status, r.Body))
				return
			}
			var a accepted
			mustJSON(t, r.Body, &a)
			if a.Duplicate {
				fails = append(fails, "duplicate "+a.EventID)
			}
			seqs[a.StreamSeq] = true
		}()
	}
	close(start)
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("%d of %d failed, e.g. %s", len(fails), n, fails[0])
	}
	if len(seqs) != n {
		t.Fatalf("%d distinct sequences, want %d", len(seqs), n)
	}
	if c := env.streamCount(); c != n {
		t.Fatalf("INGEST holds %d, want %d", c, n)
	}
}

// TestMetrics_Exposed: after some traffic /metrics has every documented series.
func TestMetrics_Exposed(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	body := stripeEvent("evt_metrics", "charge.succeeded")
	env.postStripe(body, stripeSecret, env.clock.Now()).wantAccepted(t)
	env.postStripe(body, stripeSecret, env.clock.Now()).wantAccepted(t) // duplicate
	env.post("/webhooks/stripe", body, hdrs("Stripe-Signature", "t=1,v1=00"))
	env.postStripe(body, stripeSecret, env.clock.Now().Add(-time.Hour))
	env.post("/webhooks/stripe", body, nil)
	env.get("/nope")
	text := env.metricsText()
	for _, want := range []string{
		`hookstream_http_requests_total{route="stripe",status="200"} 2`,
		`hookstream_http_requests_total{route="stripe",status="401"} 3`,
		`hookstream_http_requests_total{route="unknown",status="404"} 1`,
		`hookstream_verification_failures_total{reason="stale_timestamp",route="stripe"} 2`,
		`hookstream_verification_failures_total{reason="missing_signature",route="stripe"} 1`,
		`hookstream_publish_duration_seconds_bucket{le="+Inf"} 2`,
		`hookstream_publish_duration_seconds_count 2`,
		`hookstream_duplicates_total{route="stripe"} 1`,
		`hookstream_http_request_duration_seconds_count{route="stripe"} 5`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(text, "hookstream_"))
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHealth_Routes: /healthz and /readyz answer JSON; HEAD works.
func TestHealth_Routes(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t, withOwnDB())
	r := env.get("/healthz")
	if r.Status != 200 || decodeMap(t, r.Body)["status"] != "ok" {
		t.Fatalf("healthz %d %s", r.Status, r.Body)
	}
	r = env.get("/readyz")
	m := decodeMap(t, r.Body)
	checks, _ := m["checks"].(map[string]any)
	if r.Status != 200 || m["ready"] != true || checks["nats"] != "ok" || checks["postgres"] != "ok" {
		t.Fatalf("readyz %d %s", r.Status, r.Body)
	}
	if r := env.do("HEAD", "/healthz", nil, nil); r.Status != 200 {
		t.Fatalf("HEAD healthz %d", r.Status)
	}
	// Postgres is optional for ingest (webhook configuration is cached):
	// ready but degraded. NATS is required: not ready.
	env.pool.Close()
	r = env.get("/readyz")
	if m := decodeMap(t, r.Body); r.Status != 200 || m["degraded"] != true || m["ready"] != true {
		t.Fatalf("readyz with Postgres gone: %d %s", r.Status, r.Body)
	}
	env.ns.Shutdown()
	if r := env.get("/readyz"); r.Status != 503 {
		t.Fatalf("readyz with NATS gone: %d %s", r.Status, r.Body)
	}
}
