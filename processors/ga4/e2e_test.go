package ga4_test

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/processors/ga4"
	"github.com/hookstream/hookstream/processors/outbound"
	"github.com/hookstream/hookstream/processors/payments"
	"github.com/hookstream/hookstream/streams"
)

// The original system's two flows through the real gateway, contacts and
// payments processors: the contact form makes one generate_lead; Stripe's
// declined then successful attempt make one payment_failed and one purchase
// (transaction_id, value, currency) for the same client_id as the lead;
// Stripe's redelivery sends nothing more.
func TestFormAndPurchaseEndToEnd(t *testing.T) {
	// A short de-duplication window, so Stripe's redelivery below reaches
	// the processors rather than being absorbed by the stream.
	sc := streams.DefaultConfig()
	sc.Duplicates = time.Second
	env := pipelinetest.New(t, pipelinetest.Options{NoWait: true, Streams: &sc})
	f := newFakeGA4(t)
	cfg := ga4.DefaultConfig()
	cfg.MeasurementID, cfg.APISecret, cfg.Endpoint = f.mid, f.secret, f.srv.URL
	cfg.Client = outbound.New(ga4.Name, 5*time.Second, nil)
	gp, err := ga4.New(env.Deps(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := contacts.New(env.Deps(), contacts.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	pcfg := payments.DefaultConfig()
	pcfg.LeadWaitAttempts = 1
	pp, err := payments.New(env.Deps(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	env.Start(append(append(cp.Processors(), pp.Processors()...), gp.Processors()...)...)

	post := func(path, fixture string, stripe bool) {
		t.Helper()
		body, err := os.ReadFile("testdata/" + fixture)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		if stripe {
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: pipelinetest.StripeSecret})
			h.Set("Stripe-Signature", sp.Header)
		}
		if res := env.Post(path, "application/json", body, h); res.Status != 200 {
			t.Fatalf("%s answered %d: %s", path, res.Status, res.Body)
		}
	}
	post("/forms/contact", "contact-form.json", false)
	waitOutcomes(env, ga4.Name, streams.SubjectLeadCreated, 1)
	post("/webhooks/stripe", "payment_intent.payment_failed.json", true)
	post("/webhooks/stripe", "payment_intent.succeeded.json", true)
	waitOutcomes(env, ga4.Name, "events.payment.", 2)

	byName := map[string][]fakeReq{}
	for _, r := range f.requests() {
		byName[r.event()["name"].(string)] = append(byName[r.event()["name"].(string)], r)
	}
	if len(byName["generate_lead"]) != 1 || len(byName["purchase"]) != 1 || len(byName["payment_failed"]) != 1 || f.count() != 3 {
		t.Fatalf("requests %+v", byName)
	}
	gl := byName["generate_lead"][0]
	if p := gl.params(); p["form_type"] != "contact" || p["form_location"] != "/services/bath-remodel" ||
		p["utm_source"] != "google" || p["service_interest"] != "Bath Remodel" {
		t.Errorf("generate_lead %v", p)
	}
	pu := byName["purchase"][0]
	if p := pu.params(); p["transaction_id"] != "pi_1PgafyB7WZ01zgkWSjxsAJo3" || p["currency"] != "USD" || p["value"].(interface{ String() string }).String() != "1499" {
		t.Errorf("purchase %v", p)
	}
	if pu.Payload["client_id"] != gl.Payload["client_id"] {
		t.Errorf("purchase client_id %v, lead's %v", pu.Payload["client_id"], gl.Payload["client_id"])
	}
	if p := byName["payment_failed"][0].params(); p["error_code"] != "card_declined" {
		t.Errorf("payment_failed %v", p)
	}

	// Stripe redelivers the purchase after the de-duplication window:
	// nothing more is sent.
	purchase, err := os.ReadFile("testdata/payment_intent.succeeded.json")
	if err != nil {
		t.Fatal(err)
	}
	env.RedeliverStripe(purchase)
	waitOutcomes(env, payments.Name, "ingest.stripe.", 3) // the redelivery is handled (a duplicate)
	env.WaitIdle(20*time.Second, streams.StreamEvents, ga4.Name)
	if n := f.count(); n != 3 {
		t.Errorf("%d requests after the redelivery, want 3", n)
	}
}
