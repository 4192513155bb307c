package verify

import (
	"net/url"
	"os"
	"testing"
)

func TestFacebook_Table(t *testing.T) {
	body, err := os.ReadFile("testdata/facebook-leadgen.json")
	if err != nil {
		t.Fatal(err)
	}
	const secret, old = "fb-app-secret", "fb-old-secret"
	cases := []struct {
		name    string
		secrets []string
		h       []string
		body    []byte
		want    Reason
	}{
		{"valid", []string{secret}, []string{FacebookSignatureHeader, "sha256=" + hexMAC(secret, body)}, body, ""},
		{"rotation: old", []string{secret, old}, []string{FacebookSignatureHeader, "sha256=" + hexMAC(old, body)}, body, ""},
		{"wrong secret", []string{old}, []string{FacebookSignatureHeader, "sha256=" + hexMAC(secret, body)}, body, ReasonBadSignature},
		{"another body", []string{secret}, []string{FacebookSignatureHeader, "sha256=" + hexMAC(secret, body)}, append([]byte(" "), body...), ReasonBadSignature},
		{"no prefix", []string{secret}, []string{FacebookSignatureHeader, hexMAC(secret, body)}, body, ReasonBadSignature},
		{"garbled", []string{secret}, []string{FacebookSignatureHeader, "sha256=xyz"}, body, ReasonBadSignature},
		{"sha1 header only", []string{secret}, []string{"X-Hub-Signature", "sha1=abcdef"}, body, ReasonMissingSignature},
		{"missing", []string{secret}, nil, body, ReasonMissingSignature},
		{"no app secret", nil, []string{FacebookSignatureHeader, "sha256=" + hexMAC("", body)}, body, ReasonMisconfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantReason(t, VerifyFacebook(hdr(c.h...), c.body, c.secrets), c.want)
		})
	}
}

func TestFacebook_Challenge(t *testing.T) {
	q := func(mode, token, challenge string) url.Values {
		return url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {challenge}}
	}
	cases := []struct {
		name       string
		query      url.Values
		configured string
		want       string
		ok         bool
	}{
		{"valid", q("subscribe", "tok", "1158201444"), "tok", "1158201444", true},
		{"wrong token", q("subscribe", "tik", "1158201444"), "tok", "", false},
		{"wrong mode", q("unsubscribe", "tok", "1158201444"), "tok", "", false},
		{"empty challenge", q("subscribe", "tok", ""), "tok", "", false},
		{"unconfigured token never matches", q("subscribe", "", "1"), "", "", false},
		{"empty query", url.Values{}, "tok", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := VerifyFacebookChallenge(c.query, c.configured)
			if got != c.want || ok != c.ok {
				t.Fatalf("got (%q, %v), want (%q, %v)", got, ok, c.want, c.ok)
			}
		})
	}
}
