package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the bench re-execute the test binary in its child roles
// (the HTTP ceiling's bare server).
func TestMain(m *testing.M) {
	MaybeChild()
	os.Exit(m.Run())
}

// TestBench_Smoke runs every phase of the bench with small counts, so `make
// test` keeps the harness working. It checks that each figure was produced
// and is sane — never a performance target (timing belongs to `make bench`).
func TestBench_Smoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, NATS and the hookstream binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	log := &testLog{t: t}
	defer log.stop()
	res, err := Run(ctx, Options{Mode: ModeSmoke, Log: log, DatabaseURL: os.Getenv("DATABASE_URL")})
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("phase errors: %v", res.Errors)
	}
	positive := func(name string, v float64) {
		t.Helper()
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	lat := func(name string, l Latency) {
		t.Helper()
		if l.N == 0 || !(l.P50 > 0) || l.P50 > l.P95 || l.P95 > l.P99 || l.P99 > l.Max {
			t.Errorf("%s latency not sane: %+v", name, l)
		}
	}
	load := func(name string, r loadResult) {
		t.Helper()
		positive(name+" req/s", r.RPS)
		if r.Requests == 0 || r.Errors != 0 {
			t.Errorf("%s: %d ok, %d errors (%s)", name, r.Requests, r.Errors, r.FirstError)
		}
		lat(name, r.Latency)
	}
	load("http ceiling", res.HTTPCeiling)
	load("jetstream ceiling", res.JetStreamCeiling)
	load("gateway", res.Gateway)
	load("gateway open loop", res.GatewayOpen)
	if res.GatewayOpen.Offered != 500 {
		t.Errorf("open loop offered %v req/s, want 500", res.GatewayOpen.Offered)
	}
	if res.GatewayStored < uint64(res.Gateway.Requests+res.GatewayOpen.Requests) {
		t.Errorf("INGEST holds %d, fewer than the %d acknowledged requests", res.GatewayStored,
			res.Gateway.Requests+res.GatewayOpen.Requests)
	}
	positive("gateway RSS", res.RSS.PeakMB)
	if res.RSS.PeakMB > 4096 {
		t.Errorf("gateway RSS %v MB is not plausible", res.RSS.PeakMB)
	}

	e := res.E2E
	if e.Sent == 0 || e.Accepted != e.Sent || e.Committed != e.Accepted {
		t.Errorf("end to end: sent %d, accepted %d, committed %d", e.Sent, e.Accepted, e.Committed)
	}
	lat("end to end (recorded)", e.Recorded)
	lat("end to end (observed)", e.Observed)

	for name, d := range map[string]Drain{"contacts": res.Contacts, "rebuild": res.Rebuild} {
		if !d.Complete || d.Done != d.Events || d.DeadLettered != 0 {
			t.Errorf("%s: %d of %d processed, complete %v, %d dead-lettered", name, d.Done, d.Events, d.Complete, d.DeadLettered)
		}
		positive(name+" events/s", d.Rate)
		// Every tenth event updates an earlier person: the rebuild must
		// converge on the same projection as the first pass.
		if d.Leads != d.Events || d.Contacts != d.Events-d.Events/10 {
			t.Errorf("%s: %d contacts and %d leads from %d events, want %d and %d", name, d.Contacts, d.Leads,
				d.Events, d.Events-d.Events/10, d.Events)
		}
	}

	// Every figure is there, with its target where the README sets one.
	targets := 0
	for _, f := range res.Figures {
		if f.Met != nil {
			targets++
			if !*f.Met && f.Miss == "" {
				t.Errorf("figure %q missed without saying by how much", f.Name)
			}
		}
	}
	if targets != 7 {
		t.Errorf("%d figures with targets, want 7: %+v", targets, res.Figures)
	}
	var table bytes.Buffer
	res.Table(&table)
	for _, want := range []string{"HTTP ceiling", "JetStream ceiling", "Gateway / HTTP ceiling", "End to end",
		"Contacts projection", "Rebuild", "peak RSS", "≥ 20,000", "≤ 25 ms"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	path := filepath.Join(t.TempDir(), "results.json")
	if err := res.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var back Results
	if err := json.Unmarshal(b, &back); err != nil || back.Gateway.Requests != res.Gateway.Requests {
		t.Errorf("results.json does not round-trip: %v", err)
	}
	t.Logf("\n%s", table.String())
}

// testLog forwards progress lines to the test log while the test runs.
type testLog struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) stop() { l.mu.Lock(); l.done = true; l.mu.Unlock() }
