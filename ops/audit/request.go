package audit

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/streams"
)

// Headers never shown: signatures, credentials, secrets.
var secretHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true,
	"webhook-signature": true, "stripe-signature": true, "x-hub-signature": true, "x-hub-signature-256": true,
	"signature": true, "x-signature": true, "x-api-key": true, "api-key": true, "x-auth-token": true,
}

// IsSecretHeader reports whether a header is withheld from the audit trail.
func IsSecretHeader(name string) bool {
	n := strings.ToLower(name)
	if secretHeaders[n] {
		return true
	}
	for _, w := range []string{"signature", "secret", "token", "password", "api-key", "apikey", "authorization", "cookie"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

func requestOf(msg *jetstream.RawStreamMsg) *Request {
	req := &Request{Headers: map[string]string{}, Size: len(msg.Data), ContentType: msg.Header.Get(streams.HdrContentType)}
	names := make([]string, 0, len(msg.Header))
	for k := range msg.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if IsSecretHeader(k) {
			req.Redacted = append(req.Redacted, k)
			continue
		}
		req.Headers[k] = strings.Join(msg.Header.Values(k), ", ")
	}
	mt, _, _ := mime.ParseMediaType(req.ContentType)
	body := msg.Data
	switch {
	case len(body) == 0:
	case (mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "") && json.Valid(body):
		req.Body = json.RawMessage(body)
	case mt == "application/x-www-form-urlencoded" && utf8.Valid(body):
		if v, err := url.ParseQuery(string(body)); err == nil {
			req.Form = v
		} else {
			req.Text = string(body)
		}
	case utf8.Valid(body):
		req.Text = string(body)
	default:
		req.Base64 = base64.StdEncoding.EncodeToString(body)
	}
	return req
}
