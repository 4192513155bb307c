package gateway_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/streams"
)

func stripeFixture(t testing.TB) []byte {
	return readFixture(t, "stripe/payment_intent.succeeded.json")
}

// TestStripe_Accepted: a signed fixture is stored with its subject, headers
// and unchanged bytes, and the answer is exactly the documented body.
func TestStripe_Accepted(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	body := stripeFixture(t)
	r := env.postStripe(body, stripeSecret, env.clock.Now())
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var got map[string]any
	mustJSON(t, r.Body, &got)
	want := map[string]any{"accepted": true, "event_id": "stripe:evt_3SHk2aB7WZ01zgkW0succ001", "duplicate": false, "stream_seq": float64(1)}
	if len(got) != len(want) {
		t.Fatalf("answer %s", r.Body)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("answer %s: %s = %v, want %v", r.Body, k, got[k], v)
		}
	}
	m := env.lastMsg("ingest.stripe.payment_intent.succeeded")
	if !bytes.Equal(m.Data, body) {
		t.Fatal("stored body differs from the signed bytes")
	}
	for k, v := range map[string]string{
		"Nats-Msg-Id":               "stripe:evt_3SHk2aB7WZ01zgkW0succ001",
		streams.HdrSource:           "stripe",
		streams.HdrWorkspaceID:      "default",
		streams.HdrStripeAPIVersion: "2023-10-16",
		streams.HdrEventType:        "payment_intent.succeeded",
		streams.HdrContentType:      "application/json",
		streams.HdrReceivedAt:       t0.Format(time.RFC3339Nano),
		streams.HdrRemoteAddr:       "127.0.0.1",
		streams.HdrUserAgent:        "Go-http-client/1.1",
	} {
		if got := m.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if got := m.Header.Get(streams.HdrWebhookID); got != "" {
		t.Errorf("%s = %q on a global route", streams.HdrWebhookID, got)
	}
	if r.Header.Get("X-Request-Id") == "" || r.Header.Get("X-Request-Id") != m.Header.Get(streams.HdrRequestID) {
		t.Errorf("request id %q vs stored %q", r.Header.Get("X-Request-Id"), m.Header.Get(streams.HdrRequestID))
	}
}

// TestStripe_OtherAPIVersion: events rendered with another API version are
// accepted and the version recorded.
func TestStripe_OtherAPIVersion(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	for _, v := range []string{"2024-06-20", "2025-03-31.basil", "2019-02-19"} {
		body := bytes.Replace(stripeFixture(t), []byte(`"2023-10-16"`), []byte(`"`+v+`"`), 1)
		body = bytes.Replace(body, []byte("evt_3SHk2aB7WZ01zgkW0succ001"), []byte("evt_v"+strings.NewReplacer("-", "", ".", "").Replace(v)), 1)
		a := env.postStripe(body, stripeSecret, env.clock.Now()).wantAccepted(t)
		if got := env.msgAt(a.StreamSeq).Header.Get(streams.HdrStripeAPIVersion); got != v {
			t.Fatalf("recorded version %q, want %q", got, v)
		}
	}
}

// TestStripe_Duplicate: the same event twice is one stream message; the
// second answer says duplicate:true with the first one's sequence.
func TestStripe_Duplicate(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	body := stripeFixture(t)
	a := env.postStripe(body, stripeSecret, env.clock.Now()).wantAccepted(t)
	env.clock.Advance(time.Minute) // Stripe re-signs a retry with a new t=
	b := env.postStripe(body, stripeSecret, env.clock.Now()).wantAccepted(t)
	if a.Duplicate || !b.Duplicate || a.StreamSeq != b.StreamSeq || a.EventID != b.EventID {
		t.Fatalf("first %+v second %+v", a, b)
	}
	if n := env.streamCount(); n != 1 {
		t.Fatalf("INGEST holds %d messages, want 1", n)
	}
	if !strings.Contains(env.metricsText(), `hookstream_duplicates_total{route="stripe"} 1`) {
		t.Error("duplicate not counted")
	}
}

