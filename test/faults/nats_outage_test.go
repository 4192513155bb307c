package faults

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/streams"
)

// natsOutage is how long the NATS server stays down.
const natsOutage = 5 * time.Second

// TestNATSOutage runs `hookstream gateway --nats-url` against a NATS server
// the test embeds, stops that server for 5 s while leads arrive at ~50/s,
// starts it again on the same port and store dir, and checks:
//
//   - every request sent and answered while NATS was down got 503 with
//     Retry-After and error "stream_unavailable" — never a 2xx, never no
//     answer;
//   - /readyz answers 503 (nats not connected) during the outage, and 200
//     again by itself afterwards;
//   - requests are accepted again without a restart; re-sent 503'd leads
//     are accepted; every accepted lead is in INGEST exactly once.
func TestNATSOutage(t *testing.T) {
	slow(t)
	t.Parallel()
	dir := newDir(t, "natsoutage")
	natsAddr := freeAddr(t)
	var ns *server.Server
	startNATS := func() {
		t.Helper()
		s, err := streams.StartServer(streams.ServerConfig{StoreDir: filepath.Join(dir, "nats"), Listen: natsAddr, Name: "faults"})
		if err != nil {
			t.Fatalf("start nats: %v", err)
		}
		ns = s
	}
	stopNATS := func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
	startNATS()
	t.Cleanup(func() { stopNATS() }) // after the gateway stopped

	dbURL := freshDB(t)
	httpAddr := freeAddr(t)
	base := "http://" + httpAddr
	gw := startProc(t, "gateway", childEnv("DATABASE_URL="+dbURL), "gateway", "--nats-url", "nats://"+natsAddr,
		"--http-addr", httpAddr, "--data-dir", filepath.Join(dir, "data"))
	gw.waitReady(base, 60*time.Second)
	h := createHook(t, openPool(t, dbURL), "natsoutage")
	s := newSender(t, base, h)
	if a := s.post(context.Background(), newLead("natsout-warm", 0)); !a.ok() {
		t.Fatalf("before the outage: %d %v %s", a.Status, a.Err, a.Body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		s.load(ctx, "natsout", 50, 4, 2000)
	}()
	s.waitAccepted(50, 30*time.Second) // about a second of load
	stopNATS()
	downAt := time.Now()

	hc := &http.Client{Timeout: 5 * time.Second}
	readyz := func() (int, map[string]string) {
		resp, err := hc.Get(base + "/readyz")
		if err != nil {
			t.Fatalf("readyz: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r struct {
			Checks map[string]string `json:"checks"`
		}
		_ = json.Unmarshal(b, &r)
		return resp.StatusCode, r.Checks
	}
	testutil.Every(natsOutage-time.Since(downAt), 500*time.Millisecond, func() {
		// The client notices the closed connection within moments; a
		// probe sent before that fails on the streams check instead.
		asked := time.Since(downAt)
		code, checks := readyz()
		if code != http.StatusServiceUnavailable || (asked > time.Second && checks["nats"] == "ok") {
			t.Errorf("readyz asked %v into the outage: %d %v", asked.Round(time.Millisecond), code, checks)
		}
	})

	upAt := time.Now()
	startNATS()
	var recovered time.Time
	eventually(t, 30*time.Second, 100*time.Millisecond, "readyz after NATS returned", func() error {
		if code, checks := readyz(); code != http.StatusOK {
			return &checksErr{code, checks}
		}
		recovered = time.Now()
		return nil
	})
	t.Logf("gateway ready %v after NATS returned", recovered.Sub(upAt).Round(time.Millisecond))
	s.waitAccepted(s.acceptedCount()+50, 30*time.Second) // load on the recovered gateway
	cancel()
	<-loaded

	all := s.snapshot()
	var during, after int
	for _, a := range all {
		switch {
		case a.Sent.After(downAt) && a.Done.Before(upAt):
			during++
			if a.Status != http.StatusServiceUnavailable || a.RetryAfter == "" || a.Code != "stream_unavailable" {
				t.Errorf("lead %s during the outage: %d Retry-After=%q %v %s", a.Lead, a.Status, a.RetryAfter, a.Err, a.Body)
			}
		case a.Sent.After(recovered):
			after++
			if !a.ok() {
				t.Errorf("lead %s after recovery: %d %v %s", a.Lead, a.Status, a.Err, a.Body)
			}
		}
	}
	t.Logf("%d requests (%d during the outage, %d after recovery), by status %v", len(all), during, after, summary(all))
	if during < 50 {
		t.Errorf("only %d requests during the outage", during)
	}
	if after == 0 {
		t.Errorf("no request after recovery")
	}

	s.retryUnaccepted(20 * time.Second)
	js := connectNATS(t, "nats://"+natsAddr)
	acc := s.accepted()
	ingest := checkInIngest(t, js, h, acc)
	if len(ingest) != len(acc) || len(acc) != len(s.sentIDs()) {
		t.Errorf("%d leads sent, %d accepted, %d events in INGEST", len(s.sentIDs()), len(acc), len(ingest))
	}
}

type checksErr struct {
	code   int
	checks map[string]string
}

func (e *checksErr) Error() string {
	b, _ := json.Marshal(e.checks)
	return http.StatusText(e.code) + " " + string(b)
}
