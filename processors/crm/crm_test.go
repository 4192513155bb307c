package crm_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/processors/crm"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/processors/outbound"
	"github.com/hookstream/hookstream/processors/payments"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func testConfig(endpoint string) crm.Config {
	c := crm.DefaultConfig()
	c.Endpoint, c.APIKey = endpoint, "crm_test_key"
	c.Timeout = 2 * time.Second
	c.BackoffInitial, c.BackoffMax = 50*time.Millisecond, 200*time.Millisecond
	c.LeadWaitDelay = 100 * time.Millisecond
	return c
}

func startCRM(e *pipelinetest.Env, cfg crm.Config) *crm.CRM {
	e.T.Helper()
	c, err := crm.New(e.Deps(), cfg)
	if err != nil {
		e.T.Fatal(err)
	}
	e.Start(c.Processors()...)
	return c
}

func consent(b bool) *bool { return &b }

func leadEvent(n int) events.Lead {
	return events.Lead{
		Origin: events.Origin{SourceEventID: fmt.Sprintf("form:src-%d", n), Source: "form", FormType: "contact",
			ReceivedAt: time.Date(2025, 11, 22, 8, 26, 40, 0, time.UTC)},
		LeadID: fmt.Sprintf("ld_%d", n), ExternalLeadID: fmt.Sprintf("lead_ext_%d", n), SubmissionID: fmt.Sprintf("sub_%d", n),
		Contact: events.Contact{ID: fmt.Sprintf("ct_%d", n), WorkspaceID: "default", Email: fmt.Sprintf("p%d@example.com", n),
			Phone: "+16266633444", FirstName: "Benjie", LastName: "Malinao", Company: "Malinao Homes"},
		IsNewContact: true, MatchType: "new", ServiceInterest: "Bath Remodel", Message: "quote please",
		MarketingConsent: consent(true), UTM: map[string]string{"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"},
		PageURL: "https://example.com/services/bath-remodel", CreatedAt: time.Date(2025, 11, 22, 8, 26, 41, 0, time.UTC),
	}
}

// publishEvent publishes a domain event to EVENTS as a processor would.
func publishEvent(e *pipelinetest.Env, subject, msgID, causation string, body any) {
	e.T.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.T.Fatal(err)
	}
	m := nats.NewMsg(subject)
	m.Data = b
	m.Header.Set(streams.HdrMsgID, msgID)
	m.Header.Set(streams.HdrCausationID, causation)
	m.Header.Set(streams.HdrWorkspaceID, "default")
	e.Publish(m)
}

func publishLead(e *pipelinetest.Env, n int) string {
	ev := leadEvent(n)
	publishEvent(e, streams.SubjectLeadCreated, "lead:"+ev.SourceEventID, ev.SourceEventID, ev)
	return "lead:" + ev.SourceEventID
}

type syncRow struct {
	Status, RemoteID, LastError string
	Attempts                    int
	LastStatus                  int
	Synced                      bool
}

func syncOf(e *pipelinetest.Env, kind, src string) (syncRow, error) {
	var r syncRow
	err := e.DB.QueryRow(e.Ctx(5*time.Second), `SELECT status, COALESCE(remote_id,''), COALESCE(last_error,''), attempts,
		COALESCE(last_status,0), synced_at IS NOT NULL FROM crm_sync WHERE kind=$1 AND source_event_id=$2`, kind, src).
		Scan(&r.Status, &r.RemoteID, &r.LastError, &r.Attempts, &r.LastStatus, &r.Synced)
	return r, err
}

