package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/internal/testutil"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

// leadBody is the lead vendor fixture (firstname, phone_number, email…).
func leadBody(t testing.TB) []byte { return readFixture(t, "lead-vendor.json") }

// TestWebhook_Schemes covers every per-webhook scheme with valid and invalid
// requests. Valid ones must be stored; invalid ones must not.
func TestWebhook_Schemes(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	stdSecret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stdBare := strings.TrimPrefix(stdSecret, "whsec_")
	otherStd, _ := verify.GenerateStandardSecret()
	now := env.clock.Now()

	type tc struct {
		name   string
		wh     webhooksdb.Webhook
		sign   func(body []byte) http.Header
		status int
		code   string
	}
	std := webhooksdb.Webhook{AuthScheme: "standard", Secrets: secrets(stdSecret)}
	stdNoPrefix := webhooksdb.Webhook{AuthScheme: "standard", Secrets: secrets(stdBare)}
	stdTwo := webhooksdb.Webhook{AuthScheme: "standard", Secrets: secrets(otherStd, stdSecret)}
	hmacHex := webhooksdb.Webhook{AuthScheme: "hmac", Secrets: secrets("hmac-secret")}
	hmacB64 := webhooksdb.Webhook{AuthScheme: "hmac", Secrets: secrets("hmac-secret"), AuthEncoding: "base64"}
	hmacHdr := webhooksdb.Webhook{AuthScheme: "hmac", Secrets: secrets("hmac-secret"), AuthHeader: "X-Vendor-Signature"}
	token := webhooksdb.Webhook{AuthScheme: "token", Secrets: secrets("tok-123")}
	tokenHdr := webhooksdb.Webhook{AuthScheme: "token", Secrets: secrets("tok-123"), AuthHeader: "X-Api-Key"}
	basic := webhooksdb.Webhook{AuthScheme: "basic", Secrets: secrets("vendor:s3cr3t:with:colons")}
	none := webhooksdb.Webhook{AuthScheme: "none"}

	cases := []tc{
		{"standard/valid", std, func(b []byte) http.Header { return signStandard(stdSecret, "msg_1", now, b) }, 200, ""},
		{"standard/secret without whsec_ prefix, signed with prefix", stdNoPrefix, func(b []byte) http.Header { return signStandard(stdSecret, "msg_2", now, b) }, 200, ""},
		{"standard/secret with prefix, signed without", std, func(b []byte) http.Header { return signStandard(stdBare, "msg_3", now, b) }, 200, ""},
		{"standard/several signatures, last valid", std, func(b []byte) http.Header {
			h := signStandard(stdSecret, "msg_4", now, b)
			h.Set("webhook-signature", "v1,Zm9vYmFy v1a,c2lnbmF0dXJl v1,not-base64!! "+h.Get("webhook-signature"))
			return h
		}, 200, ""},
		{"standard/second of two stored secrets", stdTwo, func(b []byte) http.Header { return signStandard(stdSecret, "msg_5", now, b) }, 200, ""},
		{"standard/wrong secret", std, func(b []byte) http.Header { return signStandard(otherStd, "msg_6", now, b) }, 401, "invalid_signature"},
		{"standard/missing signature", std, func(b []byte) http.Header {
			h := signStandard(stdSecret, "msg_7", now, b)
			h.Del("webhook-signature")
			return h
		}, 401, "invalid_signature"},
		{"standard/only unsigned versions", std, func(b []byte) http.Header {
			h := signStandard(stdSecret, "msg_8", now, b)
			h.Set("webhook-signature", "v2,"+strings.TrimPrefix(h.Get("webhook-signature"), "v1,"))
			return h
		}, 401, "invalid_signature"},
		{"standard/other id than signed", std, func(b []byte) http.Header {
			h := signStandard(stdSecret, "msg_9", now, b)
			h.Set("webhook-id", "msg_other")
			return h
		}, 401, "invalid_signature"},
		{"standard/stale timestamp", std, func(b []byte) http.Header { return signStandard(stdSecret, "msg_10", now.Add(-6*time.Minute), b) }, 401, "stale_timestamp"},
		{"standard/future timestamp", std, func(b []byte) http.Header { return signStandard(stdSecret, "msg_11", now.Add(6*time.Minute), b) }, 401, "stale_timestamp"},
		{"standard/just inside tolerance", std, func(b []byte) http.Header { return signStandard(stdSecret, "msg_12", now.Add(-299*time.Second), b) }, 200, ""},
		{"hmac/hex, default header", hmacHex, func(b []byte) http.Header { return hdrs("X-Signature", hexMAC("hmac-secret", b)) }, 200, ""},
		{"hmac/hex with sha256= prefix", hmacHex, func(b []byte) http.Header { return hdrs("X-Signature", "sha256="+hexMAC("hmac-secret", b)) }, 200, ""},
		{"hmac/upper-case hex", hmacHex, func(b []byte) http.Header { return hdrs("X-Signature", strings.ToUpper(hexMAC("hmac-secret", b))) }, 200, ""},
		{"hmac/base64", hmacB64, func(b []byte) http.Header { return hdrs("X-Signature", b64MAC("hmac-secret", b)) }, 200, ""},
		{"hmac/base64 with sha256= prefix", hmacB64, func(b []byte) http.Header { return hdrs("X-Signature", "sha256="+b64MAC("hmac-secret", b)) }, 200, ""},
		{"hmac/custom header", hmacHdr, func(b []byte) http.Header { return hdrs("X-Vendor-Signature", hexMAC("hmac-secret", b)) }, 200, ""},
		{"hmac/custom header, signature in default header", hmacHdr, func(b []byte) http.Header { return hdrs("X-Signature", hexMAC("hmac-secret", b)) }, 401, "invalid_signature"},
		{"hmac/hex where base64 configured", hmacB64, func(b []byte) http.Header { return hdrs("X-Signature", hexMAC("hmac-secret", b)) }, 401, "invalid_signature"},
		{"hmac/wrong secret", hmacHex, func(b []byte) http.Header { return hdrs("X-Signature", hexMAC("other", b)) }, 401, "invalid_signature"},
		{"hmac/other body", hmacHex, func(b []byte) http.Header { return hdrs("X-Signature", hexMAC("hmac-secret", append(b, ' '))) }, 401, "invalid_signature"},
		{"hmac/missing", hmacHex, func([]byte) http.Header { return nil }, 401, "invalid_signature"},
		{"hmac/garbled", hmacHex, func([]byte) http.Header { return hdrs("X-Signature", "sha256=zzzz") }, 401, "invalid_signature"},
		{"token/bearer", token, func([]byte) http.Header { return hdrs("Authorization", "Bearer tok-123") }, 200, ""},
		{"token/bearer lower-case scheme", token, func([]byte) http.Header { return hdrs("Authorization", "bearer tok-123") }, 200, ""},
		{"token/wrong", token, func([]byte) http.Header { return hdrs("Authorization", "Bearer tok-124") }, 401, "invalid_signature"},
		{"token/prefix of the token", token, func([]byte) http.Header { return hdrs("Authorization", "Bearer tok-12") }, 401, "invalid_signature"},
		{"token/basic instead of bearer", token, func([]byte) http.Header { return hdrs("Authorization", basicAuth("tok-123", "x")) }, 401, "invalid_signature"},
		{"token/missing", token, func([]byte) http.Header { return nil }, 401, "invalid_signature"},
		{"token/custom header", tokenHdr, func([]byte) http.Header { return hdrs("X-Api-Key", "tok-123") }, 200, ""},
		{"token/custom header configured, bearer sent", tokenHdr, func([]byte) http.Header { return hdrs("Authorization", "Bearer tok-123") }, 401, "invalid_signature"},
		{"basic/valid", basic, func([]byte) http.Header { return hdrs("Authorization", basicAuth("vendor", "s3cr3t:with:colons")) }, 200, ""},
		{"basic/wrong password", basic, func([]byte) http.Header { return hdrs("Authorization", basicAuth("vendor", "s3cr3t")) }, 401, "invalid_signature"},
		{"basic/wrong user", basic, func([]byte) http.Header { return hdrs("Authorization", basicAuth("vendor2", "s3cr3t:with:colons")) }, 401, "invalid_signature"},
		{"basic/not base64", basic, func([]byte) http.Header { return hdrs("Authorization", "Basic ***") }, 401, "invalid_signature"},
		{"basic/missing", basic, func([]byte) http.Header { return nil }, 401, "invalid_signature"},
		{"basic/bearer instead", basic, func([]byte) http.Header { return hdrs("Authorization", "Bearer vendor:s3cr3t:with:colons") }, 401, "invalid_signature"},
		{"none/no credentials", none, func([]byte) http.Header { return nil }, 200, ""},
	}
	body := leadBody(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := env.sub(t)
			wh := e.createWebhook(c.wh)
			path := "/webhooks/" + wh.ID
			if c.status != http.StatusOK {
				e.rejects(t, c.status, c.code, func() *result { return e.post(path, body, c.sign(body)) })
				return
			}
			before := e.streamCount()
			a := e.post(path, body, c.sign(body)).wantAccepted(t)
			if a.Duplicate || e.streamCount() != before+1 {
				t.Fatalf("not stored once: %+v, count %d→%d", a, before, e.streamCount())
			}
			m := e.msgAt(a.StreamSeq)
			if m.Subject != "ingest.webhook."+wh.ID {
				t.Fatalf("subject %q", m.Subject)
			}
			if !bytes.Equal(m.Data, body) {
				t.Fatalf("stored body differs from the request body")
			}
			for k, want := range map[string]string{
				streams.HdrSource:      "webhook",
				streams.HdrWebhookID:   wh.ID,
				streams.HdrWorkspaceID: workspace,
				streams.HdrContentType: "application/json",
				streams.HdrReceivedAt:  t0.Format(time.RFC3339Nano),
				streams.HdrMsgID:       a.EventID,
				streams.HdrRemoteAddr:  "127.0.0.1",
			} {
				if got := m.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if m.Header.Get(streams.HdrRequestID) == "" {
				t.Errorf("no %s", streams.HdrRequestID)
			}
			if id := c.sign(body).Get("webhook-id"); id != "" && a.EventID != "wh:"+wh.ID+":"+id {
				t.Errorf("event id %q, want the sender's webhook-id", a.EventID)
			}
		})
	}
}

