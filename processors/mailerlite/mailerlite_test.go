package mailerlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/processors/mailerlite"
	"github.com/hookstream/hookstream/processors/outbound"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const ws = pipelinetest.Workspace

type fixture struct {
	t     *testing.T
	env   *pipelinetest.Env
	fake  *fakeML
	cfg   mailerlite.Config
	procs []processors.Processor
}

type options struct {
	gateway bool
	dedup   time.Duration // INGEST de-duplication window (default streams' default)
	limit   int
	window  time.Duration
	edit    func(*mailerlite.Config)
}

func setup(t *testing.T, o options) *fixture {
	t.Helper()
	var sc *streams.Config
	if o.dedup > 0 {
		c := streams.DefaultConfig()
		c.Duplicates = o.dedup
		sc = &c
	}
	env := pipelinetest.New(t, pipelinetest.Options{NoGateway: !o.gateway, NoWait: true, Streams: sc})
	if o.limit == 0 {
		o.limit, o.window = 120, time.Minute
	}
	f := newFakeML(t, o.limit, o.window)
	cfg := mailerlite.DefaultConfig()
	cfg.APIURL, cfg.APIKey = f.url(), f.key
	cfg.GroupID, cfg.CustomerGroupID = "grp_news", "grp_customers"
	cfg.RateLimit, cfg.RateWindow = o.limit, o.window
	cfg.Client = outbound.New(mailerlite.Name, 5*time.Second, nil)
	if o.edit != nil {
		o.edit(&cfg)
	}
	ml, err := mailerlite.New(env.Deps(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, env: env, fake: f, cfg: cfg, procs: ml.Processors()}
}

func (fx *fixture) start() *pipelinetest.Run { return fx.env.Start(fx.procs...) }

func (fx *fixture) publish(subject, msgID string, body any) {
	fx.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		fx.t.Fatal(err)
	}
	m := nats.NewMsg(subject)
	m.Data = b
	m.Header.Set(streams.HdrMsgID, msgID)
	m.Header.Set(streams.HdrWorkspaceID, ws)
	m.Header.Set(streams.HdrCausationID, "src:"+msgID)
	m.Header.Set(streams.HdrReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	m.Header.Set(streams.HdrContentType, "application/json")
	fx.env.Publish(m)
}

func ptr[T any](v T) *T { return &v }

func contactEvent(id, email string, consent *bool, formType string) events.ContactChanged {
	return events.ContactChanged{
		Origin: events.Origin{SourceEventID: "form:" + id, Source: "form", FormType: formType, ReceivedAt: time.Now().UTC()},
		Contact: events.Contact{ID: id, WorkspaceID: ws, Email: email, Phone: "+16266633444", FirstName: "Benjie",
			LastName: "Malinao", Company: "Malinao Homes", MarketingConsent: consent},
		MatchType: "new", IsNewContact: true, LeadID: "ld_" + id,
	}
}

// insertContact stores a contacts row as the contacts processor would.
func (fx *fixture) insertContact(id, email string, consent *bool) {
	fx.t.Helper()
	_, err := fx.env.DB.Exec(context.Background(), `INSERT INTO contacts (id, workspace_id, email, first_name, last_name,
		marketing_consent, source_time, created_event_id, created_at, updated_at)
		VALUES ($1,$2,$3,'Benjie','Malinao',$4,now(),'ev_'||$1,now(),now())`, id, ws, email, consent)
	if err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *fixture) consent(email string) *bool {
	fx.t.Helper()
	var c *bool
	if err := fx.env.DB.QueryRow(context.Background(), `SELECT marketing_consent FROM contacts WHERE workspace_id=$1 AND email=$2`,
		ws, email).Scan(&c); err != nil {
		fx.t.Fatal(err)
	}
	return c
}

type subRow struct {
	ID     string
	Groups []string
	Status string
	Synced bool
}

func (fx *fixture) row(email string) *subRow {
	fx.t.Helper()
	var r subRow
	var id *string
	err := fx.env.DB.QueryRow(context.Background(), `SELECT subscriber_id, groups, status, synced_at IS NOT NULL
		FROM mailerlite_subscribers WHERE workspace_id=$1 AND email=$2`, ws, email).Scan(&id, &r.Groups, &r.Status, &r.Synced)
	if err != nil {
		return nil
	}
	if id != nil {
		r.ID = *id
	}
	return &r
}

// waitOutcomes waits until a processor recorded final outcomes for at
// least n deliveries whose subject starts with prefix. (A consumer's pending
// counts can read zero for a moment right after a publish, while the message
// is on its way to a waiting pull: outcomes are the reliable signal.)
func (fx *fixture) waitOutcomes(processor, prefix string, n int) {
	fx.t.Helper()
	fx.env.Eventually(30*time.Second, func() error {
		got := fx.env.Count(`SELECT count(*) FROM event_outcomes WHERE processor=$1
			AND starts_with(subject, $2) AND status <> 'retry'`, processor, prefix)
		if got < n {
			return fmt.Errorf("%s: %d of %d %s… messages handled", processor, got, n, prefix)
		}
		return nil
	})
}

func (fx *fixture) wait(eventID string, statuses ...string) pipelinetest.Outcome {
	fx.t.Helper()
	return fx.env.WaitOutcome(mailerlite.Name, eventID, statuses...)
}

func payment(txn, contactID, email string) events.Payment {
	return events.Payment{
		Origin:        events.Origin{SourceEventID: "stripe:evt_" + txn, Source: "stripe", ReceivedAt: time.Now().UTC()},
		StripeRef:     events.StripeRef{StripeEventID: "evt_" + txn, StripeEventType: "payment_intent.succeeded"},
		Link:          events.Link{WorkspaceID: ws, ContactID: contactID, Email: email},
		TransactionID: txn, AmountMinor: 149900, Amount: "1499.00", Currency: "USD", Status: "succeeded",
		ServiceType: "Bath Remodel",
	}
}

func TestConsentSubscribes(t *testing.T) {
	fx := setup(t, options{})
	run := fx.start()

	fx.publish(streams.SubjectContactCreated, "contact:1", contactEvent("ct_1", "Benjie@Example.com", ptr(true), "contact"))
	o := fx.wait("contact:1", processors.StatusOK)
	s := fx.fake.sub("benjie@example.com")
	if s == nil || !slices.Equal(s.Groups, []string{"grp_news"}) || s.Status != "active" {
		t.Fatalf("subscriber %+v", s)
	}
	want := map[string]string{"name": "Benjie", "last_name": "Malinao", "phone": "+16266633444", "company": "Malinao Homes"}
	for k, v := range want {
		if s.Fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, s.Fields[k], v)
		}
	}
	if r := fx.row("benjie@example.com"); r == nil || r.ID != s.ID || r.Status != "active" || !slices.Contains(r.Groups, "grp_news") || !r.Synced {
		t.Errorf("mailerlite_subscribers %+v (outcome %s)", r, o.Detail)
	}

	// Without consent: no call at all.
	fx.publish(streams.SubjectContactCreated, "contact:2", contactEvent("ct_2", "no@example.com", ptr(false), "contact"))
	fx.publish(streams.SubjectContactCreated, "contact:3", contactEvent("ct_3", "unknown@example.com", nil, "consultation"))
	for _, id := range []string{"contact:2", "contact:3"} {
		if o := fx.wait(id); o.Status != processors.StatusSkipped || !strings.Contains(string(o.Detail), "no marketing consent") {
			t.Errorf("%s: %+v %s", id, o, o.Detail)
		}
	}

	// A newsletter signup is consent by itself.
	fx.publish(streams.SubjectContactCreated, "contact:4", contactEvent("ct_4", "news@example.com", nil, "newsletter"))
	fx.wait("contact:4", processors.StatusOK)
	if s := fx.fake.sub("news@example.com"); s == nil || !slices.Contains(s.Groups, "grp_news") {
		t.Errorf("newsletter subscriber %+v", s)
	}

	// The same person again, nothing changed: no call.
	fx.publish(streams.SubjectContactUpdated, "contact:5", contactEvent("ct_1", "benjie@example.com", ptr(true), "contact"))
	if o := fx.wait("contact:5"); o.Status != processors.StatusSkipped || !strings.Contains(string(o.Detail), "unchanged") {
		t.Errorf("unchanged: %+v %s", o, o.Detail)
	}
	if n := fx.fake.count(); n != 2 {
		t.Fatalf("%d calls, want 2: %+v", n, fx.fake.callList())
	}
	if c := fx.fake.callList()[0]; c.Status != 201 || c.Body["status"] != "active" {
		t.Errorf("first call %+v", c)
	}

	// Replay everything: no call is made again.
	run.Stop()
	fx.env.DeleteConsumer(streams.StreamEvents, mailerlite.Name)
	fx.start()
	fx.waitOutcomes(mailerlite.Name, "events.", 10) // 5 before, 5 replayed
	if n := fx.fake.count(); n != 2 {
		t.Fatalf("%d calls after replay, want 2", n)
	}
	if o := fx.env.Outcomes(mailerlite.Name, "contact:1"); o[len(o)-1].Status != processors.StatusSkipped ||
		!strings.Contains(string(o[len(o)-1].Detail), "already synced") {
		t.Errorf("replayed contact:1 %+v", o[len(o)-1])
	}
}

