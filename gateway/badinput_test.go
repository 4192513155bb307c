package gateway_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

// badEnv is the bad-input table's gateway with one webhook per scheme it needs.
type badEnv struct {
	*testEnv
	none, hmac, std *webhooksdb.Webhook
}

const (
	badHMACSecret = "bad-input-hmac"
	badStdSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// badCase is one hostile or malformed request. path may hold {none}, {hmac}
// or {std} for the ids of the table's webhooks. sign, when set, adds
// headers computed over the body (so the request reaches the checks after
// verification). ct "" means application/json, "-" means no Content-Type.
type badCase struct {
	name   string
	method string
	path   string
	ct     string
	body   []byte
	hdr    []string
	sign   func(e *badEnv, body []byte) http.Header
	status int
	code   string                                        // JSON error code; "" for a 2xx
	detail [2]string                                     // optional {field, code} expected in details
	allow  string                                        // expected Allow header (405)
	check  func(t testing.TB, m *jetstream.RawStreamMsg) // 2xx: the stored message
}

func signHMAC(e *badEnv, b []byte) http.Header { return hdrs("X-Signature", hexMAC(badHMACSecret, b)) }

func signStd(ts time.Duration) func(e *badEnv, b []byte) http.Header {
	return func(e *badEnv, b []byte) http.Header {
		return signStandard(badStdSecret, "msg_bad_"+time.Now().Format("150405.000000000"), e.clock.Now().Add(ts), b)
	}
}

func signStripe(ts time.Duration) func(e *badEnv, b []byte) http.Header {
	return func(e *badEnv, b []byte) http.Header {
		return hdrs("Stripe-Signature", stripeHeader(stripeSecret, e.clock.Now().Add(ts), b))
	}
}

func signFB(e *badEnv, b []byte) http.Header {
	return hdrs("X-Hub-Signature-256", "sha256="+hexMAC(fbAppSecret, b))
}

func signML(e *badEnv, b []byte) http.Header { return hdrs("Signature", hexMAC(mailerLiteSecret, b)) }

// nested returns {"a": [[[…]]]} with depth array levels.
func nested(depth int) []byte {
	return []byte(`{"email":"deep@example.com","a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
}

func manyFields(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"email":"many@example.com"`)
	for i := 0; i < n; i++ {
		b.WriteString(`,"f` + strings.Repeat("x", 3) + itoa(i) + `":1`)
	}
	b.WriteString("}")
	return []byte(b.String())
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for ; i > 0; i /= 10 {
		d = append([]byte{byte('0' + i%10)}, d...)
	}
	return string(d)
}

func badInputCases(lead []byte) []badCase {
	okLead := []byte(`{"email":"ok@example.com","first_name":"Ok"}`)
	return []badCase{
		// Syntax.
		{name: "malformed JSON", path: "/webhooks/{none}", body: []byte(`{"email":`), status: 400, code: "malformed_body"},
		{name: "truncated JSON", path: "/webhooks/{none}", body: lead[:len(lead)/2], status: 400, code: "malformed_body"},
		{name: "trailing garbage", path: "/webhooks/{none}", body: []byte(`{"email":"a@example.com"} x`), status: 400, code: "malformed_body"},
		{name: "two JSON objects", path: "/webhooks/{none}", body: []byte(`{"email":"a@example.com"}{"email":"b@example.com"}`), status: 400, code: "malformed_body"},
		{name: "single-quoted JSON", path: "/webhooks/{none}", body: []byte(`{'email':'a@example.com'}`), status: 400, code: "malformed_body"},
		{name: "invalid UTF-8 in JSON", path: "/webhooks/{none}", body: []byte("{\"email\":\"a@example.com\",\"name\":\"\xff\xfe\"}"), status: 400, code: "malformed_body"},
		{name: "overlong UTF-8 in JSON", path: "/webhooks/{none}", body: []byte("{\"email\":\"a@example.com\",\"name\":\"\xc0\xaf\"}"), status: 400, code: "malformed_body"},
		{name: "invalid UTF-8 in form", path: "/webhooks/{none}", ct: "application/x-www-form-urlencoded", body: []byte("email=a%40example.com&name=\xff"), status: 400, code: "malformed_body"},
		{name: "escaped invalid UTF-8 in form", path: "/webhooks/{none}", ct: "application/x-www-form-urlencoded", body: []byte("email=a%40example.com&name=%ff"), status: 400, code: "malformed_body"},
		{name: "bad percent escape in form", path: "/webhooks/{none}", ct: "application/x-www-form-urlencoded", body: []byte("email=a%zz"), status: 400, code: "malformed_body"},
		{name: "lone surrogate escape", path: "/webhooks/{none}", body: []byte(`{"email":"a@example.com","name":"\ud800"}`), status: 400, code: "malformed_body"},
		{name: "raw NUL byte in JSON string", path: "/webhooks/{none}", body: []byte("{\"email\":\"a@example.com\",\"first_name\":\"a\x00b\"}"), status: 400, code: "malformed_body"},
		{name: "10,000-deep nesting", path: "/webhooks/{none}", body: nested(10_000), status: 400, code: "malformed_body"},
		{name: "40-deep nesting", path: "/webhooks/{none}", body: nested(40), status: 400, code: "invalid_payload"},
		{name: "duplicate keys", path: "/webhooks/{none}", body: []byte(`{"email":"a@example.com","email":"b@example.com"}`), status: 400, code: "invalid_payload"},
		{name: "too many fields", path: "/webhooks/{none}", body: manyFields(1001), status: 400, code: "invalid_payload"},
		{name: "key too long", path: "/webhooks/{none}", body: []byte(`{"email":"a@example.com","` + strings.Repeat("k", 600) + `":1}`), status: 400, code: "invalid_payload"},
		{name: "JSON array top level", path: "/webhooks/{none}", body: []byte(`[{"email":"a@example.com"}]`), status: 400, code: "invalid_payload"},
		{name: "JSON string top level", path: "/webhooks/{none}", body: []byte(`"email=a@example.com"`), status: 400, code: "invalid_payload"},
		{name: "JSON number top level", path: "/webhooks/{none}", body: []byte(`42`), status: 400, code: "invalid_payload"},
		{name: "JSON null top level", path: "/webhooks/{none}", body: []byte(`null`), status: 400, code: "invalid_payload"},
		{name: "empty body", path: "/webhooks/{none}", body: nil, status: 400, code: "invalid_payload"},
		{name: "whitespace body", path: "/webhooks/{none}", body: []byte(" \r\n\t "), status: 400, code: "invalid_payload"},
		{name: "10 MB body", path: "/webhooks/{none}", body: bytes.Repeat([]byte("a"), 10<<20), status: 413, code: "body_too_large"},

		// Content types.
		{name: "text/plain", path: "/webhooks/{none}", ct: "text/plain", body: okLead, status: 415, code: "unsupported_media_type"},
		{name: "missing content type", path: "/webhooks/{none}", ct: "-", body: okLead, status: 415, code: "unsupported_media_type"},
		{name: "multipart", path: "/webhooks/{none}", ct: "multipart/form-data; boundary=x", body: okLead, status: 415, code: "unsupported_media_type"},
		{name: "latin-1 charset", path: "/webhooks/{none}", ct: "application/json; charset=iso-8859-1", body: okLead, status: 415, code: "unsupported_media_type"},
		{name: "garbled content type", path: "/webhooks/{none}", ct: "application/json;;==", body: okLead, status: 415, code: "unsupported_media_type"},
		{name: "xml", path: "/webhooks/{none}", ct: "text/xml", body: []byte(`<lead/>`), status: 415, code: "unsupported_media_type"},
		{name: "repeated content type, first unsupported", path: "/webhooks/{none}", ct: "text/plain", hdr: []string{"Content-Type", "application/json"}, body: okLead, status: 415, code: "unsupported_media_type"},
		{name: "stripe form-encoded", path: "/webhooks/stripe", ct: "application/x-www-form-urlencoded", body: []byte("id=evt_1"), sign: signStripe(0), status: 415, code: "unsupported_media_type"},

		// Signatures and timestamps.
		{name: "hmac missing", path: "/webhooks/{hmac}", body: okLead, status: 401, code: "invalid_signature"},
		{name: "hmac garbled", path: "/webhooks/{hmac}", body: okLead, hdr: []string{"X-Signature", "sha256=not-hex"}, status: 401, code: "invalid_signature"},
		{name: "hmac of another body", path: "/webhooks/{hmac}", body: okLead, hdr: []string{"X-Signature", hexMAC(badHMACSecret, []byte(`{}`))}, status: 401, code: "invalid_signature"},
		{name: "hmac repeated header, first wrong", path: "/webhooks/{hmac}", body: okLead, hdr: []string{"X-Signature", hexMAC("x", okLead), "X-Signature", hexMAC(badHMACSecret, okLead)}, status: 401, code: "invalid_signature"},
		{name: "standard missing", path: "/webhooks/{std}", body: okLead, status: 401, code: "invalid_signature"},
		{name: "standard stale", path: "/webhooks/{std}", body: okLead, sign: signStd(-10 * time.Minute), status: 401, code: "stale_timestamp"},
		{name: "standard future", path: "/webhooks/{std}", body: okLead, sign: signStd(10 * time.Minute), status: 401, code: "stale_timestamp"},
		{name: "standard garbled timestamp", path: "/webhooks/{std}", body: okLead, hdr: []string{"webhook-id", "m1", "webhook-timestamp", "soon", "webhook-signature", "v1,AAAA"}, status: 401, code: "stale_timestamp"},
		{name: "standard signature of another body", path: "/webhooks/{std}", body: okLead, sign: func(e *badEnv, b []byte) http.Header {
			return signStandard(badStdSecret, "m2", e.clock.Now(), []byte(`{"email":"other@example.com"}`))
		}, status: 401, code: "invalid_signature"},
		{name: "stripe replayed header, other body", path: "/webhooks/stripe", body: []byte(`{"id":"evt_other","type":"charge.succeeded"}`), sign: func(e *badEnv, b []byte) http.Header {
			return hdrs("Stripe-Signature", stripeHeader(stripeSecret, e.clock.Now(), []byte(`{"id":"evt_orig","type":"charge.succeeded"}`)))
		}, status: 401, code: "invalid_signature"},
		{name: "stripe stale", path: "/webhooks/stripe", body: []byte(`{"id":"evt_s","type":"charge.succeeded"}`), sign: signStripe(-10 * time.Minute), status: 401, code: "stale_timestamp"},
		{name: "stripe future", path: "/webhooks/stripe", body: []byte(`{"id":"evt_f","type":"charge.succeeded"}`), sign: signStripe(10 * time.Minute), status: 401, code: "stale_timestamp"},
		{name: "stripe missing", path: "/webhooks/stripe", body: []byte(`{"id":"evt_m","type":"charge.succeeded"}`), status: 401, code: "invalid_signature"},
		{name: "stripe signed invalid UTF-8", path: "/webhooks/stripe", body: []byte("{\"id\":\"evt_u\",\"type\":\"charge.succeeded\",\"x\":\"\xff\"}"), sign: signStripe(0), status: 400, code: "malformed_body"},
		{name: "facebook bad signature", path: "/webhooks/facebook", body: []byte(`{"object":"page","entry":[]}`), hdr: []string{"X-Hub-Signature-256", "sha256=" + strings.Repeat("0", 64)}, status: 401, code: "invalid_signature"},
		{name: "facebook signed, no entry", path: "/webhooks/facebook", body: []byte(`{"object":"page"}`), sign: signFB, status: 400, code: "invalid_payload"},
		{name: "facebook signed, leadgen without id", path: "/webhooks/facebook", body: []byte(`{"object":"page","entry":[{"changes":[{"field":"leadgen","value":{"leadgen_id":"1 OR 1=1"}}]}]}`), sign: signFB, status: 400, code: "invalid_payload"},
		{name: "mailerlite missing signature", path: "/webhooks/mailerlite", body: []byte(`{"type":"subscriber.created"}`), status: 401, code: "invalid_signature"},
		{name: "mailerlite signed, no type", path: "/webhooks/mailerlite", body: []byte(`{"data":{}}`), sign: signML, status: 400, code: "invalid_payload"},
		{name: "mailerlite signed, wildcard type", path: "/webhooks/mailerlite", body: []byte(`{"type":"subscriber.>"}`), sign: signML, status: 400, code: "invalid_payload"},

		// Routing and ids.
		{name: "unknown webhook id", path: "/webhooks/wh_nonexistent", body: okLead, status: 404, code: "not_found"},
		{name: "path traversal, escaped slashes", path: "/webhooks/..%2f..%2fetc", body: okLead, status: 404, code: "not_found"},
		{name: "path traversal, dot-dot", path: "/webhooks/../../etc/passwd", body: okLead, status: 404, code: "not_found"},
		{name: "escaped dot-dot id", path: "/webhooks/%2e%2e", body: okLead, status: 404, code: "not_found"},
		{name: "NATS wildcard id", path: "/webhooks/%3E", body: okLead, status: 404, code: "not_found"},
		{name: "dotted id", path: "/webhooks/a.b", body: okLead, status: 404, code: "not_found"},
		{name: "NUL in id", path: "/webhooks/a%00b", body: okLead, status: 404, code: "not_found"},
		{name: "overlong id", path: "/webhooks/" + strings.Repeat("w", 65), body: okLead, status: 404, code: "not_found"},
		{name: "SQL injection id", path: "/webhooks/x'%20OR%20'1'='1", body: okLead, status: 404, code: "not_found"},
		{name: "unknown route", path: "/nope", body: okLead, status: 404, code: "not_found"},
		{name: "route with extra segment", path: "/webhooks/stripe/extra", body: okLead, status: 404, code: "not_found"},
		{name: "webhooks without id", path: "/webhooks", body: okLead, status: 404, code: "not_found"},
		{name: "unknown form type", path: "/forms/evil", body: okLead, status: 404, code: "not_found"},
		{name: "GET stripe", method: "GET", path: "/webhooks/stripe", status: 405, code: "method_not_allowed", allow: "POST"},
		{name: "PUT form", method: "PUT", path: "/forms/contact", body: okLead, status: 405, code: "method_not_allowed", allow: "POST, OPTIONS"},
		{name: "DELETE webhook", method: "DELETE", path: "/webhooks/{none}", status: 405, code: "method_not_allowed", allow: "POST"},
		{name: "POST healthz", method: "POST", path: "/healthz", body: okLead, status: 405, code: "method_not_allowed", allow: "GET, HEAD"},
		{name: "PATCH metrics", method: "PATCH", path: "/metrics", body: okLead, status: 405, code: "method_not_allowed", allow: "GET"},
		{name: "bad wait parameter", path: "/webhooks/{none}?wait=forever", body: okLead, status: 400, code: "invalid_payload"},

		// Values.
		{name: "arabic-indic digits in phone", path: "/webhooks/{none}", body: []byte(`{"first_name":"Ana","phone":"+١٦٢٦٦٦٣٣٤٤٤"}`), status: 400, code: "validation_failed", detail: [2]string{"phone", "invalid_phone"}},
		{name: "fullwidth digits in phone", path: "/webhooks/{none}", body: []byte(`{"first_name":"Ana","phone":"６２６６６３３４４４"}`), status: 400, code: "validation_failed", detail: [2]string{"phone", "invalid_phone"}},
		{name: "escaped NUL in name", path: "/webhooks/{none}", body: []byte(`{"email":"a@example.com","first_name":"a\u0000b"}`), status: 400, code: "validation_failed", detail: [2]string{"first_name", "invalid_value"}},
		{name: "NUL in form value", path: "/webhooks/{none}", ct: "application/x-www-form-urlencoded", body: []byte("email=a%40example.com&first_name=a%00b"), status: 400, code: "validation_failed", detail: [2]string{"first_name", "invalid_value"}},
		{name: "number for email", path: "/webhooks/{none}", body: []byte(`{"email":12345}`), status: 400, code: "validation_failed", detail: [2]string{"email", "invalid_email"}},
		{name: "boolean for email", path: "/webhooks/{none}", body: []byte(`{"email":true}`), status: 400, code: "validation_failed", detail: [2]string{"email", "invalid_email"}},
		{name: "object for email", path: "/webhooks/{none}", body: []byte(`{"email":{"address":"a@example.com"}}`), status: 400, code: "validation_failed", detail: [2]string{"email", "required"}},
		{name: "no contact data", path: "/webhooks/{none}", body: []byte(`{"first_name":"Ana"}`), status: 400, code: "validation_failed", detail: [2]string{"email", "required"}},
		{name: "email too long", path: "/webhooks/{none}", body: []byte(`{"email":"` + strings.Repeat("a", 250) + `@example.com"}`), status: 400, code: "validation_failed", detail: [2]string{"email", "too_long"}},
		{name: "name too long", path: "/webhooks/{none}", body: []byte(`{"email":"a@example.com","first_name":"` + strings.Repeat("é", 101) + `"}`), status: 400, code: "validation_failed", detail: [2]string{"first_name", "too_long"}},
		{name: "contact form without message", path: "/forms/contact", body: []byte(`{"name":"Ana","email":"a@example.com"}`), status: 400, code: "validation_failed", detail: [2]string{"message", "required"}},
		{name: "consultation, arabic-indic phone", path: "/forms/consultation", body: []byte(`{"name":"Ana","email":"a@example.com","phone":"٦٢٦٦٦٣٣٤٤٤"}`), status: 400, code: "validation_failed", detail: [2]string{"phone", "invalid_phone"}},

		// Accepted verbatim: hostile-looking but valid.
		{name: "SQL injection in name", path: "/webhooks/{none}", body: []byte(`{"email":"bobby@example.com","first_name":"Robert'); DROP TABLE webhooks;--"}`), status: 200},
		{name: "script tag in name", path: "/webhooks/{none}", body: []byte(`{"email":"xss@example.com","first_name":"<script>alert(1)</script>","message":"<img src=x onerror=alert(1)>"}`), status: 200},
		{name: "emoji names", path: "/webhooks/{none}", body: []byte(`{"email":"emoji@example.com","first_name":"😀 Zoë","last_name":"𝓜ałinao"}`), status: 200},
		{name: "number for phone", path: "/webhooks/{none}", body: []byte(`{"phone":16266633444}`), status: 200},
		{name: "UTF-8 BOM before JSON", path: "/webhooks/{none}", body: []byte("\xef\xbb\xbf{\"email\":\"bom@example.com\"}"), status: 200},
		{name: "signed SQL injection via hmac", path: "/webhooks/{hmac}", body: []byte(`{"email":"x@example.com","company":"1; SELECT pg_sleep(10)"}`), sign: signHMAC, status: 200},
		{name: "forged envelope headers ignored", path: "/webhooks/{none}", body: []byte(`{"email":"forge@example.com"}`),
			hdr:    []string{"Nats-Msg-Id", "forged", "Hs-Workspace-Id", "other", "Hs-Source", "stripe", "X-Forwarded-For", "10.9.8.7", "Nats-Expected-Stream", "DLQ"},
			status: 200, check: func(t testing.TB, m *jetstream.RawStreamMsg) {
				for k, want := range map[string]string{streams.HdrWorkspaceID: workspace, streams.HdrSource: "webhook", streams.HdrRemoteAddr: "127.0.0.1"} {
					if got := m.Header.Get(k); got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
				if id := m.Header.Get("Nats-Msg-Id"); !strings.HasPrefix(id, "wh:") {
					t.Errorf("Nats-Msg-Id %q taken from the request", id)
				}
				if v := m.Header.Get("Nats-Expected-Stream"); v != "" {
					t.Errorf("request header copied into the message: %q", v)
				}
			}},
		{name: "header-like text in user agent", path: "/webhooks/{none}", body: []byte(`{"email":"ua@example.com"}`),
			hdr: []string{"User-Agent", "evil Nats-Msg-Id: x\tHs-Source: stripe"}, status: 200, check: func(t testing.TB, m *jetstream.RawStreamMsg) {
				if got := m.Header.Get(streams.HdrSource); got != "webhook" {
					t.Errorf("source %q", got)
				}
				if got := m.Header.Get(streams.HdrUserAgent); got != "evil Nats-Msg-Id: x\tHs-Source: stripe" {
					t.Errorf("user agent %q", got)
				}
			}},
	}
}

// TestBadInput_Table: every hostile or malformed request gets its status and
// JSON error code, a 4xx stores nothing, and the server stays healthy. The few
// valid-but-hostile payloads are stored byte for byte.
func TestBadInput_Table(t *testing.T) {
	t.Parallel()
	env := &badEnv{testEnv: newTestGateway(t)}
	env.none = env.createWebhook(webhooksdb.Webhook{AuthScheme: "none", Name: "Robert'); DROP TABLE webhooks;-- <script>alert(1)</script>"})
	env.hmac = env.createWebhook(webhooksdb.Webhook{AuthScheme: "hmac", Secrets: secrets(badHMACSecret)})
	env.std = env.createWebhook(webhooksdb.Webhook{AuthScheme: "standard", Secrets: secrets(badStdSecret)})
	cases := badInputCases(leadBody(t))
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &badEnv{testEnv: env.sub(t), none: env.none, hmac: env.hmac, std: env.std}
			path := strings.NewReplacer("{none}", e.none.ID, "{hmac}", e.hmac.ID, "{std}", e.std.ID).Replace(c.path)
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			h := http.Header{}
			switch c.ct {
			case "":
				h.Set("Content-Type", "application/json")
			case "-":
			default:
				h.Set("Content-Type", c.ct)
			}
			for i := 0; i+1 < len(c.hdr); i += 2 {
				h.Add(c.hdr[i], c.hdr[i+1])
			}
			if c.sign != nil {
				for k, v := range c.sign(e, c.body) {
					h[k] = v
				}
			}
			send := func() *result {
				var body *bytes.Reader
				if c.body != nil {
					body = bytes.NewReader(c.body)
				}
				if body == nil {
					return e.do(method, path, nil, h)
				}
				return e.do(method, path, body, h)
			}
			if c.code != "" {
				var r *result
				eb := e.rejects(t, c.status, c.code, func() *result { r = send(); return r })
				if c.detail[0] != "" {
					eb.wantDetail(t, c.detail[0], c.detail[1])
				}
				if c.allow != "" && r.Header.Get("Allow") != c.allow {
					t.Errorf("Allow %q, want %q", r.Header.Get("Allow"), c.allow)
				}
				return
			}
			before := e.streamCount()
			r := send()
			a := r.wantAccepted(t)
			if e.streamCount() != before+1 {
				t.Fatalf("INGEST %d → %d", before, e.streamCount())
			}
			m := e.msgAt(a.StreamSeq)
			if !bytes.Equal(m.Data, c.body) {
				t.Fatalf("stored %q, sent %q", m.Data, c.body)
			}
			if c.check != nil {
				c.check(t, m)
			}
			e.healthy()
		})
	}
	// The hostile webhook name is stored verbatim and the table still exists.
	wh, err := env.store.Get(t.Context(), env.none.ID)
	if err != nil || wh.Name != "Robert'); DROP TABLE webhooks;-- <script>alert(1)</script>" {
		t.Fatalf("webhook name %v %v", wh, err)
	}
}
