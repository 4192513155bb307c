package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/internal/testutil"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
)

// Secrets configured for the run; none may appear in the logs.
const (
	lhSMTPPass      = "smtp-Pa55word-Zq8"
	lhSlackPath     = "/services/T0LOG/B0LOG/slacksecretpathQ7"
	lhTwilioToken   = "twilio-token-Kx93mm"
	lhCRMKey        = "crm-key-Vb72pp"
	lhMailerLiteKey = "mailerlite-key-Hn41ss"
	lhGA4Secret     = "ga4-secret-Wq65tt"
	lhStripeSecret  = "whsec_logtest_Rt88uu"
	lhAdminToken    = "admin-token-Lm29vv"
	lhTeamEmail     = "oncall.team@example.org"
	lhTeamPhone     = "+15550009999"
)

// A full run — gateway, every registered processor, the admin API — with
// personal data in every payload and every destination failing in the way
// that tends to leak (error bodies echoing addresses, numbers and payloads):
// the JSON logs carry no e-mail address, phone number, secret or signature.
func TestLogsCarryNoPersonalDataOrSecrets(t *testing.T) {
	echo := func(status int, extra string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			// What careless APIs do: echo the request (and its addresses).
			fmt.Fprintf(w, `{"message":"rejected %s","echo":%q,"auth":%q}`, extra, string(b), r.Header.Get("Authorization"))
		}))
		t.Cleanup(s.Close)
		return s
	}
	slack := echo(500, "slack")
	twilio := echo(400, "The 'To' number "+lhTeamPhone+" is not a valid phone number")
	crm := echo(500, "crm")
	ml := echo(422, "The email jane.lead@example.com is invalid")
	ga4 := echo(500, "ga4")
	smtpAddr := lhSMTP(t)

	for k, v := range map[string]string{
		"SMTP_URL":          "smtp://mailer:" + lhSMTPPass + "@" + smtpAddr,
		"NOTIFY_EMAIL_FROM": "Hookstream <alerts@example.org>", "NOTIFY_EMAIL_TO": lhTeamEmail,
		"SLACK_WEBHOOK_URL": slack.URL + lhSlackPath,
		"TWILIO_API_URL":    twilio.URL, "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
		"TWILIO_AUTH_TOKEN": lhTwilioToken, "TWILIO_FROM": "+15005550006", "NOTIFY_SMS_TO": lhTeamPhone,
		"NOTIFY_BATCH_WINDOW": "200ms", "NOTIFY_RETRY_BACKOFF": "100ms",
		"CRM_API_ENDPOINT": crm.URL, "CRM_API_KEY": lhCRMKey, "CRM_BREAKER_THRESHOLD": "100",
		"MAILERLITE_API_URL": ml.URL, "MAILERLITE_API_KEY": lhMailerLiteKey, "MAILERLITE_GROUP_ID": "123",
		"GA4_ENDPOINT": ga4.URL, "GA4_MEASUREMENT_ID": "G-LOGTEST", "GA4_API_SECRET": lhGA4Secret,
		"STRIPE_WEBHOOK_SECRET": lhStripeSecret, "HOOKSTREAM_ADMIN_TOKEN": lhAdminToken,
	} {
		t.Setenv(k, v)
	}
	p := startPipeline(t)
	ctx := t.Context()
	store := &webhooksdb.Webhooks{DB: p.a.pool}
	wh, err := store.Create(ctx, &webhooksdb.Webhook{WorkspaceID: "default", Name: "vendor", Active: true, AuthScheme: "standard"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.a.pool.Exec(ctx, `INSERT INTO notify_rules (id, workspace_id, event, channels)
		VALUES ('r1','default','*','{live,email,slack,sms}')`); err != nil {
		t.Fatal(err)
	}

	people := []struct{ first, last, email, phone string }{
		{"Jane", "Lead", "jane.lead@example.com", "+16266633444"},
		{"Juan", "Pérez", "juan.perez@example.net", "+14155550123"},
		{"Ann", "Other", "ann.other@example.co.uk", "+447911123456"},
	}
	var sigs []string
	for i, pe := range people {
		body := fmt.Sprintf(`{"firstname":%q,"lastname":%q,"email":%q,"phone_number":%q,"product":"Bath Remodel",
			"marketing_consent":true,"message":"call me on %s or %s"}`, pe.first, pe.last, pe.email, pe.phone, pe.phone, pe.email)
		id := "msg-" + strconv.Itoa(i)
		ts := time.Now()
		sig := verify.SignStandard(wh.Secrets[0].Value, id, ts, []byte(body))
		sigs = append(sigs, strings.TrimPrefix(sig, "v1,"))
		code := p.post(t, "/webhooks/"+wh.ID+"?wait=3s", "application/json", []byte(body), http.Header{
			"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(ts.Unix(), 10)}, "Webhook-Signature": {sig}})
		if code != 200 && code != 202 {
			t.Fatalf("lead %d: %d", i, code)
		}
	}
	// Bad input that is refused (and logged as refused).
	p.post(t, "/webhooks/"+wh.ID, "application/json", []byte(`{"email":"refused.person@example.com"}`),
		http.Header{"Webhook-Id": {"x"}, "Webhook-Timestamp": {"1"}, "Webhook-Signature": {"v1,AAAA"}})
	p.post(t, "/forms/contact", "application/x-www-form-urlencoded",
		[]byte("name=Form+Person&email=form.person%40example.com&phone=%2B16265550100&message=hi"), nil)
	p.post(t, "/forms/contact", "application/json", []byte(`{"email":"not-an-email@","phone":"+1626555"}`), nil)
	// A Stripe payment for Jane.
	pay := fmt.Sprintf(`{"id":"evt_logtest1","object":"event","api_version":"2023-10-16","created":%d,"type":"payment_intent.succeeded",
		"livemode":false,"data":{"object":{"id":"pi_logtest1","object":"payment_intent","amount":149900,"currency":"usd","status":"succeeded",
		"created":%d,"receipt_email":"jane.lead@example.com","metadata":{"email":"jane.lead@example.com","service_type":"Bath Remodel"}}}}`,
		time.Now().Unix(), time.Now().Unix())
	sh := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(pay), Secret: lhStripeSecret, Timestamp: time.Now()}).Header
	if code := p.post(t, "/webhooks/stripe", "application/json", []byte(pay), http.Header{"Stripe-Signature": {sh}}); code/100 != 2 {
		t.Fatalf("stripe: %d", code)
	}
	p.post(t, "/webhooks/stripe", "application/json", []byte(pay), http.Header{"Stripe-Signature": {"t=1,v1=" + strings.Repeat("ab", 32)}})
	sigs = append(sigs, sh[strings.Index(sh, "v1=")+3:])
	// Admin API: a wrong token, then the audit of a lead.
	for _, tok := range []string{"wrong-token", lhAdminToken} {
		req, _ := http.NewRequest(http.MethodGet, p.srv.URL+"/api/events/wh:"+wh.ID+":msg-0", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err := p.srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}

	// Let the failures run their course: notification deliveries dead after
	// three attempts, the dead letters announced, the other destinations
	// retried a few times.
	testutil.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if n := p.count(t, `SELECT count(*) FROM notifications WHERE channel='slack' AND status='dead'`); n < 1 {
			return fmt.Errorf("%d dead slack notifications", n)
		}
		if n := p.count(t, `SELECT count(*) FROM event_outcomes WHERE processor IN ('crm','ga4') AND status='retry'`); n < 2 {
			return fmt.Errorf("%d crm/ga4 retries", n)
		}
		if n := p.count(t, `SELECT count(*) FROM event_outcomes WHERE processor='notify-dlq'`); n < 1 {
			return fmt.Errorf("no dead letter announced yet")
		}
		return nil
	})
	// Forget one contact through the API (logs the erasure).
	var contactID string
	p.a.pool.QueryRow(ctx, `SELECT id FROM contacts WHERE email='ann.other@example.co.uk'`).Scan(&contactID)
	req, _ := http.NewRequest(http.MethodPost, p.srv.URL+"/api/contacts/"+contactID+"/forget", nil)
	req.Header.Set("Authorization", "Bearer "+lhAdminToken)
	resp, err := p.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("forget: %d", resp.StatusCode)
	}
	// The erasure is recorded before the answer; stop drains whatever it
	// set off (runners finish their in-flight handlers) before the logs
	// are read.
	if n := p.count(t, `SELECT count(*) FROM erasures`); n != 1 {
		t.Fatalf("%d erasures recorded, want 1", n)
	}
	p.stop()

	logs := p.logs.String()
	if len(p.logs.lines()) < 20 {
		t.Fatalf("suspiciously few log lines:\n%s", logs)
	}
	for _, l := range p.logs.lines() {
		if !json.Valid([]byte(l)) {
			t.Errorf("not a JSON log line: %s", l)
		}
	}
	forbidden := []string{lhSMTPPass, lhSlackPath, "slacksecretpathQ7", lhTwilioToken, lhCRMKey, lhMailerLiteKey, lhGA4Secret,
		lhStripeSecret, lhAdminToken, wh.Secrets[0].Value, strings.TrimPrefix(wh.Secrets[0].Value, "whsec_"), lhTeamEmail, lhTeamPhone,
		"form.person", "refused.person", "+16265550100", "6266633444", "4155550123", "7911123456"}
	forbidden = append(forbidden, sigs...)
	for _, pe := range people {
		forbidden = append(forbidden, pe.email, pe.phone)
	}
	for _, f := range forbidden {
		if i := strings.Index(logs, f); i >= 0 {
			t.Errorf("logs contain %q: …%s…", f, logs[max(0, i-300):min(len(logs), i+100)])
		}
	}
	emailRE := regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
	phoneRE := regexp.MustCompile(`\+\d{8,15}\b`)
	for _, re := range []*regexp.Regexp{emailRE, phoneRE} {
		for _, m := range re.FindAllStringIndex(logs, 5) {
			t.Errorf("logs contain %q: …%s…", logs[m[0]:m[1]], logs[max(0, m[0]-300):min(len(logs), m[1]+50)])
		}
	}
	t.Logf("%d log lines checked", len(p.logs.lines()))
	if testing.Verbose() {
		for _, l := range p.logs.lines() {
			t.Log(l)
		}
	}
}

// lhSMTP is an SMTP server (no TLS, AUTH allowed on loopback) that refuses
// every recipient, naming the address in its reply as real servers do.
func lhSMTP(t *testing.T) string {
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &lhSession{}, nil })
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

type lhSession struct{}

func (lhSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (lhSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, u, p string) error { return nil }), nil
}
func (lhSession) Mail(string, *smtp.MailOptions) error { return nil }
func (lhSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected: User unknown"}
}
func (lhSession) Data(io.Reader) error { return nil }
func (lhSession) Reset()               {}
func (lhSession) Logout() error        { return nil }
