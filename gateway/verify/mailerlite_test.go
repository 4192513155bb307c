package verify

import "testing"

func TestMailerLite_Table(t *testing.T) {
	body := []byte(`{"type":"subscriber.unsubscribed","subscriber":{"email":"a@example.com"}}`)
	const secret, other = "ml-secret", "ml-other"
	cases := []struct {
		name    string
		secrets []string
		h       []string
		body    []byte
		want    Reason
	}{
		{"valid", []string{secret}, []string{"Signature", hexMAC(secret, body)}, body, ""},
		{"several secrets", []string{other, secret}, []string{"Signature", hexMAC(secret, body)}, body, ""},
		{"wrong secret", []string{other}, []string{"Signature", hexMAC(secret, body)}, body, ReasonBadSignature},
		{"another body", []string{secret}, []string{"Signature", hexMAC(secret, body)}, []byte(`{}`), ReasonBadSignature},
		{"garbled", []string{secret}, []string{"Signature", "not hex"}, body, ReasonBadSignature},
		{"missing", []string{secret}, nil, body, ReasonMissingSignature},
		{"no secret", nil, []string{"Signature", hexMAC("", body)}, body, ReasonMisconfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantReason(t, VerifyMailerLite(hdr(c.h...), c.body, c.secrets), c.want)
		})
	}
}