// TestWebhook_StandardKnownAnswer runs the Standard Webhooks spec vector
// through the gateway with the clock at the vector's timestamp. The vector's
// body ({"test": …}) is no lead, so a passing signature shows up as 400
// validation_failed, while the real clock makes the same request stale.
func TestWebhook_StandardKnownAnswer(t *testing.T) {
	t.Parallel()
	var v map[string]string
	env := newTestGateway(t)
	mustJSON(t, readFixture(t, "standard-webhooks.json"), &v)
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "standard", Secrets: secrets(v["secret"])})
	h := hdrs("webhook-id", v["webhook-id"], "webhook-timestamp", v["webhook-timestamp"], "webhook-signature", v["webhook-signature"])
	path := "/webhooks/" + wh.ID

	env.rejects(t, 401, "stale_timestamp", func() *result { return env.post(path, []byte(v["body"]), h) })
	ts, _ := time.Parse(time.RFC3339, "2021-02-25T15:02:10Z")
	env.clock.Set(ts) // 1614265330
	eb := env.rejects(t, 400, "validation_failed", func() *result { return env.post(path, []byte(v["body"]), h) })
	eb.wantDetail(t, "email", "required")
	env.rejects(t, 401, "invalid_signature", func() *result { return env.post(path, []byte(`{"test": 2432232315}`), h) })
	// The same signed request carrying a lead is accepted at that instant.
	lead := []byte(`{"email":"a@example.com"}`)
	env.post(path, lead, signStandard(v["secret"], v["webhook-id"], ts, lead)).wantAccepted(t)
}