// TestStripe_Rejected: replayed, stale, future, garbled and missing
// signatures are 401 and store nothing.
func TestStripe_Rejected(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	body := stripeFixture(t)
	now := env.clock.Now()
	good := stripeHeader(stripeSecret, now, body)
	other := bytes.Replace(body, []byte("149900"), []byte("100"), 1)
	cases := []struct {
		name, header, code string
		body               []byte
	}{
		{"replayed header with another body", good, "invalid_signature", other},
		{"stale", stripeHeader(stripeSecret, now.Add(-301*time.Second), body), "stale_timestamp", body},
		{"future", stripeHeader(stripeSecret, now.Add(301*time.Second), body), "stale_timestamp", body},
		{"wrong secret", stripeHeader("whsec_wrong", now, body), "invalid_signature", body},
		{"missing", "", "invalid_signature", body},
		{"garbled", "garbage", "invalid_signature", body},
		{"no t=", "v1=" + strings.Repeat("ab", 32), "stale_timestamp", body},
		{"two t=", "t=1," + good, "invalid_signature", body},
		{"v0 only", strings.Replace(good, "v1=", "v0=", 1), "invalid_signature", body},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := env.sub(t)
			h := hdrs("Stripe-Signature", c.header)
			if c.header == "" {
				h = nil
			}
			e.rejects(t, 401, c.code, func() *result { return e.post("/webhooks/stripe", c.body, h) })
		})
	}
	// Just inside the tolerance on both sides is fine.
	env.postStripe(body, stripeSecret, now.Add(-299*time.Second)).wantAccepted(t)
	b2 := bytes.Replace(body, []byte("evt_3SHk2aB7WZ01zgkW0succ001"), []byte("evt_future_ok"), 1)
	env.postStripe(b2, stripeSecret, now.Add(299*time.Second)).wantAccepted(t)
}

// TestStripe_SecretRotation: STRIPE_WEBHOOK_SECRET may list several secrets;
// any verifies, and a header with several v1 entries passes if one matches.
func TestStripe_SecretRotation(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t, withConfig(func(c *gateway.Config) {
		c.StripeSecrets = verify.SplitSecrets(stripeSecret + ", " + stripeOldSecret)
	}))
	body := stripeFixture(t)
	failed := readFixture(t, "stripe/payment_intent.payment_failed.json")
	now := env.clock.Now()
	env.postStripe(body, stripeSecret, now).wantAccepted(t)
	a := env.postStripe(failed, stripeOldSecret, now).wantAccepted(t)
	if a.EventID != "stripe:evt_3SHk2aB7WZ01zgkW0fail001" {
		t.Fatalf("%+v", a)
	}
	if env.lastMsg("ingest.stripe.payment_intent.payment_failed") == nil {
		t.Fatal("no message")
	}
	// Stripe's own rotation: one header, a v1 per secret, first one unknown.
	b3 := bytes.Replace(body, []byte("evt_3SHk2aB7WZ01zgkW0succ001"), []byte("evt_multi_v1"), 1)
	h := stripeHeader(stripeOldSecret, now, b3)
	unknown := stripeHeader("whsec_retired", now, b3)
	_, unknownSig, _ := strings.Cut(unknown, ",")
	env.post("/webhooks/stripe", b3, hdrs("Stripe-Signature", strings.Replace(h, ",", ","+unknownSig+",", 1))).wantAccepted(t)
	env.rejects(t, 401, "invalid_signature", func() *result {
		return env.postStripe(b3, "whsec_retired", now)
	})
}

// TestStripe_NotConfigured fails closed: no secret → 503, nothing stored.
func TestStripe_NotConfigured(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t, withConfig(func(c *gateway.Config) { c.StripeSecrets = nil }))
	body := stripeFixture(t)
	env.rejects(t, 503, "verification_unavailable", func() *result { return env.postStripe(body, stripeSecret, env.clock.Now()) })
	env.rejects(t, 503, "verification_unavailable", func() *result { return env.post("/webhooks/stripe", body, nil) })
}

// TestStripe_SignedNonEvent: a correctly signed body that is not a usable
// event (no id/type, a type unfit for a subject) is 400, never stored.
func TestStripe_SignedNonEvent(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	now := env.clock.Now()
	for _, c := range []struct {
		name string
		body string
	}{
		{"no id", `{"object":"event","type":"payment_intent.succeeded"}`},
		{"no type", `{"id":"evt_1","object":"event"}`},
		{"wildcard type", `{"id":"evt_2","object":"event","type":"payment_intent.>"}`},
		{"space in type", `{"id":"evt_3","object":"event","type":"a b"}`},
		{"array", `[{"id":"evt_4","type":"x"}]`},
		{"not JSON", `id=evt_5`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := env.sub(t)
			e.rejects(t, 400, "invalid_payload", func() *result { return e.postStripe([]byte(c.body), stripeSecret, now) })
		})
	}
}
