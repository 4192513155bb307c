package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/streams"
)

// The CRM is down for crmOutage, counted from its first request. A real
// outage lasts minutes; 10 s shows the same thing — the breaker opens after
// crmThreshold failures and lets one probe through per crmCooldown — at a
// sixth of the cost: with the crm processor's fixed retry backoff (1 s
// doubling, capped at 5 min) a minute-long outage would leave the last
// retries ~1–2 minutes after the CRM came back, far over this package's
// time budget. CRM_BREAKER_COOLDOWN is shortened to 2 s (30 s by default)
// for the same reason; it is read from the environment like in production.
const (
	crmOutage    = 10 * time.Second
	crmCooldown  = 2 * time.Second
	crmThreshold = 5
	crmConc      = 4 // crm's default concurrency: calls let through before the breaker opens
	crmLeads     = 40
	crmKey       = "crm_faults_key"
)

// TestCRMOutage runs `serve` with CRM_API_ENDPOINT pointing at a fake CRM
// that answers 503 for 10 s, posts 40 leads, and checks:
//
//   - the circuit opens (hookstream_outbound_circuit_state{destination="crm"}
//     reads 2 on /metrics) and while it is open the CRM gets no requests but
//     one probe per cooldown — a handful instead of the ~160 that 40 leads
//     retrying on their own would send;
//   - the leads wait: contacts has projected them all, crm_sync has none
//     synced, nothing is dead-lettered;
//   - afterwards each lead is POSTed successfully exactly once to /leads with
//     Idempotency-Key = its source event id and its own contact in the body.
func TestCRMOutage(t *testing.T) {
	slow(t)
	t.Parallel()
	crm := &fakeCRM{t: t, window: crmOutage, created: map[string]string{}}
	srv := httptest.NewServer(crm)
	t.Cleanup(srv.Close)

	dir := newDir(t, "crmoutage")
	dbURL := freshDB(t)
	httpAddr, natsAddr := freeAddr(t), freeAddr(t)
	base := "http://" + httpAddr
	serve := startProc(t, "serve", childEnv("DATABASE_URL="+dbURL,
		"CRM_API_ENDPOINT="+srv.URL+"/api", "CRM_API_KEY="+crmKey, "CRM_TIMEOUT=2s",
		"CRM_BREAKER_COOLDOWN="+crmCooldown.String(), "CRM_BREAKER_THRESHOLD="+strconv.Itoa(crmThreshold)),
		"serve", "--data-dir", filepath.Join(dir, "data"), "--http-addr", httpAddr, "--nats-listen", natsAddr)
	serve.waitReady(base, 60*time.Second)
	pool := openPool(t, dbURL)
	js := connectNATS(t, "nats://"+natsAddr)
	h := createHook(t, pool, "crmoutage")
	s := newSender(t, base, h)
	emails := map[string]string{} // event id → e-mail
	for i := range crmLeads {
		l := newLead("crmout", i)
		if a := s.post(context.Background(), l); !a.ok() {
			t.Fatalf("lead %d: %d %v %s", i, a.Status, a.Err, a.Body)
		}
		emails[h.EventID(l)] = fmt.Sprintf("crmout-%d@example.com", i)
	}

	// During the outage: the breaker opens, the leads wait in the stream.
	eventually(t, 30*time.Second, 50*time.Millisecond, "first CRM request", func() error {
		if crm.first().IsZero() {
			return fmt.Errorf("no CRM request yet")
		}
		return nil
	})
	upAt := crm.first().Add(crmOutage)
	sawOpen := false
	ctx := ctxFor(t, 2*time.Minute)
	testutil.Every(time.Until(upAt)-300*time.Millisecond, 250*time.Millisecond, func() {
		if circuitState(t, base) == 2 {
			sawOpen = true
		}
	})
	var leads, synced int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM leads WHERE webhook_id=$1),
		(SELECT count(*) FROM crm_sync WHERE kind='lead' AND status='synced')`, h.ID).Scan(&leads, &synced); err != nil {
		t.Fatal(err)
	}
	if leads != crmLeads || synced != 0 {
		t.Errorf("at the end of the outage: %d leads projected (want %d), %d synced to the CRM (want 0)", leads, crmLeads, synced)
	}
	if !sawOpen {
		t.Errorf("the circuit was never seen open on /metrics during the outage")
	}

	// Afterwards: each lead delivered once.
	eventually(t, 75*time.Second, 200*time.Millisecond, "every lead in the CRM", func() error {
		if n := crm.createdCount(); n < crmLeads {
			return fmt.Errorf("%d of %d leads created in the CRM", n, crmLeads)
		}
		return pipelinetest.ConsumerIdle(ctx, js, streams.StreamEvents, "crm")
	})
	deliveredAt := time.Now()

	reqs := crm.snapshot()
	var out []crmReq
	okByKey := map[string]int{}
	for _, r := range reqs {
		if r.Problem != "" {
			t.Errorf("bad CRM request %s %s: %s", r.Path, r.Key, r.Problem)
		}
		if r.At.Before(upAt) {
			out = append(out, r)
			continue
		}
		if r.Status/100 == 2 {
			okByKey[r.Key]++
			if want := emails[r.Key]; r.Email != want {
				t.Errorf("lead %s sent with contact e-mail %q, want %q", r.Key, r.Email, want)
			}
		}
	}
	for ev := range emails {
		if okByKey[ev] != 1 {
			t.Errorf("lead %s POSTed successfully %d times, want once", ev, okByKey[ev])
		}
	}
	for k := range okByKey {
		if _, ok := emails[k]; !ok {
			t.Errorf("the CRM received an unknown Idempotency-Key %q", k)
		}
	}

	// While the circuit was open only probes reached the CRM, one per
	// cooldown: requests less than a cooldown apart can only be the first
	// failures and the calls let through before the breaker opened.
	bound := crmThreshold + crmConc - 1 + int(crmOutage/crmCooldown) + 1
	var offsets []string
	short := 0
	for i, r := range out {
		offsets = append(offsets, r.At.Sub(out[0].At).Round(10*time.Millisecond).String())
		if i > 0 && r.At.Sub(out[i-1].At) < crmCooldown*9/10 {
			short++
		}
	}
	t.Logf("CRM requests during the %v outage: %d at %v (bound %d; 40 leads retrying without a breaker would send ~%d); all %d leads delivered %v after it",
		crmOutage, len(out), offsets, bound, crmLeads*4, crmLeads, deliveredAt.Sub(upAt).Round(time.Millisecond))
	if len(out) > bound {
		t.Errorf("%d CRM requests during the outage, want at most %d", len(out), bound)
	}
	if short > crmThreshold+crmConc-2 {
		t.Errorf("%d CRM requests during the outage came less than a cooldown after the previous one, want at most %d: the open circuit let calls through",
			short, crmThreshold+crmConc-2)
	}

	if dead := readStream(t, js, streams.StreamDLQ, streams.DLQSubject("crm")); len(dead) > 0 {
		t.Errorf("%d messages dead-lettered by crm", len(dead))
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM crm_sync WHERE kind='lead' AND status='synced' AND source_event_id LIKE $1`,
		"wh:"+h.ID+":%").Scan(&synced); err != nil {
		t.Fatal(err)
	}
	if synced != crmLeads {
		t.Errorf("crm_sync: %d leads synced, want %d", synced, crmLeads)
	}
}

