package faults

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/projections"
)

// pgOutage is how long Postgres is down (20 s: long enough that processors retry and the gateway serves from its cache).
const pgOutage = 20 * time.Second

// TestPostgresOutage stops the Postgres that `serve` uses (DATABASE_URL, a
// cluster this test runs on a fixed port and data dir) for 20 s while leads
// arrive at ~100/s, then starts it again, and checks:
//
//   - the gateway answers every request 2xx throughout: it needs no Postgres
//     per request (the webhook's configuration is cached);
//   - the processors back off (no event needed more than 9 deliveries; none
//     was dead-lettered) and drain once Postgres is back;
//   - every accepted event is in INGEST once and projected exactly once.
//
// /readyz during the outage is logged, not asserted (see the report: it
// fails on the postgres check, so a load balancer would pull a gateway that
// still accepts).
func TestPostgresOutage(t *testing.T) {
	slow(t)
	t.Parallel()
	dir := newDir(t, "pgoutage")
	pgDir := filepath.Join(dir, "pg")
	pgPort := freePort(t)
	var pg *projections.Local
	startPG := func() {
		t.Helper()
		l, err := projections.StartLocal(ctxFor(t, 2*time.Minute), projections.LocalConfig{Dir: pgDir, Port: pgPort, Fast: true})
		if err != nil {
			t.Fatalf("start postgres: %v", err)
		}
		pg = l
	}
	startPG()
	// Runs last (after serve stopped).
	t.Cleanup(func() { pg.Stop() })
	dbURL := pg.URL

	httpAddr, natsAddr := freeAddr(t), freeAddr(t)
	base := "http://" + httpAddr
	serve := startProc(t, "serve", childEnv("DATABASE_URL="+dbURL), "serve", "--data-dir", filepath.Join(dir, "data"),
		"--http-addr", httpAddr, "--nats-listen", natsAddr)
	serve.waitReady(base, 60*time.Second)
	pool := openPool(t, dbURL)
	h := createHook(t, pool, "pgoutage")
	s := newSender(t, base, h)

	// 2 s of load with Postgres up, the outage, 2 s after.
	ctx, cancel := context.WithTimeout(context.Background(), pgOutage+4*time.Second)
	defer cancel()
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		s.load(ctx, "pgout", 100, 8, 5000)
	}()
	s.waitAccepted(100, 30*time.Second) // about a second of load
	pg.Stop()
	downAt := time.Now()
	t.Logf("postgres stopped")

	// Watch /readyz during the outage.
	ready := map[string]int{}
	hc := &http.Client{Timeout: 3 * time.Second}
	testutil.Every(pgOutage-time.Since(downAt), time.Second, func() {
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			var r struct {
				Checks map[string]string `json:"checks"`
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			_ = json.Unmarshal(b, &r)
			ready[http.StatusText(resp.StatusCode)+" postgres="+short(r.Checks["postgres"])]++
		}
	})
	startPG()
	upAt := time.Now()
	t.Logf("postgres back after %v; /readyz during the outage: %v", upAt.Sub(downAt).Round(time.Millisecond), ready)
	<-loaded

	all := s.snapshot()
	var during, bad int
	for _, a := range all {
		if a.Sent.After(downAt) && a.Done.Before(upAt) {
			during++
		}
		if !a.ok() {
			bad++
			if bad <= 5 {
				t.Errorf("lead %s sent %v after the outage began: %d %v %s", a.Lead, a.Sent.Sub(downAt).Round(time.Millisecond),
					a.Status, a.Err, a.Body)
			}
		}
	}
	t.Logf("%d requests (%d during the outage), by status %v", len(all), during, summary(all))
	if during < 500 {
		t.Errorf("only %d requests during the outage; the load did not run", during)
	}
	if bad > 0 {
		t.Fatalf("%d of %d requests were not accepted; the gateway must accept through a Postgres outage", bad, len(all))
	}

	js := connectNATS(t, "nats://"+natsAddr)
	ingest := checkInIngest(t, js, h, s.accepted())
	checkProjectedOnce(t, js, pool, h, "pgoutage", ingest, 60*time.Second)
	t.Logf("all %d events projected exactly once %v after postgres returned", len(ingest), time.Since(upAt).Round(time.Millisecond))

	// The processors retried with backoff instead of burning their attempts.
	var maxAttempts, retried int
	if err := pool.QueryRow(ctxFor(t, 10*time.Second), `SELECT COALESCE(max(attempts),0), count(*) FILTER (WHERE attempts > 1)
		FROM event_outcomes WHERE processor='contacts' AND webhook_id=$1 AND status IN ('ok','duplicate')`, h.ID).
		Scan(&maxAttempts, &retried); err != nil {
		t.Fatal(err)
	}
	t.Logf("contacts: %d events needed more than one delivery, at most %d", retried, maxAttempts)
	if retried == 0 {
		t.Errorf("no event was retried: the outage was not felt")
	}
	if maxAttempts > 9 {
		t.Errorf("an event took %d deliveries for a %v outage: the backoff is not working", maxAttempts, pgOutage)
	}
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
