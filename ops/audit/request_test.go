package audit

import (
	"encoding/base64"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRequestWithholdsSecretsAndSignatures(t *testing.T) {
	h := nats.Header{}
	for k, v := range map[string]string{
		"Stripe-Signature": "t=1,v1=abc", "webhook-signature": "v1,xyz", "X-Hub-Signature-256": "sha256=00",
		"Signature": "deadbeef", "Authorization": "Bearer tok", "X-Api-Key": "k", "X-Webhook-Secret": "s",
		"Cookie": "a=b", "Hs-Source": "webhook", "Content-Type": "application/x-www-form-urlencoded", "Nats-Msg-Id": "wh:x:1",
	} {
		h.Set(k, v)
	}
	r := requestOf(&jetstream.RawStreamMsg{Header: h, Data: []byte("first_name=Jane&email=jane%40example.com")})
	for k := range r.Headers {
		if IsSecretHeader(k) {
			t.Errorf("%s shown", k)
		}
	}
	if len(r.Redacted) != 8 || r.Headers["Hs-Source"] != "webhook" || r.Headers["Nats-Msg-Id"] != "wh:x:1" {
		t.Errorf("headers %v, withheld %v", r.Headers, r.Redacted)
	}
	if r.Form["email"][0] != "jane@example.com" {
		t.Errorf("form body: %v", r.Form)
	}
	bin := requestOf(&jetstream.RawStreamMsg{Header: nats.Header{"Content-Type": {"application/octet-stream"}}, Data: []byte{0xff, 0x00, 0xfe}})
	if bin.Base64 != base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0xfe}) {
		t.Errorf("binary body: %+v", bin)
	}
	js := requestOf(&jetstream.RawStreamMsg{Header: nats.Header{"Content-Type": {"application/json; charset=utf-8"}}, Data: []byte(`{"a":1}`)})
	if string(js.Body) != `{"a":1}` {
		t.Errorf("json body: %+v", js)
	}
}
