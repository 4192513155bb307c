package gateway_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/streams"
)

// ---- Facebook ----------------------------------------------------------------

func TestFacebook_Challenge(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {fbVerifyToken}, "hub.challenge": {"1158201444"}}
	r := env.get("/webhooks/facebook?" + q.Encode())
	if r.Status != 200 || string(r.Body) != "1158201444" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("challenge: %d %q %q", r.Status, r.Body, r.Header.Get("Content-Type"))
	}
	for name, q := range map[string]url.Values{
		"wrong token":  {"hub.mode": {"subscribe"}, "hub.verify_token": {"nope"}, "hub.challenge": {"1"}},
		"no token":     {"hub.mode": {"subscribe"}, "hub.challenge": {"1"}},
		"wrong mode":   {"hub.mode": {"unsubscribe"}, "hub.verify_token": {fbVerifyToken}, "hub.challenge": {"1"}},
		"no challenge": {"hub.mode": {"subscribe"}, "hub.verify_token": {fbVerifyToken}},
	} {
		t.Run(name, func(t *testing.T) {
			e := env.sub(t)
			e.rejects(t, 403, "forbidden", func() *result { return e.get("/webhooks/facebook?" + q.Encode()) })
		})
	}
	// Without a configured verify token nobody can subscribe.
	env2 := newTestGateway(t, withConfig(func(c *gateway.Config) { c.FacebookVerifyToken = "" }))
	q2 := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {""}, "hub.challenge": {"1"}}
	env2.rejects(t, 403, "forbidden", func() *result { return env2.get("/webhooks/facebook?" + q2.Encode()) })
}

const fbBatch = `{"object":"page","entry":[
 {"id":"104958162837341","time":1763800000,"changes":[
  {"field":"leadgen","value":{"leadgen_id":"1323911018437852","page_id":"104958162837341","form_id":"551111744595541","created_time":1763800000}},
  {"field":"leadgen","value":{"leadgen_id":1323911018437853,"page_id":"104958162837341","form_id":"551111744595541","created_time":1763800001}}]},
 {"id":"104958162837342","time":1763800002,"changes":[
  {"field":"feed","value":{"item":"status"}},
  {"field":"leadgen","value":{"leadgen_id":"1323911018437854","page_id":"104958162837342","form_id":"551111744595542","created_time":1763800002}}]}]}`

func TestFacebook_Batch(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	body := []byte(fbBatch)
	sig := hdrs("X-Hub-Signature-256", "sha256="+hexMAC(fbAppSecret, body))
	r := env.post("/webhooks/facebook", body, sig)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var res struct {
		Accepted bool       `json:"accepted"`
		Events   []accepted `json:"events"`
	}
	mustJSON(t, r.Body, &res)
	ids := []string{"fb:1323911018437852", "fb:1323911018437853", "fb:1323911018437854"}
	if !res.Accepted || len(res.Events) != 3 {
		t.Fatalf("answer %s", r.Body)
	}
	for i, a := range res.Events {
		if a.EventID != ids[i] || a.Duplicate || a.StreamSeq != uint64(i+1) {
			t.Fatalf("event %d: %+v", i, a)
		}
		m := env.msgAt(a.StreamSeq)
		if m.Subject != "ingest.facebook.leadgen" || m.Header.Get("Nats-Msg-Id") != ids[i] ||
			m.Header.Get(streams.HdrSource) != "facebook" || m.Header.Get(streams.HdrWorkspaceID) != "default" {
			t.Fatalf("message %d: %s %v", i, m.Subject, m.Header)
		}
		if !bytes.Contains(m.Data, []byte(strings.TrimPrefix(ids[i], "fb:"))) || !bytes.Contains(body, m.Data) {
			t.Fatalf("message %d body %s is not that change's value", i, m.Data)
		}
	}
	if env.streamCount() != 3 {
		t.Fatalf("%d messages", env.streamCount())
	}
	// Facebook re-delivers: nothing new is stored.
	r = env.post("/webhooks/facebook", body, sig)
	mustJSON(t, r.Body, &res)
	for _, a := range res.Events {
		if !a.Duplicate {
			t.Fatalf("re-delivery not a duplicate: %s", r.Body)
		}
	}
	if env.streamCount() != 3 {
		t.Fatalf("%d messages after re-delivery", env.streamCount())
	}
	// The single-lead fixture.
	one := readFixture(t, "facebook-leadgen.json")
	r = env.post("/webhooks/facebook", one, hdrs("X-Hub-Signature-256", "sha256="+hexMAC(fbAppSecret, one)))
	mustJSON(t, r.Body, &res)
	if len(res.Events) != 1 || res.Events[0].EventID != "fb:1323911018437852" || !res.Events[0].Duplicate {
		t.Fatalf("fixture: %s", r.Body)
	}
}