// TestWebhook_Rotation: after RotateSecret the old and new secrets both verify
// during the grace period; afterwards only the new one does. The cache entry
// must expire at the old secret's expiry (grace < TTL), not at its TTL.
func TestWebhook_Rotation(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t, withListen())
	type scheme struct {
		name     string
		wh       webhooksdb.Webhook
		newValue string
		sign     func(secret string, body []byte, now time.Time) http.Header
	}
	stdOld, _ := verify.GenerateStandardSecret()
	stdNew, _ := verify.GenerateStandardSecret()
	n := 0
	schemes := []scheme{
		{"standard", webhooksdb.Webhook{AuthScheme: "standard", Secrets: secrets(stdOld)}, stdNew,
			func(s string, b []byte, now time.Time) http.Header {
				n++
				return signStandard(s, "msg_rot_"+strconv.Itoa(n), now, b)
			}},
		{"hmac", webhooksdb.Webhook{AuthScheme: "hmac", Secrets: secrets("old-hmac")}, "new-hmac",
			func(s string, b []byte, _ time.Time) http.Header { return hdrs("X-Signature", hexMAC(s, b)) }},
		{"token", webhooksdb.Webhook{AuthScheme: "token", Secrets: secrets("old-token")}, "new-token",
			func(s string, _ []byte, _ time.Time) http.Header { return hdrs("Authorization", "Bearer "+s) }},
		{"basic", webhooksdb.Webhook{AuthScheme: "basic", Secrets: secrets("u:old-pass")}, "u:new-pass",
			func(s string, _ []byte, _ time.Time) http.Header {
				u, p, _ := strings.Cut(s, ":")
				return hdrs("Authorization", basicAuth(u, p))
			}},
	}
	for _, sc := range schemes {
		t.Run(sc.name, func(t *testing.T) {
			e := env.sub(t)
			wh := e.createWebhook(sc.wh)
			old := sc.wh.Secrets[0].Value
			path := "/webhooks/" + wh.ID
			i := 0
			body := func() []byte { // distinct bodies: hashed dedup ids differ
				i++
				return []byte(`{"email":"rot` + strconv.Itoa(i) + `@example.com"}`)
			}
			b := body()
			e.post(path, b, sc.sign(old, b, e.clock.Now())).wantAccepted(t) // caches the entry

			const grace = 30 * time.Second // shorter than the 60 s cache TTL
			if _, err := e.store.RotateSecret(context.Background(), wh.ID, sc.newValue, grace, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			// NOTIFY invalidates the cached entry; the fake clock does not move.
			testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				b := body()
				if r := e.post(path, b, sc.sign(sc.newValue, b, e.clock.Now())); r.Status != 200 {
					return errors.New("new secret not accepted yet: " + string(r.Body))
				}
				return nil
			})
			b = body()
			e.post(path, b, sc.sign(old, b, e.clock.Now())).wantAccepted(t) // grace: old still valid

			e.clock.Advance(grace - time.Second)
			b = body()
			e.post(path, b, sc.sign(old, b, e.clock.Now())).wantAccepted(t)

			e.clock.Advance(2 * time.Second) // past the expiry, still inside the TTL
			b = body()
			e.rejects(t, 401, "invalid_signature", func() *result { return e.post(path, b, sc.sign(old, b, e.clock.Now())) })
			b = body()
			e.post(path, b, sc.sign(sc.newValue, b, e.clock.Now())).wantAccepted(t)
		})
	}
}

