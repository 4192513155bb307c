package mailerlite_test

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/hookstream/hookstream/internal/pipelinetest"

	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/processors/mailerlite"
	"github.com/hookstream/hookstream/processors/payments"
	"github.com/hookstream/hookstream/streams"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The original system's two flows through the real gateway, contacts and
// payments processors: a contact form with consent makes one subscriber in
// the newsletter group, one without consent makes no call, a newsletter
// signup subscribes, and the Stripe purchase adds the customer to the
// onboarding group.
func TestFormAndPurchaseEndToEnd(t *testing.T) {
	t.Parallel()
	fx := setup(t, options{gateway: true, dedup: time.Second})
	ccfg := contacts.DefaultConfig()
	cp, err := contacts.New(fx.env.Deps(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	pcfg := payments.DefaultConfig()
	pcfg.LeadWaitAttempts = 1
	pp, err := payments.New(fx.env.Deps(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	fx.env.Start(append(append(cp.Processors(), pp.Processors()...), fx.procs...)...)

	post := func(path string, body []byte, h http.Header) {
		t.Helper()
		if res := fx.env.Post(path, "application/json", body, h); res.Status != 200 {
			t.Fatalf("%s answered %d: %s", path, res.Status, res.Body)
		}
	}
	form := readFixture(t, "contact-form.json")
	post("/forms/contact", form, nil)
	noConsent := strings.NewReplacer(`"marketing_consent": true`, `"marketing_consent": false`,
		"benjie@example.com", "quiet@example.com", "(626) 663-3444", "(626) 663-3555", "lead_7f3a9c", "lead_quiet").Replace(string(form))
	post("/forms/contact", []byte(noConsent), nil)
	post("/forms/newsletter", []byte(`{"email":"reader@example.com","name":"Avid Reader"}`), nil)
	fx.waitOutcomes(mailerlite.Name, "events.contact.", 3)

	s := fx.fake.sub("benjie@example.com")
	if s == nil || !slices.Equal(s.Groups, []string{"grp_news"}) || s.Fields["company"] != "Malinao Homes" {
		rows, _ := fx.env.DB.Query(t.Context(), `SELECT processor, event_id, subject, status, attempts, COALESCE(error,''), COALESCE(detail::text,''), at FROM event_outcomes ORDER BY id`)
		for rows.Next() {
			var a, b, c, d, f, g string
			var e int
			var at time.Time
			rows.Scan(&a, &b, &c, &d, &e, &f, &g, &at)
			t.Logf("DEBUG %s %s %s %s %d %s %.200s %s", a, b, c, d, e, f, g, at.Format("15:04:05.000"))
		}
		t.Logf("DEBUG now %s", time.Now().Format("15:04:05.000"))
		t.Fatalf("form subscriber %+v", s)
	}
	if fx.fake.sub("quiet@example.com") != nil {
		t.Error("a contact without consent was subscribed")
	}
	if r := fx.fake.sub("reader@example.com"); r == nil || !slices.Contains(r.Groups, "grp_news") {
		t.Errorf("newsletter subscriber %+v", r)
	}
	if n := fx.fake.count(); n != 2 {
		t.Fatalf("%d calls after the forms, want 2: %+v", n, fx.fake.callList())
	}

	// The purchase (Stripe's fixture: metadata.lead_id of the form's lead).
	body := readFixture(t, "payment_intent.succeeded.json")
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: pipelinetest.StripeSecret})
	post("/webhooks/stripe", body, http.Header{"Stripe-Signature": {sp.Header}})
	fx.waitOutcomes(mailerlite.Name, streams.SubjectPaymentSucceeded, 1)
	s = fx.fake.sub("benjie@example.com")
	if s == nil || !slices.Contains(s.Groups, "grp_customers") {
		t.Fatalf("customer not in the onboarding group: %+v", s)
	}
	calls := fx.fake.callList()
	if len(calls) != 3 || calls[2].Path != "/api/subscribers/"+s.ID+"/groups/grp_customers" {
		t.Fatalf("calls %+v", calls)
	}

	// Stripe delivers it again after the de-duplication window (a new
	// signature, the same event): nothing more happens.
	fx.env.RedeliverStripe(body)
	fx.waitOutcomes(payments.Name, "ingest.stripe.", 2)
	fx.env.WaitIdle(20*time.Second, streams.StreamEvents, mailerlite.Name)
	if n := fx.fake.count(); n != 3 {
		t.Errorf("%d calls after the redelivery, want 3", n)
	}
}
