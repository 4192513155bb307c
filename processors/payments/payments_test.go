package payments_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/processors/payments"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fixture loads a Stripe event from testdata as a mutable map.
func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// event derives a Stripe event from a fixture: new id and created, object
// edited by mut.
func event(t *testing.T, name, id string, created int64, mut func(ev, obj map[string]any)) []byte {
	t.Helper()
	ev := fixture(t, name)
	if id != "" {
		ev["id"] = id
	}
	if created != 0 {
		ev["created"] = created
	}
	if mut != nil {
		mut(ev, ev["data"].(map[string]any)["object"].(map[string]any))
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postStripe signs body like Stripe does and posts it to the gateway.
func postStripe(e *pipelinetest.Env, body []byte) *pipelinetest.Response {
	e.T.Helper()
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: pipelinetest.StripeSecret})
	res := e.Post("/webhooks/stripe", "application/json", body, http.Header{"Stripe-Signature": {sp.Header}})
	if res.Status != 200 {
		e.T.Fatalf("stripe webhook answered %d: %s", res.Status, res.Body)
	}
	return res
}

// publishStripe publishes a Stripe event straight to INGEST as the gateway
// would (msgID "" → "stripe:<id>").
func publishStripe(e *pipelinetest.Env, body []byte, msgID string) {
	e.T.Helper()
	var ev struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		APIVersion string `json:"api_version"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		e.T.Fatal(err)
	}
	if msgID == "" {
		msgID = "stripe:" + ev.ID
	}
	e.PublishRaw(pipelinetest.Raw{Subject: streams.IngestSubject(streams.SubjectIngestStripe, ev.Type), MsgID: msgID,
		Source: streams.SourceStripe, Body: body,
		Header: map[string]string{streams.HdrStripeAPIVersion: ev.APIVersion, streams.HdrEventType: ev.Type}})
}

// seedLead stores a contact and its lead (as the contacts processor would).
func seedLead(e *pipelinetest.Env, ws, contactID, email, leadID, externalID string) {
	e.T.Helper()
	ctx := e.Ctx(5 * time.Second)
	now := time.Now()
	if _, err := e.DB.Exec(ctx, `INSERT INTO contacts (id, workspace_id, email, source_time, created_event_id, created_at, updated_at)
		VALUES ($1,$2,$3,$4,$5,$4,$4)`, contactID, ws, email, now, "seed:"+contactID); err != nil {
		e.T.Fatal(err)
	}
	if leadID == "" {
		return
	}
	if _, err := e.DB.Exec(ctx, `INSERT INTO leads (id, event_id, contact_id, workspace_id, source, match_type,
		is_new_contact, external_lead_id, created_at) VALUES ($1,$2,$3,$4,'form','new',true,$5,$6)`,
		leadID, "seed:"+leadID, contactID, ws, externalID, now); err != nil {
		e.T.Fatal(err)
	}
}

func start(e *pipelinetest.Env, edit func(*payments.Config)) {
	e.T.Helper()
	cfg := payments.DefaultConfig()
	cfg.LeadWaitAttempts = 1
	if edit != nil {
		edit(&cfg)
	}
	pp, err := payments.New(e.Deps(), cfg)
	if err != nil {
		e.T.Fatal(err)
	}
	p := pp.Processors()[0]
	p.BackoffInitial, p.BackoffMax = 50*time.Millisecond, 200*time.Millisecond
	e.Start(p)
}

type paymentRow struct {
	Status, StripeStatus, Currency, Amount                 string
	AmountMinor                                            int64
	LeadID, LeadRef, ContactID, Email, ServiceType, PMType string
	UTMSource, UTMMedium, UTMCampaign, EventID, APIVersion string
	FailureCode                                            string
	Livemode                                               bool
	Created                                                time.Time
}

func payment(e *pipelinetest.Env, id string) (paymentRow, error) {
	var r paymentRow
	err := e.DB.QueryRow(e.Ctx(5*time.Second), `SELECT status, COALESCE(stripe_status,''), currency, amount::text, amount_minor,
		COALESCE(lead_id,''), COALESCE(lead_ref,''), COALESCE(contact_id,''), COALESCE(email,''), COALESCE(service_type,''),
		COALESCE(payment_method_type,''), COALESCE(utm_source,''), COALESCE(utm_medium,''), COALESCE(utm_campaign,''),
		stripe_event_id, COALESCE(api_version,''), COALESCE(failure_code,''), livemode, stripe_created
		FROM payments WHERE transaction_id=$1`, id).Scan(&r.Status, &r.StripeStatus, &r.Currency, &r.Amount, &r.AmountMinor,
		&r.LeadID, &r.LeadRef, &r.ContactID, &r.Email, &r.ServiceType, &r.PMType, &r.UTMSource, &r.UTMMedium,
		&r.UTMCampaign, &r.EventID, &r.APIVersion, &r.FailureCode, &r.Livemode, &r.Created)
	return r, err
}

func emitted[T any](e *pipelinetest.Env, subject string) []T {
	e.T.Helper()
	var out []T
	for _, m := range e.Messages(streams.StreamEvents, subject) {
		var v T
		if err := m.JSON(&v); err != nil {
			e.T.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

const piID = "pi_1PgafyB7WZ01zgkWSjxsAJo3"

// The fixture delivered three times through the gateway: twice within the
// INGEST dedup window (the second is absorbed by JetStream: duplicate:true,
// one stream message) and once after it (a real second stream message with
// the same Nats-Msg-Id, as when Stripe retries hours later — simulated with
// a 1 s window instead of 10 min). Then once more by hand under another
// message id. One payments row, one events.payment.succeeded.
func TestPaymentSucceededOnce(t *testing.T) {
	st := streams.DefaultConfig()
	st.Duplicates = time.Second
	e := pipelinetest.New(t, pipelinetest.Options{Streams: &st, NoWait: true})
	seedLead(e, pipelinetest.Workspace, "ct_1", "benjie@example.com", "ld_1", "lead_7f3a9c")
	start(e, nil)
	body, err := os.ReadFile("testdata/payment_intent.succeeded.json")
	if err != nil {
		t.Fatal(err)
	}
	const evID = "evt_3SHk2aB7WZ01zgkW0succ001"
	r1 := postStripe(e, body).Map(t)
	r2 := postStripe(e, body).Map(t)
	if r1["duplicate"] != false || r2["duplicate"] != true || r1["event_id"] != "stripe:"+evID {
		t.Fatalf("gateway answers %v, %v", r1, r2)
	}
	e.WaitOutcome(payments.Name, "stripe:"+evID, processors.StatusOK)
	e.RedeliverStripe(body) // past the dedup window
	if n := len(e.MessagesWithID(streams.StreamIngest, "ingest.stripe.>", "stripe:"+evID)); n != 2 {
		t.Fatalf("%d INGEST messages, want 2 (the third delivery is a new stream message)", n)
	}
	e.WaitOutcome(payments.Name, "stripe:"+evID, processors.StatusDuplicate)
	// The same Stripe event published without its dedup id (a hand replay).
	publishStripe(e, body, "replay-1")
	e.WaitOutcome(payments.Name, "replay-1", processors.StatusDuplicate)
	e.WaitIdle(10*time.Second, streams.StreamIngest, payments.Name)

	if n := e.Count(`SELECT count(*) FROM payments`); n != 1 {
		t.Fatalf("%d payments rows", n)
	}
	r, err := payment(e, piID)
	if err != nil {
		t.Fatal(err)
	}
	want := paymentRow{Status: "succeeded", StripeStatus: "succeeded", Currency: "USD", Amount: "1499.00", AmountMinor: 149900,
		LeadID: "ld_1", LeadRef: "lead_7f3a9c", ContactID: "ct_1", Email: "benjie@example.com", ServiceType: "Bath Remodel",
		PMType: "card", UTMSource: "google", UTMMedium: "cpc", UTMCampaign: "spring_remodel", EventID: evID,
		APIVersion: "2023-10-16", Created: time.Unix(1763800000, 0).UTC()}
	r.Created = r.Created.UTC()
	if r != want {
		t.Fatalf("payments row\n got %+v\nwant %+v", r, want)
	}
	msgs := e.Messages(streams.StreamEvents, "events.>")
	if len(msgs) != 1 || msgs[0].Subject != streams.SubjectPaymentSucceeded || msgs[0].MsgID() != "payment:stripe:"+evID {
		t.Fatalf("EVENTS: %+v", msgs)
	}
	var p events.Payment
	if err := msgs[0].JSON(&p); err != nil {
		t.Fatal(err)
	}
	if p.TransactionID != piID || p.AmountMinor != 149900 || p.Amount != "1499.00" || p.Currency != "USD" ||
		p.Status != "succeeded" || p.ContactID != "ct_1" || p.LeadID != "ld_1" || p.Email != "benjie@example.com" ||
		p.ServiceType != "Bath Remodel" || p.UTM.Source != "google" || p.UTM.Campaign != "spring_remodel" ||
		p.Livemode || p.StripeEventID != evID || p.SourceEventID != "stripe:"+evID || p.Superseded ||
		!p.StripeCreated.Equal(time.Unix(1763800000, 0)) || p.PaymentMethodType != "card" || p.WorkspaceID != "default" {
		t.Fatalf("event body %+v", p)
	}
	if !strings.Contains(string(msgs[0].Data), `"amount":1499.00`) {
		t.Fatalf("amount is not a JSON number: %s", msgs[0].Data)
	}
	if n := e.Count(`SELECT count(*) FROM stripe_events WHERE handled`); n != 1 {
		t.Fatalf("%d stripe_events", n)
	}
}

// Stripe does not promise order: a failed attempt created later than the
// success, delivered first, stays the payment's state; the late success is
// still emitted (it happened), marked superseded. Link fields present only
// on the older event fill the row anyway. Reversed order, same result.
func TestOutOfOrderLatestWins(t *testing.T) {
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	seedLead(e, pipelinetest.Workspace, "ct_1", "benjie@example.com", "ld_1", "lead_7f3a9c")
	start(e, nil)
	for i, order := range [][]string{{"failed", "succeeded"}, {"succeeded", "failed"}} {
		pi := fmt.Sprintf("pi_order_%d", i)
		bodies := map[string][]byte{
			"failed": event(t, "payment_intent.payment_failed", fmt.Sprintf("evt_fail_%d", i), 1763800100, func(_, o map[string]any) {
				o["id"] = pi
				o["metadata"] = map[string]any{}
			}),
			"succeeded": event(t, "payment_intent.succeeded", fmt.Sprintf("evt_succ_%d", i), 1763800000, func(_, o map[string]any) {
				o["id"] = pi
			}),
		}
		for _, k := range order {
			publishStripe(e, bodies[k], "")
			e.WaitOutcome(payments.Name, fmt.Sprintf("stripe:evt_%s_%d", k[:4], i), processors.StatusOK)
		}
		r, err := payment(e, pi)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "failed" || r.EventID != fmt.Sprintf("evt_fail_%d", i) || r.AmountMinor != 1099 ||
			r.FailureCode != "card_declined" || r.LeadID != "ld_1" || r.UTMSource != "google" || r.Email != "benjie@example.com" {
			t.Fatalf("order %v: row %+v", order, r)
		}
	}
	succ := emitted[events.Payment](e, streams.SubjectPaymentSucceeded)
	fail := emitted[events.Payment](e, streams.SubjectPaymentFailed)
	if len(succ) != 2 || len(fail) != 2 {
		t.Fatalf("%d succeeded, %d failed events", len(succ), len(fail))
	}
	if !succ[0].Superseded || succ[1].Superseded {
		t.Fatalf("late success not marked superseded (or the early one marked): %+v", succ)
	}
	if f := fail[0]; f.ErrorCode != "card_declined" || f.DeclineCode != "insufficient_funds" || f.Superseded ||
		f.ErrorMessage != "Your card has insufficient funds." || f.LeadID != "" {
		t.Fatalf("failed event (delivered first, no metadata) %+v", f)
	}
	if f := fail[1]; f.Superseded || f.LeadID != "ld_1" {
		t.Fatalf("failed event delivered second (row already linked) %+v", f)
	}
	// Same created: a success outranks a failure, in either order.
	for i, order := range [][]string{{"failed", "succeeded"}, {"succeeded", "failed"}} {
		pi := fmt.Sprintf("pi_tie_%d", i)
		for _, k := range order {
			name := map[string]string{"failed": "payment_intent.payment_failed", "succeeded": "payment_intent.succeeded"}[k]
			id := fmt.Sprintf("evt_tie_%s_%d", k, i)
			publishStripe(e, event(t, name, id, 1763800000, func(_, o map[string]any) { o["id"] = pi }), "")
			e.WaitOutcome(payments.Name, "stripe:"+id, processors.StatusOK)
		}
		if r, _ := payment(e, pi); r.Status != "succeeded" {
			t.Fatalf("tie %v: %+v", order, r)
		}
	}
}

// Another API version (and a field of another shape) is accepted, recorded
// and projected.
func TestOtherAPIVersionAccepted(t *testing.T) {
	e := pipelinetest.New(t, pipelinetest.Options{NoWait: true})
	start(e, nil)
	body := event(t, "payment_intent.succeeded", "evt_newer_api", 0, func(ev, o map[string]any) {
		ev["api_version"] = "2025-03-31.basil"
		o["id"] = "pi_newer"
		o["amount_details"] = "a string now"
		o["brand_new_field"] = map[string]any{"x": 1}
		o["customer"] = map[string]any{"id": "cus_9", "object": "customer", "email": 5, "name": "Kept"}
		o["metadata"] = map[string]any{"email": " Someone@Example.com "}
	})
	postStripe(e, body)
	o := e.WaitOutcome(payments.Name, "stripe:evt_newer_api", processors.StatusOK)
	r, err := payment(e, "pi_newer")
	if err != nil {
		t.Fatal(err)
	}
	if r.APIVersion != "2025-03-31.basil" || r.Status != "succeeded" || r.Email != "someone@example.com" || r.ContactID != "" {
		t.Fatalf("row %+v", r)
	}
	if !strings.Contains(string(o.Detail), "amount_details") || !strings.Contains(string(o.Detail), "customer.email") {
		t.Fatalf("detail does not note the skipped field: %s", o.Detail)
	}
}

func TestUnhandledAndInvalid(t *testing.T) {
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	start(e, nil)
	publishStripe(e, []byte(`{"id":"evt_cust","object":"event","type":"customer.created","created":1763800000,
		"api_version":"2023-10-16","data":{"object":{"id":"cus_1","object":"customer","email":"a@b.c"}}}`), "")
	o := e.WaitOutcome(payments.Name, "stripe:evt_cust")
	if o.Status != processors.StatusUnhandled || o.Attempts != 1 {
		t.Fatalf("outcome %+v", o)
	}
	if n := e.Count(`SELECT count(*) FROM stripe_events WHERE id='evt_cust' AND NOT handled AND type='customer.created' AND object_id='cus_1'`); n != 1 {
		t.Fatal("unhandled event not stored")
	}
	// Not JSON, no id, data.object not an object. (A field of another type
	// inside the object is skipped, not rejected: see TestOtherAPIVersionAccepted.)
	for i, b := range []string{`{"id":`, `{"type":"payment_intent.succeeded","data":{"object":{}}}`,
		`{"id":"evt_x","type":"payment_intent.succeeded","created":1,"data":{"object":"pi_x"}}`} {
		e.PublishRaw(pipelinetest.Raw{Subject: "ingest.stripe.payment_intent.succeeded", MsgID: fmt.Sprintf("bad-%d", i), Body: []byte(b)})
	}
	for i := range 3 {
		e.WaitOutcome(payments.Name, fmt.Sprintf("bad-%d", i), processors.StatusRejected)
	}
	e.WaitIdle(10*time.Second, streams.StreamIngest, payments.Name)
	if len(e.Messages(streams.StreamEvents, "events.>")) != 0 {
		t.Fatal("events emitted")
	}
	if n := len(e.Messages(streams.StreamDLQ, "dlq.payments")); n != 3 {
		t.Fatalf("%d dead letters", n)
	}
}

// A lead reference that names no lead yet is retried (the lead may be in
// flight), then applied linked by e-mail.
func TestLeadNotYetProjected(t *testing.T) {
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	seedLead(e, pipelinetest.Workspace, "ct_mail", "benjie@example.com", "", "")
	seedLead(e, "other", "ct_other", "x@example.com", "ld_other", "lead_elsewhere")
	start(e, func(c *payments.Config) { c.LeadWaitAttempts, c.LeadWaitDelay = 2, 100*time.Millisecond })
	publishStripe(e, event(t, "payment_intent.succeeded", "evt_late_lead", 0, func(_, o map[string]any) {
		o["metadata"].(map[string]any)["lead_id"] = "lead_elsewhere" // another workspace's lead
	}), "")
	o := e.WaitOutcome(payments.Name, "stripe:evt_late_lead", processors.StatusOK)
	if o.Attempts != 2 || !strings.Contains(string(o.Detail), "names no lead") {
		t.Fatalf("outcome %+v %s", o, o.Detail)
	}
	r, _ := payment(e, piID)
	if r.LeadID != "" || r.LeadRef != "lead_elsewhere" || r.ContactID != "ct_mail" {
		t.Fatalf("row %+v", r)
	}
	if first := e.Outcomes(payments.Name, "stripe:evt_late_lead")[0]; first.Status != processors.StatusRetry {
		t.Fatalf("first attempt %+v", first)
	}
}

// fakeStripe enforces the Stripe API contract for GET
// /v1/payment_methods/{id}: Bearer secret key, GET only, known ids.
type fakeStripe struct {
	t     *testing.T
	key   string
	types map[string]string
	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fail := func(status int, typ, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"type":%q,"message":%q}}`, typ, msg)
	}
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		f.t.Errorf("stripe: bad Authorization %q", r.Header.Get("Authorization"))
		fail(401, "invalid_request_error", "Invalid API Key provided")
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/v1/payment_methods/")
	if r.Method != http.MethodGet || !ok || id == "" || strings.Contains(id, "/") {
		f.t.Errorf("stripe: unexpected %s %s", r.Method, r.URL.Path)
		fail(404, "invalid_request_error", "Unrecognized request URL")
		return
	}
	f.mu.Lock()
	f.calls[id]++
	f.mu.Unlock()
	typ, ok := f.types[id]
	if !ok {
		w.WriteHeader(404)
		fmt.Fprintf(w, `{"error":{"code":"resource_missing","param":"payment_method","type":"invalid_request_error","message":"No such PaymentMethod: '%s'"}}`, id)
		return
	}
	fmt.Fprintf(w, `{"id":%q,"object":"payment_method","type":%q,"livemode":false,"created":1763800000}`, id, typ)
}

