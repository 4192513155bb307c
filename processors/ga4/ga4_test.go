package ga4_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/processors/ga4"
	"github.com/hookstream/hookstream/processors/outbound"
	"github.com/hookstream/hookstream/streams"
)

type fixture struct {
	env  *pipelinetest.Env
	fake *fakeGA4
	cfg  ga4.Config
	proc processors.Processor
}

func setup(t *testing.T, edit func(*ga4.Config)) *fixture {
	t.Helper()
	env := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	f := newFakeGA4(t)
	cfg := ga4.DefaultConfig()
	cfg.MeasurementID, cfg.APISecret, cfg.Endpoint = f.mid, f.secret, f.srv.URL
	cfg.Client = outbound.New(ga4.Name, 5*time.Second, nil)
	if edit != nil {
		edit(&cfg)
	}
	g, err := ga4.New(env.Deps(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{env: env, fake: f, cfg: cfg, proc: g.Processors()[0]}
}

// publish puts a domain event in EVENTS the way a processor's outbox does.
func (fx *fixture) publish(subject, msgID string, body any) {
	fx.env.T.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		fx.env.T.Fatal(err)
	}
	m := nats.NewMsg(subject)
	m.Data = b
	m.Header.Set(streams.HdrMsgID, msgID)
	m.Header.Set(streams.HdrWorkspaceID, "ws1")
	m.Header.Set(streams.HdrCausationID, "src:"+msgID)
	m.Header.Set(streams.HdrReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	m.Header.Set(streams.HdrContentType, "application/json")
	fx.env.Publish(m)
}

func lead(now time.Time) events.Lead {
	return events.Lead{
		Origin: events.Origin{SourceEventID: "form:1", Source: "form", FormType: "contact", ReceivedAt: now},
		LeadID: "ld_abc", Contact: events.Contact{ID: "ct_benjie", WorkspaceID: "ws1", Email: "benjie@example.com",
			Phone: "+16266633444", FirstName: "Benjie", LastName: "Malinao", Company: "Malinao Homes"},
		ServiceInterest: "Bath Remodel", Message: "Call me at (626) 663-3444", PageURL: "https://example.com/services/bath-remodel?ref=x",
		UTM:   map[string]string{"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring_remodel"},
		Score: 35, CreatedAt: now,
	}
}

// payment is an events.payment.* body as the payments processor emits it
// for a real-shaped payment_intent.succeeded whose Stripe created time lies
// a year back.
func payment(now time.Time, txn string) events.Payment {
	return events.Payment{
		Origin:        events.Origin{SourceEventID: "stripe:evt_" + txn, Source: "stripe", ReceivedAt: now},
		StripeRef:     events.StripeRef{StripeEventID: "evt_" + txn, StripeEventType: "payment_intent.succeeded", StripeCreated: time.Unix(1763800000, 0)},
		Link:          events.Link{WorkspaceID: "ws1", ContactID: "ct_benjie", LeadRef: "lead_7f3a9c", Email: "benjie@example.com"},
		TransactionID: txn, AmountMinor: 149900, Amount: "1499.00", Currency: "USD", Status: "succeeded",
		ServiceType: "Bath Remodel", PaymentMethodType: "card", UTM: events.UTM{Source: "google", Medium: "cpc"},
	}
}

func (fx *fixture) ga4Rows() map[string]string {
	rows, err := fx.env.DB.Query(context.Background(), `SELECT event_id || '/' || name, status FROM ga4_events`)
	if err != nil {
		fx.env.T.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		rows.Scan(&k, &v)
		out[k] = v
	}
	return out
}

func TestLeadPurchaseAndFailure(t *testing.T) {
	fx := setup(t, nil)
	run := fx.env.Start(fx.proc)
	now := time.Now().UTC().Truncate(time.Microsecond)
	fx.publish(streams.SubjectLeadCreated, "lead:form:1", lead(now))
	fx.publish(streams.SubjectPaymentSucceeded, "payment:evt_1", payment(now, "pi_1"))
	failed := payment(now, "pi_2")
	failed.Status, failed.ErrorCode, failed.DeclineCode = "failed", "card_declined", "insufficient_funds"
	failed.ErrorMessage = "Your card has insufficient funds."
	fx.publish(streams.SubjectPaymentFailed, "payment:evt_2", failed)
	waitOutcomes(fx.env, ga4.Name, "events.", 3)

	reqs := fx.fake.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	byName := map[string]fakeReq{}
	for _, r := range reqs {
		if r.Path != "/mp/collect" {
			t.Errorf("path %s", r.Path)
		}
		byName[r.event()["name"].(string)] = r
	}
	gl := byName["generate_lead"].params()
	for k, want := range map[string]string{"form_type": "contact", "form_location": "/services/bath-remodel",
		"source": "form", "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring_remodel",
		"service_interest": "Bath Remodel", "lead_id": "ld_abc"} {
		if gl[k] != want {
			t.Errorf("generate_lead %s = %v, want %q", k, gl[k], want)
		}
	}
	if fmt.Sprint(gl["lead_score"]) != "35" || fmt.Sprint(gl["engagement_time_msec"]) != "1" ||
		fmt.Sprint(gl["session_id"]) != fmt.Sprint(now.Unix()) {
		t.Errorf("generate_lead numbers %v", gl)
	}
	for _, k := range []string{"message", "email", "phone"} {
		if _, ok := gl[k]; ok {
			t.Errorf("generate_lead carries %s", k)
		}
	}
	pu := byName["purchase"]
	pp := pu.params()
	if pp["transaction_id"] != "pi_1" || fmt.Sprint(pp["value"]) != "1499" || pp["currency"] != "USD" {
		t.Errorf("purchase params %v", pp)
	}
	items, _ := pp["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("purchase items %v", pp["items"])
	}
	it := items[0].(map[string]any)
	if it["item_id"] != "bath_remodel" || it["item_name"] != "Bath Remodel" {
		t.Errorf("item %v", it)
	}
	if pu.Payload["client_id"] != byName["generate_lead"].Payload["client_id"] {
		t.Errorf("purchase client_id %v differs from the lead's %v", pu.Payload["client_id"], byName["generate_lead"].Payload["client_id"])
	}
	if ts := fmt.Sprint(pu.Payload["timestamp_micros"]); ts != fmt.Sprint(now.UnixMicro()) {
		t.Errorf("timestamp_micros %s", ts)
	}
	pf := byName["payment_failed"].params()
	if pf["error_code"] != "card_declined" || pf["decline_code"] != "insufficient_funds" || pf["transaction_id"] != "pi_2" ||
		pf["error_message"] != nil {
		t.Errorf("payment_failed params %v", pf)
	}
	if _, ok := byName["payment_failed"].params()["items"]; ok {
		t.Error("payment_failed has items")
	}

	rows := fx.ga4Rows()
	for _, k := range []string{"lead:form:1/generate_lead", "payment:evt_1/purchase", "payment:evt_2/payment_failed"} {
		if rows[k] != ga4.StatusSent {
			t.Errorf("ga4_events %s = %q (rows %v)", k, rows[k], rows)
		}
	}
	var payload []byte
	var secretLeak bool
	fx.env.DB.QueryRow(context.Background(), `SELECT payload, payload::text LIKE '%'||$1||'%' FROM ga4_events WHERE name='purchase'`,
		fx.fake.secret).Scan(&payload, &secretLeak)
	if secretLeak || !strings.Contains(string(payload), `"transaction_id"`) {
		t.Errorf("stored payload %s (secret leaked: %v)", payload, secretLeak)
	}

	// The same purchase under another event id (a second emission) is not
	// sent again.
	fx.publish(streams.SubjectPaymentSucceeded, "payment:evt_1_again", payment(now, "pi_1"))
	o := fx.env.WaitOutcome(ga4.Name, "payment:evt_1_again")
	if o.Status != processors.StatusSkipped || !strings.Contains(string(o.Detail), "transaction already sent") {
		t.Errorf("second purchase outcome %+v %s", o, o.Detail)
	}

	// Replay from the start: nothing is sent again.
	run.Stop()
	fx.env.DeleteConsumer(streams.StreamEvents, ga4.Name)
	fx.env.Start(fx.proc)
	waitOutcomes(fx.env, ga4.Name, "events.", 8) // 4 before, 4 replayed
	if n := fx.fake.count(); n != 3 {
		t.Fatalf("%d requests after replay, want 3", n)
	}
	for _, id := range []string{"lead:form:1", "payment:evt_1", "payment:evt_2"} {
		os := fx.env.Outcomes(ga4.Name, id)
		if last := os[len(os)-1]; last.Status != processors.StatusSkipped && last.Status != processors.StatusDuplicate {
			t.Errorf("replayed %s: %+v", id, last)
		}
	}
}

func TestPIIIsScrubbed(t *testing.T) {
	fx := setup(t, nil)
	fx.env.Start(fx.proc)
	now := time.Now().UTC()
	l := lead(now)
	l.UTM["utm_campaign"] = "promo for benjie@example.com"
	l.UTM["utm_content"] = "sms to +1 626 663 3444"
	l.ServiceInterest = "call (626) 663-3444 about a bath"
	l.PageURL = "https://example.com/thanks/benjie%40example.com?email=benjie@example.com"
	fx.publish(streams.SubjectLeadCreated, "lead:pii", l)
	fx.env.WaitOutcome(ga4.Name, "lead:pii", processors.StatusOK)
	if fx.fake.count() != 1 {
		t.Fatalf("%d requests", fx.fake.count())
	}
	p := fx.fake.requests()[0].params()
	if p["utm_campaign"] != "promo for "+ga4.EmailMask || p["utm_content"] != "sms to "+ga4.PhoneMask ||
		p["service_interest"] != "call "+ga4.PhoneMask+" about a bath" || p["form_location"] != "/thanks/"+ga4.EmailMask {
		t.Errorf("params %v", p)
	}
}

// waitOutcomes waits until a processor recorded final outcomes for at least
// n deliveries whose subject starts with prefix. (A consumer's pending counts
// can read zero for a moment right after a publish, while the message is on
// its way to a waiting pull: outcomes are the reliable signal.)
func waitOutcomes(env *pipelinetest.Env, processor, prefix string, n int) {
	env.T.Helper()
	env.Eventually(30*time.Second, func() error {
		got := env.Count(`SELECT count(*) FROM event_outcomes WHERE processor=$1
			AND starts_with(subject, $2) AND status <> 'retry'`, processor, prefix)
		if got < n {
			return fmt.Errorf("%s: %d of %d %s… deliveries handled", processor, got, n, prefix)
		}
		return nil
	})
}

// dlqError returns the dead letter's error header for an event.
func dlqError(t *testing.T, env *pipelinetest.Env, eventID string) string {
	t.Helper()
	var got string
	env.Eventually(15*time.Second, func() error {
		for _, m := range env.Messages(streams.StreamDLQ, streams.DLQSubject(ga4.Name)) {
			if m.Header.Get(streams.HdrDLQEventID) == eventID {
				got = m.Header.Get(streams.HdrDLQError)
				return nil
			}
		}
		return fmt.Errorf("no dead letter for %s", eventID)
	})
	return got
}

func TestInvalidNeverLeaves(t *testing.T) {
	fx := setup(t, nil)
	fx.env.Start(fx.proc)

	// A purchase whose currency is not an ISO 4217 code: GA4 would drop
	// the value, so it is dead-lettered with the reason and never sent.
	bad := payment(time.Now().UTC(), "pi_bad")
	bad.Currency = "dollars"
	fx.publish(streams.SubjectPaymentSucceeded, "payment:bad", bad)
	o := fx.env.WaitOutcome(ga4.Name, "payment:bad", processors.StatusDead)
	if !strings.Contains(o.Error, `value needs currency as an upper-case ISO 4217 code (got "DOLLARS")`) {
		t.Errorf("outcome error %q", o.Error)
	}
	if e := dlqError(t, fx.env, "payment:bad"); !strings.Contains(e, "rejected locally, not sent") {
		t.Errorf("dead letter error %q", e)
	}
	var status string
	var validation []byte
	if err := fx.env.DB.QueryRow(context.Background(), `SELECT status, validation FROM ga4_events WHERE event_id='payment:bad'`).
		Scan(&status, &validation); err != nil {
		t.Fatal(err)
	}
	if status != ga4.StatusInvalid || !strings.Contains(string(validation), "ISO 4217") {
		t.Errorf("row %s %s", status, validation)
	}
	if done, _ := processors.Processed(context.Background(), fx.env.DB, ga4.Name, "payment:bad"); done {
		t.Error("an invalid event was marked processed (a DLQ retry could not re-evaluate it)")
	}

	// A lead older than GA4's 72 h backdating window (a replay of old
	// history): GA4 would drop it silently; it is recorded as expired.
	fx.publish(streams.SubjectLeadCreated, "lead:old", lead(time.Now().Add(-80*time.Hour)))
	o = fx.env.WaitOutcome(ga4.Name, "lead:old")
	if o.Status != processors.StatusSkipped || !strings.Contains(string(o.Detail), "72h") {
		t.Errorf("old lead outcome %+v %s", o, o.Detail)
	}
	if rows := fx.ga4Rows(); rows["lead:old/generate_lead"] != ga4.StatusExpired {
		t.Errorf("rows %v", rows)
	}

	// Payloads with a reserved name or personal data never reach the
	// server, whatever builds them.
	s := ga4.NewSender(fx.cfg)
	base := func() map[string]any { return map[string]any{"engagement_time_msec": 1, "session_id": 1} }
	with := func(k string, v any) map[string]any { p := base(); p[k] = v; return p }
	bad2 := map[string]*ga4.Payload{
		"reserved event": {ClientID: "1.2", Events: []ga4.Event{{Name: "session_start", Params: base()}}},
		"reserved param": {ClientID: "1.2", Events: []ga4.Event{{Name: "generate_lead", Params: with("google_source", "x")}}},
		"email param":    {ClientID: "1.2", Events: []ga4.Event{{Name: "generate_lead", Params: with("email", "x")}}},
		"email value":    {ClientID: "1.2", Events: []ga4.Event{{Name: "generate_lead", Params: with("note", "jo@example.com")}}},
		"phone value":    {ClientID: "1.2", Events: []ga4.Event{{Name: "generate_lead", Params: with("note", "+44 20 7946 0958")}}},
		"email user_id":  {ClientID: "1.2", UserID: "jo@example.com", Events: []ga4.Event{{Name: "generate_lead", Params: base()}}},
	}
	for name, p := range bad2 {
		res, err := s.Send(context.Background(), p)
		if err == nil || !ga4.IsValidationError(err) {
			t.Errorf("%s: sent (err %v)", name, err)
			continue
		}
		if res.Status != 0 || len(res.Problems) == 0 {
			t.Errorf("%s: result %+v", name, res)
		}
	}
	if n := fx.fake.count(); n != 0 {
		t.Fatalf("%d invalid requests reached GA4", n)
	}
}

func TestDebugMode(t *testing.T) {
	fx := setup(t, func(c *ga4.Config) { c.Debug = true })
	// The validation server finds what local checks cannot know about.
	fx.fake.flag = func(name string, params map[string]any) []map[string]string {
		if params["form_type"] == "quiz" {
			return []map[string]string{{"fieldPath": "events.params.form_type", "validationCode": "VALUE_INVALID",
				"description": "Value quiz is not allowed for form_type."}}
		}
		return nil
	}
	fx.env.Start(fx.proc)
	now := time.Now().UTC()
	fx.publish(streams.SubjectLeadCreated, "lead:dbg", lead(now))
	fx.env.WaitOutcome(ga4.Name, "lead:dbg", processors.StatusOK)
	quiz := lead(now)
	quiz.FormType = "quiz"
	fx.publish(streams.SubjectLeadCreated, "lead:quiz", quiz)
	o := fx.env.WaitOutcome(ga4.Name, "lead:quiz", processors.StatusDead)
	if !strings.Contains(o.Error, "rejected by GA4's validation server") || !strings.Contains(o.Error, "VALUE_INVALID") {
		t.Errorf("outcome error %q", o.Error)
	}
	for _, r := range fx.fake.requests() {
		if r.Path != "/debug/mp/collect" {
			t.Errorf("debug mode posted to %s", r.Path)
		}
	}
	type row struct {
		Status     string
		Debug      bool
		Validation map[string]any
	}
	get := func(id string) row {
		var r row
		var v []byte
		if err := fx.env.DB.QueryRow(context.Background(), `SELECT status, debug, validation FROM ga4_events WHERE event_id=$1`, id).
			Scan(&r.Status, &r.Debug, &v); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(v, &r.Validation)
		return r
	}
	ok := get("lead:dbg")
	if ok.Status != ga4.StatusValidated || !ok.Debug || fmt.Sprint(ok.Validation["validationMessages"]) != "[]" {
		t.Errorf("valid debug row %+v", ok)
	}
	inv := get("lead:quiz")
	msgs, _ := inv.Validation["validationMessages"].([]any)
	if inv.Status != ga4.StatusInvalid || len(msgs) != 1 || !strings.Contains(fmt.Sprint(msgs[0]), "events.params.form_type") {
		t.Errorf("invalid debug row %+v", inv)
	}
}

func TestNotConfigured(t *testing.T) {
	fx := setup(t, func(c *ga4.Config) { c.MeasurementID, c.APISecret = "", "" })
	fx.env.Start(fx.proc)
	fx.publish(streams.SubjectLeadCreated, "lead:nc", lead(time.Now()))
	o := fx.env.WaitOutcome(ga4.Name, "lead:nc")
	if o.Status != processors.StatusSkipped || fx.fake.count() != 0 {
		t.Errorf("outcome %+v, %d requests", o, fx.fake.count())
	}
}

func TestConfigValidate(t *testing.T) {
	c := ga4.DefaultConfig()
	if err := c.Validate(); err != nil || c.Configured() {
		t.Fatalf("defaults: %v, configured %v", err, c.Configured())
	}
	c.MeasurementID = "G-1"
	if err := c.Validate(); err == nil {
		t.Error("measurement id without secret accepted")
	}
	c.APISecret, c.Endpoint = "x", "ftp://x"
	if err := c.Validate(); err == nil {
		t.Error("bad endpoint accepted")
	}
}

// The server answering 5xx is retried; the event is sent once it recovers.
func TestServerErrorRetried(t *testing.T) {
	fx := setup(t, nil)
	fails := 2
	inner := fx.fake.srv.Config.Handler
	fx.fake.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fx.fake.mu.Lock()
		f := fails > 0
		fails--
		fx.fake.mu.Unlock()
		if f {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, r)
	})
	fx.proc.BackoffInitial, fx.proc.BackoffMax = 50*time.Millisecond, 100*time.Millisecond
	fx.env.Start(fx.proc)
	fx.publish(streams.SubjectLeadCreated, "lead:retry", lead(time.Now()))
	o := fx.env.WaitOutcome(ga4.Name, "lead:retry", processors.StatusOK)
	if o.Attempts != 3 || fx.fake.count() != 1 {
		t.Errorf("outcome %+v, %d requests", o, fx.fake.count())
	}
}

// GA4's error answers never carry the API secret or personal data into
// errors, even from a server that echoes the request.
func TestErrorsAreRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad request %s from jo@example.com +1 626 663 3444", r.URL.String())
	}))
	defer srv.Close()
	cfg := ga4.DefaultConfig()
	cfg.MeasurementID, cfg.APISecret, cfg.Endpoint = "G-1", "sec/ret+Zq81", srv.URL
	_, err := ga4.NewSender(cfg).Send(context.Background(), validPayload())
	if err == nil {
		t.Fatal("no error")
	}
	for _, leak := range []string{"Zq81", "jo@example.com", "663 3444"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error carries %q: %s", leak, err)
		}
	}
	if !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "[secret]") {
		t.Errorf("error %q", err)
	}
}