func TestPaymentJoinsOnboardingGroup(t *testing.T) {
	fx := setup(t, options{})
	fx.start()

	// A subscriber from a consenting contact, then its payment: one group
	// assignment.
	fx.insertContact("ct_1", "benjie@example.com", ptr(true))
	fx.publish(streams.SubjectContactCreated, "contact:1", contactEvent("ct_1", "benjie@example.com", ptr(true), "contact"))
	fx.publish(streams.SubjectPaymentSucceeded, "payment:stripe:evt_1", payment("pi_1", "ct_1", "benjie@example.com"))
	fx.wait("payment:stripe:evt_1", processors.StatusOK)
	s := fx.fake.sub("benjie@example.com")
	if s == nil || !slices.Equal(s.Groups, []string{"grp_news", "grp_customers"}) {
		t.Fatalf("subscriber %+v", s)
	}
	calls := fx.fake.callList()
	if len(calls) != 2 || calls[1].Path != "/api/subscribers/"+s.ID+"/groups/grp_customers" || calls[1].Status != 200 {
		t.Fatalf("calls %+v", calls)
	}
	if r := fx.row("benjie@example.com"); r == nil || !slices.Contains(r.Groups, "grp_customers") {
		t.Errorf("row %+v", r)
	}
	var kind string
	fx.env.DB.QueryRow(context.Background(), `SELECT kind FROM mailerlite_syncs WHERE event_id='payment:stripe:evt_1'`).Scan(&kind)
	if kind != mailerlite.KindCustomerGroup {
		t.Errorf("sync kind %q", kind)
	}

	// The same payment again (Stripe redelivery emits nothing new, but a
	// second payment of the customer): already in the group, no call.
	fx.publish(streams.SubjectPaymentSucceeded, "payment:stripe:evt_1b", payment("pi_1b", "ct_1", ""))
	if o := fx.wait("payment:stripe:evt_1b"); o.Status != processors.StatusSkipped {
		t.Errorf("second payment %+v", o)
	}

	// A consenting customer who is not a subscriber yet: one upsert into
	// both groups, found by e-mail.
	fx.insertContact("ct_2", "second@example.com", ptr(true))
	fx.publish(streams.SubjectPaymentSucceeded, "payment:stripe:evt_2", payment("pi_2", "", "Second@example.com"))
	fx.wait("payment:stripe:evt_2", processors.StatusOK)
	if s := fx.fake.sub("second@example.com"); s == nil || !slices.Contains(s.Groups, "grp_customers") || s.Fields["name"] != "Benjie" {
		t.Errorf("second subscriber %+v", s)
	}

	// A customer who gave no marketing consent: no call.
	fx.insertContact("ct_3", "private@example.com", nil)
	fx.publish(streams.SubjectPaymentSucceeded, "payment:stripe:evt_3", payment("pi_3", "ct_3", "private@example.com"))
	if o := fx.wait("payment:stripe:evt_3"); o.Status != processors.StatusSkipped || !strings.Contains(string(o.Detail), "no marketing consent") {
		t.Errorf("no consent payment %+v %s", o, o.Detail)
	}
	if n := fx.fake.count(); n != 3 {
		t.Errorf("%d calls, want 3: %+v", n, fx.fake.callList())
	}
}

