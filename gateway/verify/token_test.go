package verify

import (
	"encoding/base64"
	"testing"
)

func TestToken_Table(t *testing.T) {
	toks := []string{"tok-new", "tok-old"}
	cases := []struct {
		name   string
		header string
		tokens []string
		h      []string
		want   Reason
	}{
		{"bearer", "", toks, []string{"Authorization", "Bearer tok-new"}, ""},
		{"bearer lower case scheme", "", toks, []string{"Authorization", "bearer tok-old"}, ""},
		{"explicit Authorization header", "authorization", toks, []string{"Authorization", "Bearer tok-new"}, ""},
		{"custom header", "X-Api-Key", toks, []string{"X-Api-Key", "tok-old"}, ""},
		{"custom header ignores bearer", "X-Api-Key", toks, []string{"Authorization", "Bearer tok-new"}, ReasonMissingSignature},
		{"wrong token", "", toks, []string{"Authorization", "Bearer tok-other"}, ReasonBadCredentials},
		{"prefix of a token", "", toks, []string{"Authorization", "Bearer tok-"}, ReasonBadCredentials},
		{"not bearer", "", toks, []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))}, ReasonBadCredentials},
		{"bearer without token", "", toks, []string{"Authorization", "Bearer"}, ReasonBadCredentials},
		{"missing", "", toks, nil, ReasonMissingSignature},
		{"no tokens", "", nil, []string{"Authorization", "Bearer "}, ReasonMisconfigured},
		{"empty token configured", "", []string{""}, []string{"Authorization", "Bearer x"}, ReasonMisconfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantReason(t, VerifyToken(hdr(c.h...), c.header, c.tokens), c.want)
		})
	}
}

func TestBasic_Table(t *testing.T) {
	pairs := []string{"vendor:p@ss:word", "vendor2:second"}
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name  string
		pairs []string
		auth  string
		want  Reason
	}{
		{"valid, colon in password", pairs, basic("vendor:p@ss:word"), ""},
		{"second pair", pairs, basic("vendor2:second"), ""},
		{"lower case scheme", pairs, "basic " + base64.StdEncoding.EncodeToString([]byte("vendor2:second")), ""},
		{"wrong password", pairs, basic("vendor:p@ss"), ReasonBadCredentials},
		{"wrong user", pairs, basic("vendorX:second"), ReasonBadCredentials},
		{"crossed pairs", pairs, basic("vendor:second"), ReasonBadCredentials},
		{"no colon", pairs, basic("vendor"), ReasonBadCredentials},
		{"not base64", pairs, "Basic %%%", ReasonBadCredentials},
		{"bearer", pairs, "Bearer vendor:second", ReasonBadCredentials},
		{"missing", pairs, "", ReasonMissingSignature},
		{"no pairs", nil, basic("a:b"), ReasonMisconfigured},
		{"pair without password", []string{"user:"}, basic("user:"), ReasonMisconfigured},
		{"pair without colon", []string{"user"}, basic("user:"), ReasonMisconfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantReason(t, VerifyBasic(hdr("Authorization", c.auth), c.pairs), c.want)
		})
	}
}