func TestLeadPostedOnce(t *testing.T) {
	f, srv := newFakeCRM(t)
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	startCRM(e, testConfig(srv.URL+"/api/"))
	id := publishLead(e, 1)
	o := e.WaitOutcome(crm.Name, id)
	if o.Status != processors.StatusOK {
		t.Fatalf("outcome %+v", o)
	}
	reqs, created := f.snapshot()
	if len(reqs) != 1 || created["lead"] != 1 || reqs[0].Key != "form:src-1" || reqs[0].Status != 201 {
		t.Fatalf("requests %+v", reqs)
	}
	b := reqs[0].Body
	c := b["contact"].(map[string]any)
	a := b["attribution"].(map[string]any)
	md := b["metadata"].(map[string]any)
	if b["lead_id"] != "ld_1" || b["submission_id"] != "sub_1" || b["external_lead_id"] != "lead_ext_1" ||
		c["email"] != "p1@example.com" || c["name"] != "Benjie Malinao" || c["phone"] != "+16266633444" ||
		c["company"] != "Malinao Homes" || b["lead_source"] != "website" || b["form_type"] != "contact" ||
		b["service_interest"] != "Bath Remodel" || b["message"] != "quote please" || b["marketing_consent"] != true ||
		a["utm_source"] != "google" || a["utm_campaign"] != "spring" || a["utm_term"] != nil ||
		a["page_url"] != "https://example.com/services/bath-remodel" || a["referrer"] != nil ||
		md["source_event_id"] != "form:src-1" || md["submitted_at"] != "2025-11-22T08:26:40Z" {
		t.Fatalf("lead body %v", b)
	}
	r, err := syncOf(e, crm.KindLead, "form:src-1")
	if err != nil || r != (syncRow{Status: "synced", RemoteID: "crm_lead_1", Attempts: 1, LastStatus: 201, Synced: true}) {
		t.Fatalf("crm_sync %+v %v", r, err)
	}
	// The same lead again under another message id (a replay or a
	// rebuild of EVENTS): crm_sync says synced, nothing is sent.
	ev := leadEvent(1)
	ev.LeadID = "ld_1_rebuilt"
	publishEvent(e, streams.SubjectLeadCreated, "lead:rebuilt", "form:src-1", ev)
	if o := e.WaitOutcome(crm.Name, "lead:rebuilt"); o.Status != processors.StatusSkipped || !strings.Contains(string(o.Detail), "already synced") {
		t.Fatalf("replay outcome %+v %s", o, o.Detail)
	}
	if reqs, _ := f.snapshot(); len(reqs) != 1 {
		t.Fatalf("replay sent again: %+v", reqs)
	}
}

func TestRetriesThenSucceeds(t *testing.T) {
	f, srv := newFakeCRM(t)
	f.answer = func(n int, r *http.Request) (int, string) {
		if n <= 2 {
			return 500, `{"error":"database is on fire"}`
		}
		return 0, ""
	}
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	startCRM(e, testConfig(srv.URL+"/api"))
	id := publishLead(e, 1)
	e.WaitOutcome(crm.Name, id, processors.StatusOK)
	reqs, created := f.snapshot()
	if len(reqs) != 3 || created["lead"] != 1 {
		t.Fatalf("requests %+v created %v", reqs, created)
	}
	for _, r := range reqs {
		if r.Key != "form:src-1" {
			t.Fatalf("Idempotency-Key changed between attempts: %+v", reqs)
		}
	}
	r, _ := syncOf(e, crm.KindLead, "form:src-1")
	if r.Status != "synced" || r.Attempts != 3 || r.RemoteID != "crm_lead_1" || r.LastError != "" {
		t.Fatalf("crm_sync %+v", r)
	}
	os := e.Outcomes(crm.Name, id)
	if len(os) != 3 || os[0].Status != processors.StatusRetry || !strings.Contains(os[0].Error, "database is on fire") {
		t.Fatalf("outcomes %+v", os)
	}
}

func TestBadRequestDeadLettered(t *testing.T) {
	f, srv := newFakeCRM(t)
	f.answer = func(int, *http.Request) (int, string) {
		return 400, `{"error":"validation_failed","fields":{"contact.phone":["is not a valid number"]}}`
	}
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	startCRM(e, testConfig(srv.URL+"/api"))
	id := publishLead(e, 1)
	o := e.WaitOutcome(crm.Name, id, processors.StatusDead)
	if !strings.Contains(o.Error, "400") || !strings.Contains(o.Error, "is not a valid number") {
		t.Fatalf("outcome error %q", o.Error)
	}
	var dlq []pipelinetest.Msg
	e.Eventually(5*time.Second, func() error {
		if dlq = e.Messages(streams.StreamDLQ, "dlq.crm"); len(dlq) != 1 {
			return fmt.Errorf("%d dead letters", len(dlq))
		}
		return nil
	})
	if all := fmt.Sprint(dlq[0].Header) + string(dlq[0].Data); !strings.Contains(all, "is not a valid number") {
		t.Fatalf("dead letter lacks the response body: %v %s", dlq[0].Header, dlq[0].Data)
	}
	if reqs, _ := f.snapshot(); len(reqs) != 1 {
		t.Fatalf("a 400 was retried: %+v", reqs)
	}
	r, _ := syncOf(e, crm.KindLead, "form:src-1")
	if r.Status != "failed" || r.Attempts != 1 || r.LastStatus != 400 || !strings.Contains(r.LastError, "validation_failed") {
		t.Fatalf("crm_sync %+v", r)
	}
}