func TestInvalidEmailDeadLettered(t *testing.T) {
	fx := setup(t, options{})
	fx.start()
	fx.publish(streams.SubjectContactCreated, "contact:bad", contactEvent("ct_bad", "ghost@nowhere.invalid", ptr(true), "contact"))
	o := fx.wait("contact:bad", processors.StatusDead)
	const want = "email: The email must be a valid email address."
	if !strings.Contains(o.Error, want) || o.Attempts != 1 {
		t.Errorf("outcome %+v", o)
	}
	var dlqErr string
	fx.env.Eventually(10*time.Second, func() error {
		for _, m := range fx.env.Messages(streams.StreamDLQ, streams.DLQSubject(mailerlite.Name)) {
			if m.Header.Get(streams.HdrDLQEventID) == "contact:bad" {
				dlqErr = m.Header.Get(streams.HdrDLQError)
				return nil
			}
		}
		return fmt.Errorf("no dead letter yet")
	})
	if !strings.Contains(dlqErr, want) || !strings.Contains(dlqErr, "422") {
		t.Errorf("dead letter error %q", dlqErr)
	}
	if fx.row("ghost@nowhere.invalid") != nil {
		t.Error("a rejected subscriber was projected")
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel() // mostly waiting
	fx := setup(t, options{})
	fx.fake.force429, fx.fake.retryAfter = 1, "2"
	fx.start()
	fx.publish(streams.SubjectContactCreated, "contact:429", contactEvent("ct_1", "benjie@example.com", ptr(true), "contact"))
	o := fx.env.WaitOutcome(mailerlite.Name, "contact:429", processors.StatusOK)
	calls := fx.fake.callList()
	if len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 201 {
		t.Fatalf("calls %+v", calls)
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < 2*time.Second {
		t.Errorf("retried after %v, before Retry-After: 2", gap)
	}
	if o.Attempts != 2 {
		t.Errorf("attempts %d", o.Attempts)
	}
}

// 150 consents at once never exceed the limit at the server. The window is
// shortened to 3 s (120 per 3 s); without the limiter the burst would hit
// the server in well under a second.
func TestBurstStaysUnderRateLimit(t *testing.T) {
	t.Parallel() // mostly waiting
	const n, window = 150, 3 * time.Second
	fx := setup(t, options{limit: 120, window: window, edit: func(c *mailerlite.Config) { c.Concurrency = 8 }})
	for i := range n {
		fx.publish(streams.SubjectContactCreated, fmt.Sprintf("contact:%d", i),
			contactEvent(fmt.Sprintf("ct_%d", i), fmt.Sprintf("p%d@example.com", i), ptr(true), "newsletter"))
	}
	start := time.Now()
	fx.start()
	fx.env.Eventually(30*time.Second, func() error {
		if c := fx.fake.count(); c < n {
			return fmt.Errorf("%d of %d subscribed", c, n)
		}
		return nil
	})
	took := time.Since(start)
	fx.env.WaitIdle(10*time.Second, streams.StreamEvents, mailerlite.Name)
	if fx.fake.exceeded != 0 || fx.fake.maxInWindow() > 120 {
		t.Fatalf("server saw %d requests in one %v window (%d refused)", fx.fake.maxInWindow(), window, fx.fake.exceeded)
	}
	if fx.fake.count() != n {
		t.Errorf("%d calls", fx.fake.count())
	}
	// 150 requests at ≤ 120 per window take more than one window.
	if took < window {
		t.Errorf("150 requests in %v", took)
	}
	t.Logf("150 requests in %v, at most %d in any %v", took, fx.fake.maxInWindow(), window)
}

func TestUnsubscribeWebhook(t *testing.T) {
	fx := setup(t, options{gateway: true})
	fx.start()
	for _, e := range []string{"benjie@example.com", "bounce@example.com", "spam@example.com", "keep@example.com"} {
		fx.insertContact("ct_"+strings.Split(e, "@")[0], e, ptr(true))
	}
	fx.publish(streams.SubjectContactCreated, "contact:1", contactEvent("ct_benjie", "benjie@example.com", ptr(true), "contact"))
	fx.wait("contact:1", processors.StatusOK)
	subID := fx.fake.sub("benjie@example.com").ID

	unsubAt := time.Now().UTC()
	batch := fmt.Sprintf(`{"events":[
		{"type":"subscriber.unsubscribed","data":{"subscriber":{"id":%q,"email":"Benjie@example.com","status":"unsubscribed","unsubscribed_at":%q}}},
		{"type":"subscriber.bounced","data":{"id":"900","email":"bounce@example.com","status":"bounced"}},
		{"type":"subscriber.created","data":{"id":"901","email":"keep@example.com","status":"active"}}
	]}`, subID, unsubAt.Format(time.RFC3339))
	single := `{"type":"subscriber.spam_reported","id":"902","email":"spam@example.com","status":"junk"}`
	for _, body := range []string{batch, single} {
		res := fx.env.Post("/webhooks/mailerlite", "application/json", []byte(body),
			map[string][]string{"Signature": {pipelinetest.MailerLiteSignature([]byte(body))}})
		if res.Status != 200 {
			t.Fatalf("gateway answered %d: %s", res.Status, res.Body)
		}
	}
	fx.waitOutcomes(mailerlite.Name, "ingest.mailerlite.", 2)
	for email, want := range map[string]string{"benjie@example.com": "unsubscribed", "bounce@example.com": "bounced", "spam@example.com": "junk"} {
		if c := fx.consent(email); c == nil || *c {
			t.Errorf("%s: marketing_consent %v, want false", email, c)
		}
		if r := fx.row(email); r == nil || r.Status != want {
			t.Errorf("%s: subscriber row %+v, want status %s", email, r, want)
		}
	}
	if c := fx.consent("keep@example.com"); c == nil || !*c {
		t.Errorf("keep@example.com lost its consent")
	}
	if r := fx.row("benjie@example.com"); r.ID != subID || !slices.Contains(r.Groups, "grp_news") {
		t.Errorf("unsubscribed row %+v", r)
	}

	// A contact event from before the unsubscribe (delivered late) still
	// says consent: it must not re-subscribe.
	late := contactEvent("ct_benjie", "benjie@example.com", ptr(true), "contact")
	late.ReceivedAt = unsubAt.Add(-time.Minute)
	late.Contact.Company = "Changed Inc"
	fx.publish(streams.SubjectContactUpdated, "contact:late", late)
	if o := fx.wait("contact:late"); o.Status != processors.StatusSkipped || !strings.Contains(string(o.Detail), "unsubscribed") {
		t.Errorf("late contact event %+v %s", o, o.Detail)
	}
	// And a payment does not re-subscribe either.
	fx.publish(streams.SubjectPaymentSucceeded, "payment:stripe:evt_9", payment("pi_9", "ct_benjie", "benjie@example.com"))
	if o := fx.wait("payment:stripe:evt_9"); o.Status != processors.StatusSkipped {
		t.Errorf("payment after unsubscribe %+v", o)
	}
	if n := fx.fake.count(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestNotConfigured(t *testing.T) {
	fx := setup(t, options{edit: func(c *mailerlite.Config) { c.APIKey = "" }})
	fx.start()
	fx.insertContact("ct_1", "benjie@example.com", ptr(true))
	fx.publish(streams.SubjectContactCreated, "contact:1", contactEvent("ct_1", "benjie@example.com", ptr(true), "contact"))
	fx.publish(streams.SubjectPaymentSucceeded, "payment:stripe:evt_1", payment("pi_1", "ct_1", "benjie@example.com"))
	for _, id := range []string{"contact:1", "payment:stripe:evt_1"} {
		if o := fx.wait(id); o.Status != processors.StatusSkipped || !strings.Contains(string(o.Detail), "not configured") {
			t.Errorf("%s: %+v %s", id, o, o.Detail)
		}
	}
	// MailerLite's webhooks still withdraw consent: no API call needed.
	fx.env.PublishRaw(pipelinetest.Raw{Subject: "ingest.mailerlite.subscriber.unsubscribed", MsgID: "mailerlite:1",
		Body: []byte(`{"type":"subscriber.unsubscribed","email":"benjie@example.com"}`)})
	fx.wait("mailerlite:1", processors.StatusOK)
	if c := fx.consent("benjie@example.com"); c == nil || *c {
		t.Errorf("consent %v", c)
	}
	if n := fx.fake.count(); n != 0 {
		t.Errorf("%d calls", n)
	}
}

func TestConfigValidate(t *testing.T) {
	c := mailerlite.DefaultConfig()
	if err := c.Validate(); err != nil || c.Configured() {
		t.Fatalf("defaults: %v %v", err, c.Configured())
	}
	for name, edit := range map[string]func(*mailerlite.Config){
		"url":     func(c *mailerlite.Config) { c.APIURL = "connect.mailerlite.com" },
		"rate":    func(c *mailerlite.Config) { c.RateLimit = 0 },
		"window":  func(c *mailerlite.Config) { c.RateWindow = 0 },
		"status":  func(c *mailerlite.Config) { c.SubscriberStatus = "junk" },
		"breaker": func(c *mailerlite.Config) { c.BreakerThreshold = 0 },
	} {
		c := mailerlite.DefaultConfig()
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
