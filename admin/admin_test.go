package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/ops/audit"
	"github.com/hookstream/hookstream/ops/erasure"
	"github.com/hookstream/hookstream/ops/stats"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/streams"
)

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	off := newPipeline(t, pipelineOpts{noProcessors: true, token: "-"})
	for _, tok := range []string{"", adminToken, "anything"} {
		req, _ := http.NewRequest(http.MethodGet, off.HTTP.URL+"/api/events", nil)
		if r := off.do(req, tok); r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), `"not_found"`) {
			t.Errorf("API off, token %q: %d %s", tok, r.Status, r.Body)
		}
	}

	p := newPipeline(t, pipelineOpts{noProcessors: true})
	cases := []struct {
		auth string
		want int
	}{
		{"", 401},
		{"Bearer", 401},
		{"Bearer wrong-token", 401},
		{"Bearer " + adminToken + "x", 401},
		{"Basic " + adminToken, 401},
		{"Bearer " + adminToken[:10], 401},
		{"Bearer " + adminToken, 200},
		{"bearer " + adminToken, 200},
	}
	for _, c := range cases {
		for _, path := range []string{"/api/events", "/api/metrics", "/api/webhooks/wh_x/metrics", "/api/notifications"} {
			req, _ := http.NewRequest(http.MethodGet, p.HTTP.URL+path, nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			r := p.do(req, "")
			if r.Status != c.want {
				t.Errorf("%s with %q: %d %s", path, c.auth, r.Status, r.Body)
			}
			if c.want == 401 && (r.Header.Get("WWW-Authenticate") == "" || !strings.Contains(string(r.Body), `"unauthorized"`)) {
				t.Errorf("401 without WWW-Authenticate or JSON error: %v %s", r.Header, r.Body)
			}
		}
	}
	// Unknown routes: 401 without the token (no route discovery), JSON 404 with it.
	req, _ := http.NewRequest(http.MethodGet, p.HTTP.URL+"/api/nope", nil)
	if r := p.do(req, ""); r.Status != 401 {
		t.Errorf("unknown route without token: %d", r.Status)
	}
	if r := p.get("/api/nope"); r.Status != 404 {
		t.Errorf("unknown route: %d", r.Status)
	}
	if r := p.get("/api/events/no-such-event"); r.Status != 404 {
		t.Errorf("unknown event: %d %s", r.Status, r.Body)
	}
	// The live feed is behind the token too.
	req, _ = http.NewRequest(http.MethodGet, p.HTTP.URL+"/api/events/live", nil)
	if r := p.do(req, ""); r.Status != 401 {
		t.Errorf("live feed without token: %d", r.Status)
	}
	// Ingest routes are not.
	req, _ = http.NewRequest(http.MethodGet, p.HTTP.URL+"/healthz", nil)
	if r := p.do(req, ""); r.Status != 200 {
		t.Errorf("healthz: %d", r.Status)
	}
}

func TestAuditOfAStripeEvent(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, pipelineOpts{})
	body, err := os.ReadFile("testdata/payment_intent.succeeded.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		ID string `json:"id"`
	}
	json.Unmarshal(body, &ev)
	id := "stripe:" + ev.ID
	p.postStripe(body)
	p.WaitOutcome("payments", id, "ok")
	p.WaitOutcome("notify", "payment:"+id, "ok")

	var rec audit.Record
	r := p.get("/api/events/" + id)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	r.json(t, &rec)
	if rec.Status != "ok" || rec.Stream != "INGEST" || rec.StreamSeq == 0 || rec.Subject != "ingest.stripe.payment_intent.succeeded" ||
		rec.Source != "stripe" || rec.Workspace != "default" || rec.ReceivedAt == nil {
		t.Errorf("record: %s", r.Body)
	}
	if rec.Request == nil || !jsonEqual(rec.Request.Body, body) {
		t.Fatalf("request body not the raw event: %s", r.Body)
	}
	for k := range rec.Request.Headers {
		if audit.IsSecretHeader(k) {
			t.Errorf("secret header %s shown", k)
		}
	}
	if rec.Request.Headers["Hs-Stripe-Api-Version"] != "2023-10-16" {
		t.Errorf("headers: %v", rec.Request.Headers)
	}
	procs := map[string]string{}
	for _, o := range rec.Outcomes {
		procs[o.Processor] = o.Status
		if o.Attempts < 1 || o.At.IsZero() {
			t.Errorf("outcome without attempts/time: %+v", o)
		}
	}
	if procs["payments"] != "ok" || procs["notify"] != "ok" {
		t.Errorf("outcomes by processor: %v", procs)
	}
	if rec.Result["action"] != "payment_intent.succeeded" || rec.Result["processor"] != "payments" {
		t.Errorf("result: %v", rec.Result)
	}
	if rec.Processing.TotalMS == nil || *rec.Processing.TotalMS <= 0 || rec.Processing.Steps["payments_ms"] <= 0 {
		t.Errorf("processing: %+v", rec.Processing)
	}
	if len(rec.Notifications) == 0 || rec.Notifications[0].Channel != "live" {
		t.Errorf("notifications: %+v", rec.Notifications)
	}
}