// A CRM answering 503 for a while: the breaker opens after 3 failures, calls
// fail fast (not reaching the CRM) while messages wait in the stream, a
// probe after the cooldown finds it back, and every lead arrives exactly once.
func TestCircuitBreaker(t *testing.T) {
	f, srv := newFakeCRM(t)
	var down atomic.Bool
	down.Store(true)
	f.answer = func(int, *http.Request) (int, string) {
		if down.Load() {
			return 503, `{"error":"maintenance"}`
		}
		return 0, ""
	}
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	cfg := testConfig(srv.URL + "/api")
	cfg.Breaker = outbound.NewBreaker(3, 300*time.Millisecond, nil)
	cfg.MaxDeliver = 100
	c := startCRM(e, cfg)
	const n = 10
	ids := make([]string, n)
	for i := range n {
		ids[i] = publishLead(e, i)
	}
	// A while of outage with the circuit cycling: opened, probed, failed
	// and opened again twice.
	e.Eventually(10*time.Second, func() error {
		if n := c.Breaker().Opened(); n < 3 {
			return fmt.Errorf("breaker %s, opened %d times, want 3", c.Breaker().State(), n)
		}
		return nil
	})
	down.Store(false)
	for _, id := range ids {
		e.WaitOutcome(crm.Name, id, processors.StatusOK)
	}
	e.WaitIdle(10*time.Second, streams.StreamEvents, crm.Name)
	reqs, created := f.snapshot()
	if created["lead"] != n {
		t.Fatalf("%d leads created, want %d", created["lead"], n)
	}
	ok := map[string]int{}
	failed := 0
	for _, r := range reqs {
		if r.Status < 300 {
			ok[r.Key]++
		} else {
			failed++
		}
	}
	for i := range n {
		if k := fmt.Sprintf("form:src-%d", i); ok[k] != 1 {
			t.Errorf("%s answered 2xx %d times", k, ok[k])
		}
	}
	fastFails := e.Count(`SELECT count(*) FROM event_outcomes WHERE processor='crm' AND status='retry' AND error LIKE '%circuit open%'`)
	if fastFails == 0 {
		t.Fatal("no call failed fast on the open circuit")
	}
	// The CRM saw only the failures that opened the circuit (3 in a row,
	// or a failed probe) and the calls already in flight then.
	t.Logf("%d calls reached the CRM (%d failed), %d failed fast, breaker opened %d times",
		len(reqs), failed, fastFails, c.Breaker().Opened())
	if opened := int(c.Breaker().Opened()); failed > opened*(3+cfg.Concurrency) {
		t.Fatalf("%d failed calls reached the CRM over %d openings", failed, opened)
	}
	if st := c.Breaker().State(); st != outbound.StateClosed {
		t.Fatalf("breaker %s after recovery", st)
	}
	if attempts := e.Count(`SELECT sum(attempts) FROM crm_sync`); attempts != len(reqs) {
		t.Fatalf("crm_sync counts %d attempts, the CRM saw %d calls", attempts, len(reqs))
	}
}

func paymentEvent(leadID string) events.Payment {
	return events.Payment{
		Origin:        events.Origin{SourceEventID: "stripe:evt_1", Source: "stripe"},
		StripeRef:     events.StripeRef{StripeEventID: "evt_1", StripeEventType: "payment_intent.succeeded", StripeCreated: time.Unix(1763800000, 0).UTC()},
		Link:          events.Link{WorkspaceID: "default", LeadID: leadID, ContactID: "ct_1", Email: "p1@example.com"},
		TransactionID: "pi_1", AmountMinor: 149900, Amount: "1499.00", Currency: "USD", Status: "succeeded",
		ServiceType: "Bath Remodel", PaymentMethodType: "card", UTM: events.UTM{Source: "google", Campaign: "spring"},
	}
}