// TestWebhook_RotationWithoutNotify: without the listener, a rotated webhook
// still switches when its cached entry's TTL ends (and a stored expiry bounds
// the entry's life on its own).
func TestWebhook_RotationWithoutNotify(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	exp := t0.Add(10 * time.Second)
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "token", Secrets: []webhooksdb.Secret{
		{Value: "new"}, {Value: "old", ExpiresAt: &exp},
	}})
	path := "/webhooks/" + wh.ID
	env.post(path, []byte(`{"email":"a1@example.com"}`), hdrs("Authorization", "Bearer old")).wantAccepted(t)
	env.post(path, []byte(`{"email":"a2@example.com"}`), hdrs("Authorization", "Bearer new")).wantAccepted(t)
	env.clock.Advance(10 * time.Second)
	env.rejects(t, 401, "invalid_signature", func() *result {
		return env.post(path, []byte(`{"email":"a3@example.com"}`), hdrs("Authorization", "Bearer old"))
	})

	if _, err := env.store.RotateSecret(context.Background(), wh.ID, "newest", time.Hour, env.clock.Now()); err != nil {
		t.Fatal(err)
	}
	env.rejects(t, 401, "invalid_signature", func() *result { // cached until the TTL ends
		return env.post(path, []byte(`{"email":"a4@example.com"}`), hdrs("Authorization", "Bearer newest"))
	})
	env.clock.Advance(env.cfg.WebhookCacheTTL)
	env.post(path, []byte(`{"email":"a5@example.com"}`), hdrs("Authorization", "Bearer newest")).wantAccepted(t)
	env.post(path, []byte(`{"email":"a6@example.com"}`), hdrs("Authorization", "Bearer new")).wantAccepted(t)
}