func TestAuditOfLeadsRejectedAndAccepted(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, pipelineOpts{})
	wh := p.CreateWebhook("ws1", nil)
	st := &boards.Store{DB: p.DB}
	b, err := st.CreateBoard(context.Background(), "ws1", "New Leads")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddRule(context.Background(), &boards.Rule{WorkspaceID: "ws1", BoardID: b.ID, BoardName: b.Name, Priority: 10,
		Conditions: []boards.Condition{{Field: "product", Op: "eq", Value: json.RawMessage(`"Bath Remodel"`)}}}); err != nil {
		t.Fatal(err)
	}

	// The gateway refuses a lead without e-mail or phone; one that reached
	// INGEST anyway (published before a mapping change, or by hand) is
	// rejected by the contacts processor.
	bad := p.publishRaw(wh, "bad-1", []byte(`{"firstname":"Nobody","product":"Bath Remodel"}`))
	good := p.postLead(wh, "good-1", []byte(`{"firstname":"Benjie","lastname":"Malinao","phone_number":"+16266633444",
		"email":"Benjie@Example.com ","product":"Bath Remodel","lead_status":"new"}`))
	p.WaitOutcome("contacts", bad, "rejected")
	// Contacts records its outcome after publishing what boards consumes,
	// so boards' outcome can land first: wait for both.
	p.WaitOutcome("contacts", good, "ok")
	p.WaitOutcome("boards", "contact:"+good, "ok")

	var rej audit.Record
	p.get("/api/events/"+bad).json(t, &rej)
	if rej.Status != "failed" || rej.Result["action"] != "rejected" || rej.Result["success"] != false || len(rej.Errors) == 0 ||
		!strings.Contains(rej.Errors[0], "contacts: ") {
		t.Errorf("rejected lead: %+v", rej)
	}
	if rej.Result["errors"] == nil {
		t.Errorf("rejected lead has no field errors: %v", rej.Result)
	}
	if rej.Request == nil || !strings.Contains(string(rej.Request.Body), "Nobody") || rej.StreamSeq == 0 {
		t.Errorf("rejected lead's request: %+v", rej.Request)
	}

	var ok audit.Record
	p.get("/api/events/"+good).json(t, &ok)
	if ok.Status != "ok" || ok.Result["action"] != "created" || ok.Result["match_type"] != "new" ||
		ok.Result["board_name"] != "New Leads" || ok.Result["contact_id"] == nil || ok.Result["score"] == nil {
		t.Errorf("accepted lead result: %v", ok.Result)
	}
	for _, step := range []string{"matching_ms", "lead_ms", "board_ms", "contacts_ms"} {
		if _, found := ok.Processing.Steps[step]; !found {
			t.Errorf("no %s in steps %v", step, ok.Processing.Steps)
		}
	}
	if ok.Processing.TotalMS == nil || ok.Processing.PipelineMS == nil || *ok.Processing.PipelineMS < *ok.Processing.TotalMS {
		t.Errorf("timings: %+v", ok.Processing)
	}
	seen := map[string]bool{}
	for _, o := range ok.Outcomes {
		seen[o.Processor] = true
	}
	if !seen["contacts"] || !seen["boards"] {
		t.Errorf("outcomes: %v", seen)
	}

	// The list: one failed, one ok for this webhook.
	var list struct {
		Events []audit.EventSummary `json:"events"`
	}
	p.get("/api/events?webhook="+wh.ID+"&status=failed&since=1h").json(t, &list)
	if len(list.Events) != 1 || list.Events[0].EventID != bad || list.Events[0].Outcome != "rejected" {
		t.Errorf("failed events: %+v", list.Events)
	}
	p.get("/api/events?webhook="+wh.ID).json(t, &list)
	if len(list.Events) != 2 {
		t.Errorf("all events: %+v", list.Events)
	}
	if r := p.get("/api/events?status=bogus"); r.Status != 400 {
		t.Errorf("bad status filter: %d", r.Status)
	}
}