func TestFacebook_Rejected(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	body := []byte(fbBatch)
	for name, h := range map[string]http.Header{
		"missing":        nil,
		"wrong secret":   hdrs("X-Hub-Signature-256", "sha256="+hexMAC("other", body)),
		"no prefix":      hdrs("X-Hub-Signature-256", hexMAC(fbAppSecret, body)),
		"sha1 header":    hdrs("X-Hub-Signature", "sha1=abc"),
		"other body":     hdrs("X-Hub-Signature-256", "sha256="+hexMAC(fbAppSecret, body[1:])),
		"garbled":        hdrs("X-Hub-Signature-256", "sha256=xyz"),
		"truncated hmac": hdrs("X-Hub-Signature-256", "sha256="+hexMAC(fbAppSecret, body)[:32]),
	} {
		t.Run(name, func(t *testing.T) {
			e := env.sub(t)
			e.rejects(t, 401, "invalid_signature", func() *result { return e.post("/webhooks/facebook", body, h) })
		})
	}
	// A batch with one bad change is refused as a whole before anything is stored.
	bad := []byte(strings.Replace(fbBatch, `"leadgen_id":"1323911018437854"`, `"leadgen_id":"x.y"`, 1))
	env.rejects(t, 400, "invalid_payload", func() *result {
		return env.post("/webhooks/facebook", bad, hdrs("X-Hub-Signature-256", "sha256="+hexMAC(fbAppSecret, bad)))
	})
	// No app secret configured: fail closed.
	env2 := newTestGateway(t, withConfig(func(c *gateway.Config) { c.FacebookAppSecret = "" }))
	env2.rejects(t, 503, "verification_unavailable", func() *result {
		return env2.post("/webhooks/facebook", body, hdrs("X-Hub-Signature-256", "sha256="+hexMAC("", body)))
	})
}

// ---- MailerLite ------------------------------------------------------------

func TestMailerLite_Events(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	unsub := []byte(`{"id":"123","type":"subscriber.unsubscribed","email":"ana@example.com","unsubscribed_at":"2025-11-22 08:26:40"}`)
	sig := func(b []byte) http.Header { return hdrs("Signature", hexMAC(mailerLiteSecret, b)) }
	a := env.post("/webhooks/mailerlite", unsub, sig(unsub)).wantAccepted(t)
	m := env.msgAt(a.StreamSeq)
	if m.Subject != "ingest.mailerlite.subscriber.unsubscribed" || !bytes.Equal(m.Data, unsub) ||
		m.Header.Get(streams.HdrSource) != "mailerlite" || m.Header.Get(streams.HdrEventType) != "subscriber.unsubscribed" ||
		!strings.HasPrefix(a.EventID, "mailerlite:") {
		t.Fatalf("%+v %s %v", a, m.Subject, m.Header)
	}
	if b := env.post("/webhooks/mailerlite", unsub, sig(unsub)).wantAccepted(t); !b.Duplicate {
		t.Fatal("re-delivery stored twice")
	}
	ev := []byte(`{"event":"subscriber.created","data":{"email":"b@example.com"}}`)
	a = env.post("/webhooks/mailerlite", ev, sig(ev)).wantAccepted(t)
	if s := env.msgAt(a.StreamSeq).Subject; s != "ingest.mailerlite.subscriber.created" {
		t.Fatalf("subject %s", s)
	}
	batch := []byte(`{"events":[{"type":"subscriber.created"},{"type":"subscriber.updated"}]}`)
	a = env.post("/webhooks/mailerlite", batch, sig(batch)).wantAccepted(t)
	if s := env.msgAt(a.StreamSeq).Subject; s != "ingest.mailerlite.batch" {
		t.Fatalf("subject %s", s)
	}

	for name, h := range map[string]http.Header{
		"missing":      nil,
		"wrong secret": hdrs("Signature", hexMAC("other", unsub)),
		"other body":   hdrs("Signature", hexMAC(mailerLiteSecret, ev)),
		"sha256= form": hdrs("Signature", "sha256="+hexMAC(mailerLiteSecret, unsub)),
		"base64":       hdrs("Signature", b64MAC(mailerLiteSecret, unsub)),
	} {
		t.Run(name, func(t *testing.T) {
			e := env.sub(t)
			e.rejects(t, 401, "invalid_signature", func() *result { return e.post("/webhooks/mailerlite", unsub, h) })
		})
	}
}