func TestPaymentMethodRetrieved(t *testing.T) {
	fs := &fakeStripe{t: t, key: "sk_test_hookstream", types: map[string]string{"pm_bank": "us_bank_account"}, calls: map[string]int{}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	start(e, func(c *payments.Config) { c.StripeSecretKey, c.StripeAPIBase = fs.key, srv.URL })
	mk := func(evID, pi, pm string) []byte {
		return event(t, "payment_intent.succeeded", evID, 0, func(_, o map[string]any) {
			o["id"], o["payment_method"], o["payment_method_types"] = pi, pm, []string{"card", "us_bank_account"}
		})
	}
	publishStripe(e, mk("evt_pm1", "pi_pm1", "pm_bank"), "")
	publishStripe(e, mk("evt_pm2", "pi_pm2", "pm_bank"), "")
	publishStripe(e, mk("evt_pm3", "pi_pm3", "pm_gone"), "")
	e.WaitOutcome(payments.Name, "stripe:evt_pm1", processors.StatusOK)
	e.WaitOutcome(payments.Name, "stripe:evt_pm2", processors.StatusOK)
	o := e.WaitOutcome(payments.Name, "stripe:evt_pm3", processors.StatusOK)
	for pi, want := range map[string]string{"pi_pm1": "us_bank_account", "pi_pm2": "us_bank_account", "pi_pm3": "card"} {
		if r, _ := payment(e, pi); r.PMType != want {
			t.Errorf("%s: payment method type %q, want %q", pi, r.PMType, want)
		}
	}
	if !strings.Contains(string(o.Detail), "No such PaymentMethod") {
		t.Errorf("fallback not noted: %s", o.Detail)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.calls["pm_bank"] < 1 || fs.calls["pm_bank"] > 2 || fs.calls["pm_gone"] != 1 {
		t.Errorf("calls %v", fs.calls)
	}
}

func TestDisputeInvoiceSubscription(t *testing.T) {
	e := pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
	seedLead(e, pipelinetest.Workspace, "ct_1", "benjie@example.com", "ld_1", "lead_7f3a9c")
	start(e, nil)
	b, _ := os.ReadFile("testdata/payment_intent.succeeded.json")
	publishStripe(e, b, "")
	e.WaitOutcome(payments.Name, "stripe:evt_3SHk2aB7WZ01zgkW0succ001", processors.StatusOK)
	publishStripe(e, []byte(`{"id":"evt_dp","object":"event","type":"charge.dispute.created","created":1763900000,
		"api_version":"2023-10-16","livemode":false,"data":{"object":{"id":"dp_1","object":"dispute","amount":149900,
		"currency":"usd","charge":"ch_1","payment_intent":"`+piID+`","reason":"fraudulent","status":"needs_response",
		"evidence_details":{"due_by":1764500000},"metadata":{},"livemode":false}}}`), "")
	publishStripe(e, []byte(`{"id":"evt_in","object":"event","type":"invoice.payment_succeeded","created":1763900001,
		"api_version":"2023-10-16","data":{"object":{"id":"in_1","object":"invoice","number":"A-0001","amount_paid":5000,
		"currency":"jpy","customer":"cus_1","customer_email":"Benjie@Example.com","status":"paid","billing_reason":"subscription_create",
		"subscription":"sub_1","payment_intent":"pi_inv","subscription_details":{"metadata":{"lead_id":"lead_7f3a9c","service_type":"Plan"}},
		"lines":{"object":"list","data":[{"id":"il_1","metadata":{"utm_source":"newsletter"}}]}}}}`), "")
	publishStripe(e, []byte(`{"id":"evt_sub","object":"event","type":"customer.subscription.created","created":1763900002,
		"api_version":"2023-10-16","data":{"object":{"id":"sub_1","object":"subscription","customer":"cus_1","status":"active",
		"currency":"usd","current_period_start":1763900000,"current_period_end":1766500000,"metadata":{"lead_id":"ld_1"},
		"items":{"object":"list","data":[{"id":"si_1","quantity":2,"price":{"id":"price_1","currency":"usd","product":"prod_1",
		"unit_amount":2500,"recurring":{"interval":"month","interval_count":1}}}]}}}}`), "")
	for _, id := range []string{"evt_dp", "evt_in", "evt_sub"} {
		if o := e.WaitOutcome(payments.Name, "stripe:"+id); o.Status != processors.StatusOK {
			t.Fatalf("%s: %+v", id, o)
		}
	}
	dp := emitted[events.Dispute](e, streams.SubjectDisputeCreated)
	if len(dp) != 1 || dp[0].DisputeID != "dp_1" || dp[0].TransactionID != piID || dp[0].ContactID != "ct_1" ||
		dp[0].LeadID != "ld_1" || dp[0].Amount != "1499.00" || dp[0].Reason != "fraudulent" || dp[0].EvidenceDueBy == nil {
		t.Fatalf("dispute events %+v", dp)
	}
	in := emitted[events.Invoice](e, streams.SubjectInvoicePaid)
	if len(in) != 1 || in[0].InvoiceID != "in_1" || in[0].Amount != "5000" || in[0].Currency != "JPY" || in[0].LeadID != "ld_1" ||
		in[0].Email != "benjie@example.com" || in[0].ServiceType != "Plan" || in[0].UTM.Source != "newsletter" ||
		in[0].SubscriptionID != "sub_1" || in[0].CustomerID != "cus_1" {
		t.Fatalf("invoice events %+v", in)
	}
	sub := emitted[events.Subscription](e, streams.SubjectSubscriptionCreated)
	if len(sub) != 1 || sub[0].SubscriptionID != "sub_1" || sub[0].AmountMinor != 5000 || sub[0].Amount != "50.00" ||
		sub[0].Interval != "month" || sub[0].PriceID != "price_1" || sub[0].ProductID != "prod_1" || sub[0].LeadID != "ld_1" ||
		sub[0].ContactID != "ct_1" || sub[0].CurrentPeriodEnd == nil {
		t.Fatalf("subscription events %+v", sub)
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM disputes WHERE dispute_id='dp_1' AND contact_id='ct_1' AND amount=1499.00 AND status='needs_response'`:        1,
		`SELECT count(*) FROM invoices WHERE invoice_id='in_1' AND amount_minor=5000 AND amount=5000 AND currency='JPY' AND lead_id='ld_1'`: 1,
		`SELECT count(*) FROM subscriptions WHERE subscription_id='sub_1' AND amount_minor=5000 AND status='active' AND contact_id='ct_1'`:  1,
	} {
		if n := e.Count(q); n != want {
			t.Errorf("%s: %d", q, n)
		}
	}
}

func TestDecimal(t *testing.T) {
	for _, c := range []struct {
		minor int64
		cur   string
		want  string
	}{{149900, "USD", "1499.00"}, {1, "usd", "0.01"}, {0, "EUR", "0.00"}, {-250, "EUR", "-2.50"}, {5000, "JPY", "5000"},
		{1234, "KWD", "1.234"}, {5, "BHD", "0.005"}, {-9223372036854775808, "USD", "-92233720368547758.08"}} {
		if got := payments.Decimal(c.minor, c.cur); string(got) != c.want {
			t.Errorf("%d %s: %s, want %s", c.minor, c.cur, got, c.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := payments.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.StripeSecretKey = "pk_test_publishable"
	if c.Validate() == nil {
		t.Fatal("publishable key accepted")
	}
	c.StripeSecretKey, c.StripeAPIBase = "sk_test_x", "not a url"
	if c.Validate() == nil {
		t.Fatal("bad base accepted")
	}
	c = payments.DefaultConfig()
	c.HTTP.Timeout = 0
	if c.Validate() == nil {
		t.Fatal("no timeout accepted")
	}
}