type sse struct {
	id, event, data string
}

// readSSE reads events until n arrived or the deadline passed.
func readSSE(t *testing.T, sc *bufio.Scanner, n int, deadline time.Duration) []sse {
	t.Helper()
	out := make(chan []sse, 1)
	go func() {
		var evs []sse
		var cur sse
		for len(evs) < n && sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.data != "" {
					evs = append(evs, cur)
				}
				cur = sse{}
			case strings.HasPrefix(line, "id: "):
				cur.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				cur.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.data = strings.TrimPrefix(line, "data: ")
			}
		}
		out <- evs
	}()
	select {
	case evs := <-out:
		return evs
	case <-time.After(deadline):
		t.Fatalf("SSE: fewer than %d events within %v", n, deadline)
		return nil
	}
}

func (p *pipeline) openLive(t *testing.T, lastID string) (*bufio.Scanner, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.HTTP.URL+"/api/events/live", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("live: %d %v", resp.StatusCode, resp.Header)
	}
	// The first line is written once the feed's position is fixed.
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != ": hookstream live feed" {
		t.Fatalf("live: first line %q, %v", sc.Text(), sc.Err())
	}
	return sc, func() { cancel(); resp.Body.Close() }
}

// A browser that reconnects with Last-Event-ID gets exactly what it missed.
func TestLiveFeedResumesFromLastEventID(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, pipelineOpts{})
	wh := p.CreateWebhook("ws1", nil)
	lead := func(n int) []byte {
		return []byte(fmt.Sprintf(`{"firstname":"Lead%d","email":"lead%d@example.com","product":"Windows"}`, n, n))
	}

	sc, closeFeed := p.openLive(t, "") // positioned: posts from now on are in it
	p.postLead(wh, "l1", lead(1))
	first := readSSE(t, sc, 1, 15*time.Second)
	closeFeed()
	if first[0].event != "notification" || !strings.Contains(first[0].data, "Lead1") {
		t.Fatalf("first event: %+v", first[0])
	}
	var n struct {
		Kind  string `json:"kind"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(first[0].data), &n); err != nil || n.Kind != "contact.created" {
		t.Errorf("data is not the notice: %v %s", err, first[0].data)
	}

	// Missed while disconnected.
	p.postLead(wh, "l2", lead(2))
	p.postLead(wh, "l3", lead(3))
	testutil.CheckFor(t, 15*time.Second, 25*time.Millisecond, func() error {
		if c := p.Count(`SELECT count(*) FROM notifications WHERE channel='live'`); c != 3 {
			return fmt.Errorf("%d live notifications", c)
		}
		return nil
	})
	sc, closeFeed = p.openLive(t, first[0].id)
	defer closeFeed()
	got := readSSE(t, sc, 2, 15*time.Second)
	var titles []string
	for _, e := range got {
		titles = append(titles, e.data)
		if e.id <= first[0].id && len(e.id) <= len(first[0].id) {
			t.Errorf("id %s not after %s", e.id, first[0].id)
		}
	}
	joined := strings.Join(titles, "\n")
	if strings.Contains(joined, "Lead1") || !strings.Contains(joined, "Lead2") || !strings.Contains(joined, "Lead3") {
		t.Errorf("resumed feed:\n%s", joined)
	}
	// ?last_event_id= works for clients that cannot set headers.
	req, _ := http.NewRequest(http.MethodGet, p.HTTP.URL+"/api/events/live?last_event_id=abc", nil)
	if r := p.do(req, adminToken); r.Status != 400 {
		t.Errorf("bad Last-Event-ID: %d", r.Status)
	}
	// Shutting the API down ends open feeds.
	p.api.Close()
	done := make(chan bool)
	go func() {
		for sc.Scan() {
		}
		done <- true
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("live feed still open after Close")
	}
}

// Figures checked against a known set of outcomes, percentiles included.
func TestMetricsFromKnownOutcomes(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, pipelineOpts{noProcessors: true})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	ins := func(proc, eventID, webhook, subject, status string, received time.Time, ms float64, attempts int) {
		t.Helper()
		var wh any
		if webhook != "" {
			wh = webhook
		}
		at := received.Add(time.Duration(ms * float64(time.Millisecond)))
		if _, err := p.DB.Exec(ctx, `INSERT INTO event_outcomes (processor, event_id, webhook_id, workspace_id, subject,
			stream_seq, status, attempts, duration_ms, received_at, at) VALUES ($1,$2,$3,'ws1',$4,1,$5,$6,1,$7,$8)`,
			proc, eventID, wh, subject, status, attempts, received, at); err != nil {
			t.Fatal(err)
		}
	}
	subj := "ingest.webhook.wh_m"
	var recentMS, allMS []float64
	// 20 successes: 15 in the last 24 h, 5 two days ago.
	for i := range 20 {
		ms := float64(10 * (i + 1)) // 10 … 200
		recv := now.Add(-time.Hour - time.Duration(i)*time.Minute)
		if i >= 15 {
			recv = now.Add(-48 * time.Hour)
		} else {
			recentMS = append(recentMS, ms)
		}
		allMS = append(allMS, ms)
		id := fmt.Sprintf("wh:wh_m:ok%d", i)
		if i%4 == 0 { // retried once before succeeding
			ins("contacts", id, "wh_m", subj, "retry", recv, ms/2, 1)
			ins("contacts", id, "wh_m", subj, "ok", recv, ms, 2)
		} else {
			ins("contacts", id, "wh_m", subj, "ok", recv, ms, 1)
		}
		ins("boards", "contact:"+id, "wh_m", "events.contact.created", "ok", recv, ms+500, 1) // downstream: not counted
	}
	// A sender's retry of ok0, deduplicated later: one event, counted once.
	ins("contacts", "wh:wh_m:ok0", "wh_m", subj, "duplicate", now.Add(-time.Minute), 3, 1)
	// 3 rejected (recent), 1 dead after retries (recent), 1 still retrying.
	for i, ms := range []float64{5, 6, 7} {
		ins("contacts", fmt.Sprintf("wh:wh_m:bad%d", i), "wh_m", subj, "rejected", now.Add(-2*time.Hour), ms, 1)
		recentMS, allMS = append(recentMS, ms), append(allMS, ms)
	}
	ins("contacts", "wh:wh_m:dead", "wh_m", subj, "retry", now.Add(-3*time.Hour), 100, 1)
	ins("contacts", "wh:wh_m:dead", "wh_m", subj, "dead", now.Add(-3*time.Hour), 900, 2)
	recentMS, allMS = append(recentMS, 900), append(allMS, 900)
	ins("contacts", "wh:wh_m:pending", "wh_m", subj, "retry", now.Add(-time.Minute), 50, 1)
	// Other sources must not leak in.
	ins("contacts", "wh:wh_other:1", "wh_other", "ingest.webhook.wh_other", "ok", now.Add(-time.Hour), 5000, 1)
	ins("payments", "stripe:evt_1", "", "ingest.stripe.payment_intent.succeeded", "ok", now.Add(-time.Hour), 40, 1)
	ins("payments", "stripe:evt_2", "", "ingest.stripe.charge.refunded", "unhandled", now.Add(-time.Hour), 20, 1)

	want := func(ms []float64, ok, failed int64) stats.Metrics {
		m := stats.Metrics{TotalRequests: ok + failed, SuccessfulRequests: ok, FailedRequests: failed, PendingRequests: 1}
		m.SuccessRate = round2(100 * float64(ok) / float64(ok+failed))
		m.ErrorRate = round2(100 * float64(failed) / float64(ok+failed))
		var sum float64
		for _, v := range ms {
			sum += v
		}
		avg := round2(sum / float64(len(ms)))
		p50, p95, p99 := round2(percentileCont(ms, .5)), round2(percentileCont(ms, .95)), round2(percentileCont(ms, .99))
		m.AverageProcessingTime, m.P50ProcessingTime, m.P95ProcessingTime, m.P99ProcessingTime = &avg, &p50, &p95, &p99
		return m
	}
	wantAll, want24 := want(allMS, 20, 4), want(recentMS, 15, 4)

	var rep stats.Report
	r := p.get("/api/webhooks/wh_m/metrics")
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	r.json(t, &rep)
	checkMetrics(t, "all time", rep.Metrics, wantAll)
	checkMetrics(t, "last 24h", rep.Last24h, want24)
	if rep.TotalRequests != 24 || rep.SuccessRate != 83.33 || rep.ErrorRate != 16.67 {
		t.Errorf("headline figures: %+v", rep.Metrics)
	}
	// The original system's field names.
	for _, k := range []string{`"total_requests"`, `"successful_requests"`, `"failed_requests"`, `"success_rate"`,
		`"error_rate"`, `"average_processing_time"`, `"p50_processing_time"`, `"p95_processing_time"`, `"p99_processing_time"`, `"last_24h"`} {
		if !strings.Contains(string(r.Body), k) {
			t.Errorf("response lacks %s: %s", k, r.Body)
		}
	}

	// Stripe is a source too; all sources at once.
	rd := stats.Reader{DB: p.DB, Now: func() time.Time { return now }}
	st, err := rd.Source(ctx, "stripe")
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalRequests != 2 || st.SuccessfulRequests != 2 || *st.P50ProcessingTime != 30 {
		t.Errorf("stripe: %+v", st.Metrics)
	}
	all, err := rd.Sources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range all {
		names = append(names, s.WebhookID)
	}
	if strings.Join(names, ",") != "wh_m,stripe,wh_other" {
		t.Errorf("sources: %v", names)
	}
	// An unknown webhook: zeros, no times.
	none, err := rd.Source(ctx, "wh_none")
	if err != nil || none.TotalRequests != 0 || none.P99ProcessingTime != nil {
		t.Errorf("no data: %+v %v", none, err)
	}
	// Event list by final outcome.
	trail := audit.Trail{DB: p.DB}
	evs, err := trail.Events(ctx, audit.EventFilter{Source: "wh_m", Status: "failed"})
	if err != nil || len(evs) != 4 {
		t.Errorf("failed events: %d %v", len(evs), err)
	}
	evs, _ = trail.Events(ctx, audit.EventFilter{Source: "wh_m", Status: "pending"})
	if len(evs) != 1 || evs[0].EventID != "wh:wh_m:pending" {
		t.Errorf("pending: %+v", evs)
	}
	evs, _ = trail.Events(ctx, audit.EventFilter{Source: "wh_m", Since: now.Add(-24 * time.Hour)})
	if len(evs) != 20 { // 15 + 4 + pending
		t.Errorf("last 24h: %d events", len(evs))
	}
	// Pages of 7, each after the last row of the one before, are the list.
	all24, _ := trail.Events(ctx, audit.EventFilter{Source: "wh_m", Limit: 100})
	var paged []string
	f := audit.EventFilter{Source: "wh_m", Limit: 7}
	for range 10 {
		page, err := trail.Events(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			paged = append(paged, e.EventID)
		}
		if len(page) < f.Limit {
			break
		}
		c := page[len(page)-1].Cursor()
		f.After = &c
	}
	var whole []string
	for _, e := range all24 {
		whole = append(whole, e.EventID)
	}
	if len(whole) != 25 || strings.Join(paged, ",") != strings.Join(whole, ",") {
		t.Errorf("pages:\n%v\nwhole list:\n%v", paged, whole)
	}
}

func checkMetrics(t *testing.T, name string, got, want stats.Metrics) {
	t.Helper()
	f := func(p *float64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprintf("%.2f", *p)
	}
	g := fmt.Sprintf("%d/%d/%d/%d %.2f %.2f avg=%s p50=%s p95=%s p99=%s", got.TotalRequests, got.SuccessfulRequests,
		got.FailedRequests, got.PendingRequests, got.SuccessRate, got.ErrorRate, f(got.AverageProcessingTime),
		f(got.P50ProcessingTime), f(got.P95ProcessingTime), f(got.P99ProcessingTime))
	w := fmt.Sprintf("%d/%d/%d/%d %.2f %.2f avg=%s p50=%s p95=%s p99=%s", want.TotalRequests, want.SuccessfulRequests,
		want.FailedRequests, want.PendingRequests, want.SuccessRate, want.ErrorRate, f(want.AverageProcessingTime),
		f(want.P50ProcessingTime), f(want.P95ProcessingTime), f(want.P99ProcessingTime))
	if g != w {
		t.Errorf("%s:\n got  %s\n want %s", name, g, w)
	}
}

// percentileCont is PostgreSQL's percentile_cont: linear interpolation
// between the closest ranks.
func percentileCont(vs []float64, f float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	pos := f * float64(len(s)-1)
	lo := math.Floor(pos)
	hi := math.Ceil(pos)
	return s[int(lo)] + (s[int(hi)]-s[int(lo)])*(pos-lo)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func TestForgetContact(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, pipelineOpts{})
	wh := p.CreateWebhook("ws1", nil)
	id := p.postLead(wh, "f1", []byte(`{"firstname":"Erin","lastname":"Erasure","email":"erin@example.com",
		"phone_number":"+16266630000","company":"Acme","product":"Windows","message":"call me at +1 626 663 0000"}`))
	p.WaitOutcome("contacts", id, "ok")
	p.WaitOutcome("notify", "contact:"+id, "ok")
	var contactID string
	if err := p.DB.QueryRow(context.Background(), `SELECT contact_id FROM leads WHERE event_id=$1`, id).Scan(&contactID); err != nil {
		t.Fatal(err)
	}
	var before audit.Record
	p.get("/api/events/"+id).json(t, &before)
	if before.Request == nil || !strings.Contains(string(before.Request.Body), "erin@example.com") {
		t.Fatalf("audit before: %+v", before.Request)
	}
	seq := before.StreamSeq

	req, _ := http.NewRequest(http.MethodPost, p.HTTP.URL+"/api/contacts/"+contactID+"/forget?purge_streams=true",
		strings.NewReader(`{"reason":"GDPR request #12"}`))
	r := p.do(req, adminToken)
	if r.Status != 200 {
		t.Fatalf("forget: %d %s", r.Status, r.Body)
	}
	var e erasure.Erasure
	r.json(t, &e)
	if e.Tables["contacts"] != 1 || e.Tables["leads"] != 1 || e.Tables["notifications"] < 1 || e.StreamMessagesDeleted < 2 ||
		len(e.EventIDs) != 1 || e.EventIDs[0] != id {
		t.Errorf("erasure: %s", r.Body)
	}
	var email, first, phone, company, message *string
	var erased *time.Time
	if err := p.DB.QueryRow(context.Background(), `SELECT c.email, c.first_name, c.phone, c.company, c.erased_at, l.message
		FROM contacts c JOIN leads l ON l.contact_id=c.id WHERE c.id=$1`, contactID).Scan(&email, &first, &phone, &company, &erased, &message); err != nil {
		t.Fatal(err)
	}
	if email != nil || first != nil || phone != nil || company != nil || message != nil || erased == nil {
		t.Errorf("personal data left: %v %v %v %v %v erased=%v", email, first, phone, company, message, erased)
	}
	if n := p.Count(`SELECT count(*) FROM notifications WHERE contact_id=$1 AND title <> '[erased]'`, contactID); n != 0 {
		t.Errorf("%d notifications keep the contact's name", n)
	}
	if n := p.Count(`SELECT count(*) FROM erasures WHERE contact_id=$1 AND reason='GDPR request #12' AND requested_by='api'`, contactID); n != 1 {
		t.Errorf("erasure not recorded")
	}
	// The raw request is gone from INGEST, and the audit says why.
	s, _ := p.JS.Stream(context.Background(), streams.StreamIngest)
	if _, err := s.GetMsg(context.Background(), seq); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("INGEST message %d still there: %v", seq, err)
	}
	var after audit.Record
	p.get("/api/events/"+id).json(t, &after)
	if after.Erasure == nil || after.Erasure.ContactID != contactID || (after.Request != nil && len(after.Request.Body) > 0) {
		t.Errorf("audit after erasure: %+v", after)
	}
	raw, _ := json.Marshal(after)
	if strings.Contains(string(raw), "erin@example.com") || strings.Contains(string(raw), "Erasure") {
		t.Errorf("audit still shows personal data: %s", raw)
	}
	// Again: safe, and says so.
	r = p.post("/api/contacts/"+contactID+"/forget", "")
	var again erasure.Erasure
	r.json(t, &again)
	if r.Status != 200 || !again.AlreadyErased {
		t.Errorf("second forget: %d %s", r.Status, r.Body)
	}
	if r := p.post("/api/contacts/ct_nobody/forget", ""); r.Status != 404 {
		t.Errorf("unknown contact: %d", r.Status)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// The admin API answers errors with the gateway's envelope and codes:
// {"error": code, "message": …, "details": [{"field", "code", "message"}…]}.
func TestAdminErrorsAnswerLikeTheGateway(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, pipelineOpts{noProcessors: true})
	cases := []struct {
		name, method, path, token string
		status                    int
		code, field               string
	}{
		{"no token", "GET", "/api/events", "", 401, "unauthorized", ""},
		{"unknown route", "GET", "/api/nope", adminToken, 404, "not_found", ""},
		{"unknown event", "GET", "/api/events/wh:x:nope", adminToken, 404, "not_found", ""},
		{"bad status filter", "GET", "/api/events?status=bogus", adminToken, 400, "invalid_request", "status"},
		{"bad limit", "GET", "/api/notifications?limit=0", adminToken, 400, "invalid_request", "limit"},
		{"bad since", "GET", "/api/events?since=yesterday", adminToken, 400, "invalid_request", "since"},
		{"bad form type", "GET", "/api/webhooks/form:a%20b/metrics", adminToken, 400, "invalid_request", "webhook"},
		{"bad Last-Event-ID", "GET", "/api/events/live?last_event_id=abc", adminToken, 400, "invalid_request", "Last-Event-ID"},
		{"bad forget body", "POST", "/api/contacts/ct_x/forget", adminToken, 400, "invalid_request", ""},
		{"unknown contact", "POST", "/api/contacts/ct_nobody/forget", adminToken, 404, "not_found", ""},
		{"the gateway's own 404", "GET", "/nope", "", 404, "not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body *strings.Reader
			if c.name == "bad forget body" {
				body = strings.NewReader("{not json")
			} else {
				body = strings.NewReader("")
			}
			req, _ := http.NewRequest(c.method, p.HTTP.URL+c.path, body)
			r := p.do(req, c.token)
			if r.Status != c.status || r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
			}
			var env map[string]json.RawMessage
			r.json(t, &env)
			var got struct {
				Error   string `json:"error"`
				Message string `json:"message"`
				Details []struct {
					Field   string `json:"field"`
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"details"`
			}
			r.json(t, &got)
			if len(env) != 3 || env["details"] == nil || got.Error != c.code || got.Message == "" {
				t.Errorf("envelope: %s", r.Body)
			}
			if c.field != "" && (len(got.Details) != 1 || got.Details[0].Field != c.field || got.Details[0].Code != "invalid_value") {
				t.Errorf("details: %s", r.Body)
			}
			if c.field == "" && len(got.Details) != 0 {
				t.Errorf("details: %s", r.Body)
			}
		})
	}
}