// ---- Forms -----------------------------------------------------------------

func TestForms_Accepted(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	contact := readFixture(t, "contact-form.json")
	r := env.post("/forms/contact", contact, hdrs("Origin", allowedOrigin))
	a := r.wantAccepted(t)
	if r.Header.Get("Access-Control-Allow-Origin") != allowedOrigin || !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
		t.Fatalf("CORS headers %v", r.Header)
	}
	m := env.msgAt(a.StreamSeq)
	if m.Subject != "ingest.form.contact" || !bytes.Equal(m.Data, contact) || m.Header.Get(streams.HdrFormType) != "contact" ||
		m.Header.Get(streams.HdrSource) != "form" || m.Header.Get(streams.HdrOrigin) != allowedOrigin {
		t.Fatalf("%s %v", m.Subject, m.Header)
	}
	form := "email=news%40example.com"
	r = env.post("/forms/newsletter", []byte(form), hdrs("Content-Type", "application/x-www-form-urlencoded"))
	a = r.wantAccepted(t)
	if m := env.msgAt(a.StreamSeq); m.Subject != "ingest.form.newsletter" || m.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Fatalf("%s %v", m.Subject, m.Header)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header without Origin")
	}
	cons := url.Values{"name": {"Ana Ruiz"}, "email": {"ana@example.com"}, "phone": {"(626) 663-3444"}}.Encode()
	env.post("/forms/consultation", []byte(cons), hdrs("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")).wantAccepted(t)
	env.post("/forms/consultation", []byte(`{"data":{"full_name":"Zoë 😀","email":"z@example.com","phone":"+44 20 7946 0958"}}`), nil).wantAccepted(t)
}