// circuitState reads hookstream_outbound_circuit_state{destination="crm"}
// from /metrics (-1 when absent).
func circuitState(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, `hookstream_outbound_circuit_state{destination="crm"}`) {
			v, _ := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64)
			return v
		}
	}
	return -1
}

// fakeCRM is the CRM's REST API: POST /api/leads with Bearer key, JSON body
// and Idempotency-Key. It answers 503 for window from its first request;
// afterwards 201 with an id, replaying the first answer for a repeated key
// (as Stripe-style APIs do).
type fakeCRM struct {
	t      *testing.T
	window time.Duration

	mu      sync.Mutex
	firstAt time.Time
	reqs    []crmReq
	created map[string]string // Idempotency-Key → remote id
}

type crmReq struct {
	At      time.Time
	Path    string
	Key     string
	Email   string
	Status  int
	Problem string
}

func (f *fakeCRM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.firstAt.IsZero() {
		f.firstAt = now
	}
	rec := crmReq{At: now, Path: r.URL.Path, Key: r.Header.Get("Idempotency-Key")}
	var b struct {
		LeadID  string `json:"lead_id"`
		Contact struct {
			Email *string `json:"email"`
		} `json:"contact"`
	}
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/api/leads":
		rec.Problem = r.Method + " " + r.URL.Path + " is not POST /api/leads"
	case r.Header.Get("Authorization") != "Bearer "+crmKey:
		rec.Problem = "wrong Authorization"
	case rec.Key == "":
		rec.Problem = "no Idempotency-Key"
	case json.Unmarshal(body, &b) != nil || b.LeadID == "":
		rec.Problem = "body is not a lead: " + string(body)
	}
	if b.Contact.Email != nil {
		rec.Email = *b.Contact.Email
	}
	switch {
	case rec.Problem != "":
		rec.Status = http.StatusUnprocessableEntity
	case now.Before(f.firstAt.Add(f.window)):
		rec.Status = http.StatusServiceUnavailable
	default:
		id, ok := f.created[rec.Key]
		if !ok {
			id = fmt.Sprintf("crm_%d", len(f.created)+1)
			f.created[rec.Key] = id
		}
		rec.Status = http.StatusCreated
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Status)
		fmt.Fprintf(w, `{"id":%q}`, id)
		f.reqs = append(f.reqs, rec)
		return
	}
	f.reqs = append(f.reqs, rec)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Status)
	fmt.Fprintf(w, `{"error":%q}`, http.StatusText(rec.Status))
}

func (f *fakeCRM) first() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.firstAt
}

func (f *fakeCRM) createdCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.created)
}

func (f *fakeCRM) snapshot() []crmReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]crmReq(nil), f.reqs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}
