package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/ops/audit"
	"github.com/hookstream/hookstream/ops/erasure"
	"github.com/hookstream/hookstream/ops/stats"
	"github.com/hookstream/hookstream/processors/notify"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
)

// The operator verbs against a running pipeline: notify rules, events
// show/list, stats, contacts forget; /metrics carries the per-processor
// series.
func TestOperatorVerbs(t *testing.T) {
	t.Setenv("HOOKSTREAM_ADMIN_TOKEN", "")
	p := startPipeline(t)
	ctx := context.Background()
	run := func(want int, args ...string) string {
		t.Helper()
		out, errOut, code := p.cli(t, args...)
		if code != want {
			t.Fatalf("hookstream %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		if code == 1 {
			if lines := strings.Split(strings.TrimSpace(errOut), "\n"); len(lines) != 1 {
				t.Errorf("error is not one line: %q", errOut)
			}
			return errOut
		}
		return out
	}

	// Rules: defaults until the workspace has its own.
	var rules []notify.Rule
	json.Unmarshal([]byte(run(0, "notify", "rules", "list", "--workspace", "default", "--json")), &rules)
	if len(rules) != len(notify.DefaultRules()) || !rules[0].Default {
		t.Errorf("default rules: %+v", rules)
	}
	out := run(0, "notify", "rules", "add", "--workspace", "default", "--event", "board.assigned", "--board", "New Leads",
		"--channels", "live,sms", "--high-priority")
	if !strings.HasPrefix(out, "added rule nr_") {
		t.Errorf("rules add: %s", out)
	}
	run(0, "notify", "rules", "add", "--workspace", "default", "--event", "contact.created", "--channels", "live")
	run(0, "notify", "rules", "add", "--workspace", "default", "--event", "payment.succeeded", "--min-amount", "1,000.00",
		"--currency", "usd", "--channels", "sms")
	rules = nil
	json.Unmarshal([]byte(run(0, "notify", "rules", "list", "--workspace", "default", "--json")), &rules)
	if len(rules) != 3 || rules[0].Default || *rules[2].MinAmount != 100000 {
		t.Errorf("stored rules: %+v", rules)
	}
	if txt := run(0, "notify", "rules", "list", "--workspace", "default"); !strings.Contains(txt, "board=New Leads") ||
		!strings.Contains(txt, "amount>=1,000.00 USD") {
		t.Errorf("rules table:\n%s", txt)
	}
	run(1, "notify", "rules", "add", "--workspace", "default", "--event", "contact.deleted", "--channels", "live")
	run(1, "notify", "test", "--channel", "slack")

	// A lead through the gateway.
	wh, err := (&webhooksdb.Webhooks{DB: p.a.pool}).Create(ctx, &webhooksdb.Webhook{WorkspaceID: "default", Name: "v",
		Active: true, AuthScheme: "standard"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"firstname":"Cli","lastname":"Person","email":"cli.person@example.com","product":"Windows"}`)
	ts := time.Now()
	if code := p.post(t, "/webhooks/"+wh.ID+"?wait=5s", "application/json", body, http.Header{"Webhook-Id": {"cli-1"},
		"Webhook-Timestamp": {strconv.FormatInt(ts.Unix(), 10)},
		"Webhook-Signature": {verify.SignStandard(wh.Secrets[0].Value, "cli-1", ts, body)}}); code != 200 {
		t.Fatalf("post: %d", code)
	}
	id := "wh:" + wh.ID + ":cli-1"
	testutil.CheckFor(t, 10*time.Second, 25*time.Millisecond, func() error {
		if p.count(t, `SELECT count(*) FROM event_outcomes WHERE processor='notify' AND event_id=$1`, "contact:"+id) == 0 {
			return fmt.Errorf("not announced yet")
		}
		return nil
	})

	var rec audit.Record
	if err := json.Unmarshal([]byte(run(0, "events", "show", id, "--json")), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != "ok" || rec.Request == nil || rec.StreamSeq == 0 || rec.Result["action"] != "created" {
		t.Errorf("events show: %+v", rec)
	}
	txt := run(0, "events", "show", id)
	for _, want := range []string{"Status      ok", "Stream      INGEST #", "Steps (ms)", "contacts", "Notifications", "cli.person@example.com"} {
		if !strings.Contains(txt, want) {
			t.Errorf("events show lacks %q:\n%s", want, txt)
		}
	}
	run(1, "events", "show", "wh:nope:nope")
	var evs []audit.EventSummary
	json.Unmarshal([]byte(run(0, "events", "list", "--webhook", wh.ID, "--status", "ok", "--since", "1h", "--json")), &evs)
	if len(evs) != 1 || evs[0].EventID != id {
		t.Errorf("events list: %+v", evs)
	}
	if txt := run(0, "events", "list", "--status", "failed"); !strings.Contains(txt, "(no events)") {
		t.Errorf("no failed events expected:\n%s", txt)
	}
	run(2, "events", "list", "--bogus")
	run(1, "events", "list", "--status", "weird")

	var rep stats.Report
	json.Unmarshal([]byte(run(0, "stats", "--webhook", wh.ID, "--json")), &rep)
	if rep.TotalRequests != 1 || rep.SuccessRate != 100 || rep.P99ProcessingTime == nil || rep.Last24h.TotalRequests != 1 {
		t.Errorf("stats: %+v", rep)
	}
	if txt := run(0, "stats"); !strings.Contains(txt, wh.ID) || !strings.Contains(txt, "P99 ms") {
		t.Errorf("stats table:\n%s", txt)
	}

	var ns []audit.NotificationSummary
	json.Unmarshal([]byte(run(0, "notify", "list", "--channel", "live", "--json")), &ns)
	if len(ns) != 1 || ns[0].SourceEventID != id || ns[0].Status != "sent" {
		t.Errorf("notify list: %+v", ns)
	}

	var contactID string
	p.a.pool.QueryRow(ctx, `SELECT contact_id FROM leads WHERE event_id=$1`, id).Scan(&contactID)
	var e erasure.Erasure
	json.Unmarshal([]byte(run(0, "contacts", "forget", contactID, "--reason", "test", "--purge-streams", "--json")), &e)
	if e.Tables["contacts"] != 1 || e.StreamMessagesDeleted < 1 || !strings.HasPrefix(e.RequestedBy, "cli") {
		t.Errorf("forget: %+v", e)
	}
	if txt := run(0, "events", "show", id); strings.Contains(txt, "cli.person@example.com") || !strings.Contains(txt, "Erased") {
		t.Errorf("after forget:\n%s", txt)
	}
	run(1, "contacts", "forget", "ct_nobody")

	// Prometheus: per-processor series and consumer lag on /metrics.
	resp, err := p.srv.Client().Get(p.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var mb bytes.Buffer
	mb.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`hookstream_processor_processed_total{processor="contacts",status="ok"} 1`,
		`hookstream_processor_duration_seconds_bucket{processor="contacts",status="ok"`,
		`hookstream_consumer_pending{consumer="contacts",stream="INGEST"} 0`,
		`hookstream_consumer_pending{consumer="notify",stream="EVENTS"}`, `hookstream_jetstream_scrape_ok 1`} {
		if !strings.Contains(mb.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Without HOOKSTREAM_ADMIN_TOKEN the API is off.
	if r, err := p.srv.Client().Get(p.srv.URL + "/api/events"); err != nil || r.StatusCode != 404 {
		t.Errorf("API without a token: %v %v", r.StatusCode, err)
	}
}

func TestLogScrubHandler(t *testing.T) {
	var b bytes.Buffer
	h := &scrubHandler{next: slog.NewJSONHandler(&b, nil), s: &scrubber{secrets: []string{"sekrit-value-1"}}}
	log := slog.New(h).With("api_key", "abc", "who", "jane@example.com")
	log.Info("sending to +1 (626) 663-3444 with sekrit-value-1", "err", fmt.Errorf("422: {\"email\":\"x\",\"first_name\":\"Jane\"}"),
		"auth", "Bearer abcdefghijkl", "sig", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=", "ok", "seq 12345678901 at 2026-11-22",
		slog.Group("g", "token", "t", "mail", "a.b@c.io"))
	got := b.String()
	for _, bad := range []string{"abc", "jane@", "663-3444", "sekrit", "\\\"Jane", "abcdefghijkl", "K5oZ", "a.b@c.io", `"token":"t"`} {
		if strings.Contains(got, bad) {
			t.Errorf("%q left in %s", bad, got)
		}
	}
	if !strings.Contains(got, "seq 12345678901 at 2026-11-22") {
		t.Errorf("ids and dates must survive: %s", got)
	}
}