// TestWebhook_FailsClosed: a webhook whose stored scheme is unknown, or whose
// scheme lacks its secret, is refused with 503 verification_unavailable and
// nothing is published, whatever the request carries.
func TestWebhook_FailsClosed(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	body := leadBody(t)
	for _, wh := range []webhooksdb.Webhook{
		{AuthScheme: "rsa", Secrets: secrets("x")},
		{AuthScheme: "", Secrets: secrets("x")},
		{AuthScheme: "NONE"},
		{AuthScheme: "basic"}, // no credentials stored
		{AuthScheme: "hmac", Secrets: secrets("k"), AuthEncoding: "base32"},
		{AuthScheme: "standard", Secrets: secrets("whsec_***not base64***")},
	} {
		t.Run(wh.AuthScheme+"/"+wh.AuthEncoding, func(t *testing.T) {
			e := env.sub(t)
			// Insert directly: Create would generate secrets for known schemes.
			w := e.createWebhook(wh)
			for _, h := range []http.Header{nil, hdrs("Authorization", "Bearer x"), hdrs("X-Signature", hexMAC("x", body))} {
				e.rejects(t, 503, "verification_unavailable", func() *result { return e.post("/webhooks/"+w.ID, body, h) })
			}
		})
	}
}

// TestWebhook_UnknownAndInactive: unknown ids and disabled webhooks are 404.
func TestWebhook_UnknownAndInactive(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	body := leadBody(t)
	env.rejects(t, 404, "not_found", func() *result { return env.post("/webhooks/wh_doesnotexist", body, nil) })
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "none"})
	if _, err := env.store.SetActive(context.Background(), wh.ID, false); err != nil {
		t.Fatal(err)
	}
	env.rejects(t, 404, "not_found", func() *result { return env.post("/webhooks/"+wh.ID, body, nil) })
	// An id created after a 404 was cached appears once the short negative
	// entry ends.
	late := webhooksdb.Webhook{ID: webhooksdb.NewWebhookID(), AuthScheme: "none"}
	env.rejects(t, 404, "not_found", func() *result { return env.post("/webhooks/"+late.ID, body, nil) })
	env.createWebhook(late)
	env.clock.Advance(6 * time.Second)
	env.post("/webhooks/"+late.ID, body, nil).wantAccepted(t)
}

// TestWebhook_DisableTakesEffectAtOnce: SetActive(false) is announced by
// NOTIFY and the cached entry dropped; the fake clock never moves, so the TTL
// cannot be what makes it work.
func TestWebhook_DisableTakesEffectAtOnce(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t, withListen())
	body := leadBody(t)
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "token", Secrets: secrets("tok")})
	path := "/webhooks/" + wh.ID
	h := hdrs("Authorization", "Bearer tok")
	env.post(path, body, h).wantAccepted(t)
	if _, err := env.store.SetActive(context.Background(), wh.ID, false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testutil.CheckFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if r := env.post(path, body, h); r.Status != 404 {
			return errors.New("still answering " + http.StatusText(r.Status))
		}
		return nil
	})
	t.Logf("disabled after %v", time.Since(start))
	env.rejects(t, 404, "not_found", func() *result { return env.post(path, []byte(`{"email":"other@example.com"}`), h) })
	if _, err := env.store.SetActive(context.Background(), wh.ID, true); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if r := env.post(path, body, h); r.Status != 200 {
			return errors.New("not re-enabled: " + string(r.Body))
		}
		return nil
	})
}

