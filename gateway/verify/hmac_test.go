package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

func hexMAC(secret string, body []byte) string { return hex.EncodeToString(mac(secret, body)) }

func TestHMAC_Table(t *testing.T) {
	const secret, old = "s3cret-current", "s3cret-previous"
	body := []byte("first_name=Ada&phone=%2B15555550100")
	hx := hexMAC(secret, body)
	b64 := base64.StdEncoding.EncodeToString(mac(secret, body))

	cases := []struct {
		name     string
		header   string // configured header name
		encoding string
		secrets  []string
		h        []string
		body     []byte
		want     Reason
	}{
		{"hex valid", "", "", []string{secret}, []string{"X-Signature", hx}, body, ""},
		{"hex upper case", "", "hex", []string{secret}, []string{"X-Signature", strings.ToUpper(hx)}, body, ""},
		{"sha256= prefix", "", "hex", []string{secret}, []string{"X-Signature", "sha256=" + hx}, body, ""},
		{"SHA256= prefix", "", "hex", []string{secret}, []string{"X-Signature", "SHA256=" + hx}, body, ""},
		{"base64 valid", "", "base64", []string{secret}, []string{"X-Signature", b64}, body, ""},
		{"base64 with prefix", "", "base64", []string{secret}, []string{"X-Signature", "sha256=" + b64}, body, ""},
		{"base64 url unpadded", "", "base64", []string{secret}, []string{"X-Signature", base64.RawURLEncoding.EncodeToString(mac(secret, body))}, body, ""},
		{"custom header", "X-Vendor-Hmac", "", []string{secret}, []string{"X-Vendor-Hmac", hx}, body, ""},
		{"custom header, default one sent", "X-Vendor-Hmac", "", []string{secret}, []string{"X-Signature", hx}, body, ReasonMissingSignature},
		{"rotation: new", "", "", []string{old, secret}, []string{"X-Signature", hx}, body, ""},
		{"rotation: old", "", "", []string{old, secret}, []string{"X-Signature", hexMAC(old, body)}, body, ""},
		{"wrong secret", "", "", []string{old}, []string{"X-Signature", hx}, body, ReasonBadSignature},
		{"another body", "", "", []string{secret}, []string{"X-Signature", hx}, []byte("first_name=Eve"), ReasonBadSignature},
		{"hex sent, base64 configured", "", "base64", []string{secret}, []string{"X-Signature", hx}, body, ReasonBadSignature},
		{"base64 sent, hex configured", "", "hex", []string{secret}, []string{"X-Signature", b64}, body, ReasonBadSignature},
		{"garbled", "", "", []string{secret}, []string{"X-Signature", "zz-not-hex"}, body, ReasonBadSignature},
		{"truncated", "", "", []string{secret}, []string{"X-Signature", hx[:40]}, body, ReasonBadSignature},
		{"missing", "", "", []string{secret}, nil, body, ReasonMissingSignature},
		{"no secrets", "", "", nil, []string{"X-Signature", hx}, body, ReasonMisconfigured},
		{"empty secret", "", "", []string{""}, []string{"X-Signature", hexMAC("", body)}, body, ReasonMisconfigured},
		{"unknown encoding", "", "base32", []string{secret}, []string{"X-Signature", hx}, body, ReasonMisconfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantReason(t, VerifyHMAC(hdr(c.h...), c.body, c.header, c.encoding, c.secrets), c.want)
		})
	}
}