func TestPurchaseAndSkips(t *testing.T) {
	f, srv := newFakeCRM(t)
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	startCRM(e, testConfig(srv.URL+"/api"))
	// The lead exists (the payments processor linked the payment to it) but
	// its event has not reached the CRM yet: the purchase waits for it.
	now := time.Now()
	if _, err := e.DB.Exec(e.Ctx(5*time.Second), `INSERT INTO contacts (id, workspace_id, email, source_time, created_event_id,
		created_at, updated_at) VALUES ('ct_1','default','p1@example.com',$1,'seed',$1,$1)`, now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.Exec(e.Ctx(5*time.Second), `INSERT INTO leads (id, event_id, contact_id, workspace_id, source, match_type,
		is_new_contact, created_at) VALUES ('ld_1','form:src-1','ct_1','default','form','new',true,$1)`, now); err != nil {
		t.Fatal(err)
	}
	publishEvent(e, streams.SubjectPaymentSucceeded, "payment:stripe:evt_1", "stripe:evt_1", paymentEvent("ld_1"))
	e.Eventually(5*time.Second, func() error {
		if os := e.Outcomes(crm.Name, "payment:stripe:evt_1"); len(os) == 0 {
			return fmt.Errorf("not tried yet")
		}
		return nil
	})
	publishLead(e, 1)
	o := e.WaitOutcome(crm.Name, "payment:stripe:evt_1", processors.StatusOK)
	if first := e.Outcomes(crm.Name, "payment:stripe:evt_1")[0]; first.Status != processors.StatusRetry ||
		!strings.Contains(first.Error, "not sent to the CRM yet") {
		t.Fatalf("the purchase did not wait for its lead: %+v", first)
	}
	reqs, created := f.snapshot()
	if created["lead"] != 1 || created["purchase"] != 1 {
		t.Fatalf("created %v (%+v)", created, reqs)
	}
	p := f.purchases["ld_1"]
	tx := p["transaction"].(map[string]any)
	attr := p["attribution"].(map[string]any)
	if tx["id"] != "pi_1" || tx["value"] != 1499.0 || tx["currency"] != "USD" || tx["service_type"] != "Bath Remodel" ||
		tx["payment_method"] != "card" || tx["purchased_at"] != "2025-11-22T08:26:40Z" || attr["utm_source"] != "google" {
		t.Fatalf("purchase body %v", p)
	}
	last := reqs[len(reqs)-1]
	if last.Path != "/api/leads/ld_1/purchase" || last.Key != "stripe:evt_1" {
		t.Fatalf("purchase request %+v", last)
	}
	if r, _ := syncOf(e, crm.KindPurchase, "stripe:evt_1"); r.Status != "synced" || r.RemoteID != "crm_purchase_1" {
		t.Fatalf("crm_sync %+v (outcome %+v)", r, o)
	}
	// A payment without a lead: skipped with the reason.
	noLead := paymentEvent("")
	noLead.SourceEventID, noLead.LeadRef = "stripe:evt_2", "lead_unknown"
	publishEvent(e, streams.SubjectPaymentSucceeded, "payment:stripe:evt_2", "stripe:evt_2", noLead)
	o = e.WaitOutcome(crm.Name, "payment:stripe:evt_2")
	if o.Status != processors.StatusSkipped || !strings.Contains(string(o.Detail), "lead_unknown") {
		t.Fatalf("outcome %+v %s", o, o.Detail)
	}
	if reqs2, _ := f.snapshot(); len(reqs2) != len(reqs) {
		t.Fatal("a payment without a lead was sent")
	}
}

func TestNotConfiguredSkips(t *testing.T) {
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	cfg := testConfig("")
	startCRM(e, cfg)
	id := publishLead(e, 1)
	o := e.WaitOutcome(crm.Name, id)
	if o.Status != processors.StatusSkipped || !strings.Contains(string(o.Detail), "not configured") {
		t.Fatalf("outcome %+v %s", o, o.Detail)
	}
	if n := e.Count(`SELECT count(*) FROM crm_sync`); n != 0 {
		t.Fatalf("%d crm_sync rows", n)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, ep := range []string{"ftp://crm", "https://", "https://crm.example.com/api?x=1", "::"} {
		c := crm.DefaultConfig()
		c.Endpoint = ep
		if c.Validate() == nil {
			t.Errorf("%q accepted", ep)
		}
	}
	c := crm.DefaultConfig()
	if c.Validate() != nil || c.Configured() {
		t.Fatal("default config")
	}
	c.Endpoint = "https://crm.example.com/api"
	if c.Validate() != nil || c.Configured() {
		t.Fatal("endpoint without key")
	}
	c.APIKey = "k"
	if !c.Configured() {
		t.Fatal("not configured")
	}
}

// The original system's two flows end to end through the gateway: a
// website contact form becomes a contact, a lead and one CRM lead; the
// customer's Stripe payment (metadata.lead_id = the form's lead_id),
// delivered three times — the last after the INGEST dedup window (1 s here,
// 10 min by default) — becomes one payments row and one CRM purchase.
func TestFormLeadThenStripePurchase(t *testing.T) {
	f, srv := newFakeCRM(t)
	st := streams.DefaultConfig()
	st.Duplicates = time.Second
	e := pipelinetest.New(t, pipelinetest.Options{Streams: &st, NoWait: true})
	ccfg := contacts.DefaultConfig()
	cp, err := contacts.New(e.Deps(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	pcfg := payments.DefaultConfig()
	pp, err := payments.New(e.Deps(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := crm.New(e.Deps(), testConfig(srv.URL+"/api"))
	if err != nil {
		t.Fatal(err)
	}
	e.Start(append(append(cp.Processors(), pp.Processors()...), c.Processors()...)...)

	form, _ := os.ReadFile("testdata/contact-form.json")
	if res := e.Post("/forms/contact", "application/json", form, nil); res.Status != 200 && res.Status != 202 {
		t.Fatalf("form: %d %s", res.Status, res.Body)
	}
	e.Eventually(15*time.Second, func() error {
		if _, created := f.snapshot(); created["lead"] != 1 {
			return fmt.Errorf("no CRM lead yet")
		}
		return nil
	})
	body, _ := os.ReadFile("testdata/payment_intent.succeeded.json")
	post := func() map[string]any {
		sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: pipelinetest.StripeSecret})
		res := e.Post("/webhooks/stripe", "application/json", body, http.Header{"Stripe-Signature": {sp.Header}})
		if res.Status != 200 {
			t.Fatalf("stripe: %d %s", res.Status, res.Body)
		}
		return res.Map(t)
	}
	post()
	post()
	e.Eventually(15*time.Second, func() error {
		if _, created := f.snapshot(); created["purchase"] != 1 {
			return fmt.Errorf("no CRM purchase yet")
		}
		return nil
	})
	e.RedeliverStripe(body) // a third delivery, after the dedup window
	e.WaitOutcome(payments.Name, "stripe:evt_3SHk2aB7WZ01zgkW0succ001", processors.StatusDuplicate)
	e.WaitIdle(10*time.Second, streams.StreamEvents, crm.Name)

	reqs, created := f.snapshot()
	if created["lead"] != 1 || created["purchase"] != 1 || len(reqs) != 2 {
		t.Fatalf("CRM saw %+v", reqs)
	}
	lead := reqs[0].Body
	var leadID string
	if err := e.DB.QueryRow(e.Ctx(5*time.Second), `SELECT id FROM leads WHERE external_lead_id='lead_7f3a9c'`).Scan(&leadID); err != nil {
		t.Fatal(err)
	}
	if lead["lead_id"] != leadID || lead["external_lead_id"] != "lead_7f3a9c" ||
		lead["contact"].(map[string]any)["email"] != "benjie@example.com" || lead["marketing_consent"] != true {
		t.Fatalf("CRM lead %v", lead)
	}
	if reqs[1].Path != "/api/leads/"+leadID+"/purchase" || reqs[1].Key != "stripe:evt_3SHk2aB7WZ01zgkW0succ001" {
		t.Fatalf("CRM purchase %+v", reqs[1])
	}
	if n := e.Count(`SELECT count(*) FROM payments WHERE lead_id=$1`, leadID); n != 1 {
		t.Fatalf("%d payments", n)
	}
}