// TestWebhook_RateLimit: a webhook's own limit answers 429 with Retry-After.
func TestWebhook_RateLimit(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "none", RateLimit: 1}) // burst 2
	path := "/webhooks/" + wh.ID
	env.post(path, []byte(`{"email":"r1@example.com"}`), nil).wantAccepted(t)
	env.post(path, []byte(`{"email":"r2@example.com"}`), nil).wantAccepted(t)
	var r *result
	env.rejects(t, 429, "rate_limited", func() *result {
		r = env.post(path, []byte(`{"email":"r3@example.com"}`), nil)
		return r
	})
	if ra := r.Header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q, want 1", ra)
	}
	env.clock.Advance(time.Second)
	env.post(path, []byte(`{"email":"r5@example.com"}`), nil).wantAccepted(t)
}

// TestWebhook_Dedup: the sender's webhook-id, else Idempotency-Key, else the
// body hash names the event; repeats are duplicates, not new messages.
func TestWebhook_Dedup(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "none"})
	path := "/webhooks/" + wh.ID
	body := leadBody(t)

	a := env.post(path, body, nil).wantAccepted(t)
	if !strings.HasPrefix(a.EventID, "wh:"+wh.ID+":sha256:") {
		t.Fatalf("event id %q", a.EventID)
	}
	b := env.post(path, body, nil).wantAccepted(t)
	if !b.Duplicate || b.StreamSeq != a.StreamSeq || b.EventID != a.EventID {
		t.Fatalf("second post: %+v, first %+v", b, a)
	}
	k := env.post(path, body, hdrs("Idempotency-Key", "order-77")).wantAccepted(t)
	if k.EventID != "wh:"+wh.ID+":order-77" || k.Duplicate {
		t.Fatalf("%+v", k)
	}
	if m := env.msgAt(k.StreamSeq); m.Header.Get(streams.HdrIdempotencyKey) != "order-77" {
		t.Fatalf("idempotency key header %q", m.Header.Get(streams.HdrIdempotencyKey))
	}
	k2 := env.post(path, []byte(`{"email":"changed@example.com"}`), hdrs("Idempotency-Key", "order-77")).wantAccepted(t)
	if !k2.Duplicate {
		t.Fatalf("same Idempotency-Key not a duplicate: %+v", k2)
	}
	if n := env.streamCount(); n != 2 {
		t.Fatalf("INGEST holds %d, want 2", n)
	}
}

// TestWebhook_FormEncoded: lead vendors may post url-encoded forms; the raw
// bytes and content type are stored unchanged.
func TestWebhook_FormEncoded(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "hmac", Secrets: secrets("k")})
	body := []byte("first_name=Ana&email=ana%40example.com&phone=%2B16266633444")
	h := hdrs("Content-Type", "application/x-www-form-urlencoded", "X-Signature", hexMAC("k", body))
	a := env.post("/webhooks/"+wh.ID, body, h).wantAccepted(t)
	m := env.msgAt(a.StreamSeq)
	if !bytes.Equal(m.Data, body) || m.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Fatalf("stored %q %q", m.Data, m.Header.Get("Content-Type"))
	}
}

// TestWebhook_FieldMapping: validation uses the webhook's mapping, so a
// vendor's own field names count.
func TestWebhook_FieldMapping(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "none",
		FieldMapping: map[string]string{"contact.mail": "email", "contact.tel": "phone"}})
	path := "/webhooks/" + wh.ID
	env.post(path, []byte(`{"contact":{"mail":"m@example.com"}}`), nil).wantAccepted(t)
	// With a mapping only mapped fields count: a top-level email is ignored.
	eb := env.rejects(t, 400, "validation_failed", func() *result { return env.post(path, []byte(`{"email":"m@example.com"}`), nil) })
	eb.wantDetail(t, "email", "required")
	eb = env.rejects(t, 400, "validation_failed", func() *result {
		return env.post(path, []byte(`{"contact":{"mail":"not-an-email","tel":"12"}}`), nil)
	})
	eb.wantDetail(t, "email", "invalid_email")
	eb.wantDetail(t, "phone", "invalid_phone")
}