func TestForms_Validation(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	type d = [2]string
	cases := []struct {
		name, form, ct, body string
		want                 []d
	}{
		{"contact empty", "contact", "", `{}`, []d{{"name", "required"}, {"email", "required"}, {"message", "required"}}},
		{"contact bad email", "contact", "", `{"name":"A","email":"a@@example","message":"hi"}`, []d{{"email", "invalid_email"}}},
		{"contact long message", "contact", "", `{"name":"A","email":"a@example.com","message":"` + strings.Repeat("m", 5001) + `"}`, []d{{"message", "too_long"}}},
		{"contact blank fields", "contact", "form", `name=+&email=%20&message=`, []d{{"name", "required"}, {"email", "required"}, {"message", "required"}}},
		{"newsletter no email", "newsletter", "form", `name=Ana`, []d{{"email", "required"}}},
		{"newsletter bad email", "newsletter", "", `{"email":"ana at example.com"}`, []d{{"email", "invalid_email"}}},
		{"consultation missing phone", "consultation", "", `{"name":"Ana","email":"a@example.com"}`, []d{{"phone", "required"}}},
		{"consultation bad phone and email", "consultation", "form", `name=Ana&email=nope&phone=555-CALL-NOW`, []d{{"email", "invalid_email"}, {"phone", "invalid_phone"}}},
		{"consultation too short phone", "consultation", "", `{"name":"Ana","email":"a@example.com","phone":"12"}`, []d{{"phone", "invalid_phone"}}},
		{"consultation long name", "consultation", "", `{"name":"` + strings.Repeat("n", 101) + `","email":"a@example.com","phone":"+16266633444"}`, []d{{"name", "too_long"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := env.sub(t)
			h := hdrs()
			if c.ct == "form" {
				h = hdrs("Content-Type", "application/x-www-form-urlencoded")
			}
			eb := e.rejects(t, 400, "validation_failed", func() *result { return e.post("/forms/"+c.form, []byte(c.body), h) })
			for _, w := range c.want {
				eb.wantDetail(t, w[0], w[1])
			}
			if len(eb.Details) != len(c.want) {
				t.Errorf("details %+v, want %v", eb.Details, c.want)
			}
		})
	}
}

func TestForms_CORS(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	body := []byte(`{"email":"cors@example.com"}`)
	env.rejects(t, 403, "forbidden", func() *result {
		return env.post("/forms/newsletter", body, hdrs("Origin", "https://evil.example"))
	})
	env.rejects(t, 403, "forbidden", func() *result { // suffix tricks
		return env.post("/forms/newsletter", body, hdrs("Origin", allowedOrigin+".evil.example"))
	})
	pre := func(origin string) *result {
		return env.do("OPTIONS", "/forms/contact", nil, hdrs("Origin", origin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"))
	}
	r := pre(allowedOrigin)
	if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != allowedOrigin ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Fatalf("preflight: %d %v", r.Status, r.Header)
	}
	env.rejects(t, 403, "forbidden", func() *result { return pre("https://evil.example") })
	env.rejects(t, 403, "forbidden", func() *result { return env.do("OPTIONS", "/forms/contact", nil, nil) })
	if env.streamCount() != 0 {
		t.Fatal("stored something")
	}
	// "*" allows any origin.
	star := newTestGateway(t, withConfig(func(c *gateway.Config) { c.CORSOrigins = []string{"*"} }))
	if r := star.post("/forms/newsletter", body, hdrs("Origin", "https://anything.example")); r.Status != 200 ||
		r.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("%d %v", r.Status, r.Header)
	}
}

func TestForms_RateLimit(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t, withConfig(func(c *gateway.Config) { c.FormRate, c.FormBurst = 0.5, 2 }))
	post := func(i int) *result {
		return env.post("/forms/newsletter", []byte(`{"email":"rl`+itoa(i)+`@example.com"}`), nil)
	}
	post(1).wantAccepted(t)
	post(2).wantAccepted(t)
	var r *result
	env.rejects(t, 429, "rate_limited", func() *result { r = post(3); return r })
	if r.Header.Get("Retry-After") != "2" {
		t.Fatalf("Retry-After %q, want 2 (one token per 2 s)", r.Header.Get("Retry-After"))
	}
	// Invalid submissions count too: a flood of garbage is limited as well.
	env.rejects(t, 429, "rate_limited", func() *result { return env.post("/forms/newsletter", []byte(`{`), nil) })
	env.clock.Advance(2 * time.Second)
	post(4).wantAccepted(t)
	env.rejects(t, 429, "rate_limited", func() *result { return post(5) })
}

func TestForms_IdempotencyKey(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	body := []byte(`{"email":"idem@example.com"}`)
	a := env.post("/forms/newsletter", body, hdrs("Idempotency-Key", "sub-1")).wantAccepted(t)
	if a.EventID != "form:newsletter:sub-1" {
		t.Fatalf("%+v", a)
	}
	b := env.post("/forms/newsletter", []byte(`{"email":"idem2@example.com"}`), hdrs("Idempotency-Key", "sub-1")).wantAccepted(t)
	if !b.Duplicate || b.StreamSeq != a.StreamSeq {
		t.Fatalf("%+v", b)
	}
	// submission_id in the body names the event too.
	c := env.post("/forms/newsletter", []byte(`{"email":"s@example.com","submission_id":"web-9"}`), nil).wantAccepted(t)
	d := env.post("/forms/newsletter", []byte(`{"submission_id":"web-9","email":"s@example.com"}`), nil).wantAccepted(t)
	if c.EventID != "form:newsletter:web-9" || !d.Duplicate {
		t.Fatalf("%+v %+v", c, d)
	}
	// Without either, the same bytes are one event, other bytes another.
	e1 := env.post("/forms/newsletter", []byte(`{"email":"h@example.com"}`), nil).wantAccepted(t)
	e2 := env.post("/forms/newsletter", []byte(`{"email":"h@example.com"}`), nil).wantAccepted(t)
	e3 := env.post("/forms/contact", []byte(`{"email":"h@example.com","name":"H","message":"m"}`), nil).wantAccepted(t)
	if !e2.Duplicate || e1.EventID != e2.EventID || e3.Duplicate || !strings.HasPrefix(e1.EventID, "form:newsletter:sha256:") {
		t.Fatalf("%+v %+v %+v", e1, e2, e3)
	}
	if n := env.streamCount(); n != 4 { // sub-1, web-9, h, contact h
		t.Fatalf("%d messages, want 4", n)
	}
}
