package verify

import (
	"encoding/base64"
	"strconv"
	"testing"
	"time"
)

func TestConfig_Validate(t *testing.T) {
	cases := []struct {
		name string
		c    Config
		ok   bool
	}{
		{"standard", Config{Scheme: SchemeStandard, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, true},
		{"standard bad secret", Config{Scheme: SchemeStandard, Secrets: []string{"whsec_%%"}}, false},
		{"standard negative tolerance", Config{Scheme: SchemeStandard, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Tolerance: -time.Second}, false},
		{"standard no secret", Config{Scheme: SchemeStandard}, false},
		{"hmac", Config{Scheme: SchemeHMAC, Secrets: []string{"s"}, Header: "X-Hmac", Encoding: "base64"}, true},
		{"hmac bad encoding", Config{Scheme: SchemeHMAC, Secrets: []string{"s"}, Encoding: "auto"}, false},
		{"hmac bad header", Config{Scheme: SchemeHMAC, Secrets: []string{"s"}, Header: "X Sig:"}, false},
		{"hmac empty secret", Config{Scheme: SchemeHMAC, Secrets: []string{"s", ""}}, false},
		{"token", Config{Scheme: SchemeToken, Secrets: []string{"t"}}, true},
		{"token none", Config{Scheme: SchemeToken}, false},
		{"basic", Config{Scheme: SchemeBasic, Secrets: []string{"u:p"}}, true},
		{"basic malformed", Config{Scheme: SchemeBasic, Secrets: []string{"up"}}, false},
		{"none", Config{Scheme: SchemeNone}, true},
		{"empty scheme", Config{Secrets: []string{"x"}}, false},
		{"unknown scheme", Config{Scheme: "hmac-sha1", Secrets: []string{"x"}}, false},
		{"scheme is case-sensitive", Config{Scheme: "Token", Secrets: []string{"x"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.c.Validate()
			if c.ok {
				wantReason(t, err, "")
				return
			}
			wantReason(t, err, ReasonMisconfigured)
			if v, err := New(c.c, nil); v != nil || err == nil {
				t.Fatal("New must refuse what Validate refuses (fail closed)")
			}
		})
	}
}

func TestConfig_NewVerifiers(t *testing.T) {
	body := []byte(`{"phone":"+15555550100"}`)
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ts := strconv.FormatInt(fixedNow.Unix(), 10)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))
	cases := []struct {
		name string
		c    Config
		h    []string
		want Reason
	}{
		{"standard ok", Config{Scheme: SchemeStandard, Secrets: []string{whsec}},
			[]string{"webhook-id", "m1", "webhook-timestamp", ts, "webhook-signature", SignStandard(whsec, "m1", fixedNow, body)}, ""},
		{"standard stale with short tolerance", Config{Scheme: SchemeStandard, Secrets: []string{whsec}, Tolerance: time.Second},
			[]string{"webhook-id", "m1", "webhook-timestamp", strconv.FormatInt(fixedNow.Unix()-5, 10), "webhook-signature", SignStandard(whsec, "m1", fixedNow.Add(-5*time.Second), body)}, ReasonStaleTimestamp},
		{"hmac ok", Config{Scheme: SchemeHMAC, Secrets: []string{"k"}, Header: "X-Lead-Signature"}, []string{"X-Lead-Signature", "sha256=" + hexMAC("k", body)}, ""},
		{"hmac base64 ok", Config{Scheme: SchemeHMAC, Secrets: []string{"k"}, Encoding: "base64"}, []string{"X-Signature", base64.StdEncoding.EncodeToString(mac("k", body))}, ""},
		{"hmac bad", Config{Scheme: SchemeHMAC, Secrets: []string{"k"}}, []string{"X-Signature", hexMAC("j", body)}, ReasonBadSignature},
		{"token ok", Config{Scheme: SchemeToken, Secrets: []string{"t1", "t2"}}, []string{"Authorization", "Bearer t2"}, ""},
		{"token header ok", Config{Scheme: SchemeToken, Secrets: []string{"t1"}, Header: "X-Token"}, []string{"X-Token", "t1"}, ""},
		{"token bad", Config{Scheme: SchemeToken, Secrets: []string{"t1"}}, []string{"Authorization", "Bearer t3"}, ReasonBadCredentials},
		{"basic ok", Config{Scheme: SchemeBasic, Secrets: []string{"u:p"}}, []string{"Authorization", basic}, ""},
		{"basic missing", Config{Scheme: SchemeBasic, Secrets: []string{"u:p"}}, nil, ReasonMissingSignature},
		{"none", Config{Scheme: SchemeNone}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := New(c.c, clock(fixedNow))
			if err != nil {
				t.Fatal(err)
			}
			wantReason(t, v.Verify(hdr(c.h...), body), c.want)
		})
	}
}

func TestConfig_NewCopiesSecrets(t *testing.T) {
	secrets := []string{"t1"}
	v, err := New(Config{Scheme: SchemeToken, Secrets: secrets}, nil)
	if err != nil {
		t.Fatal(err)
	}
	secrets[0] = "changed"
	wantReason(t, v.Verify(hdr("Authorization", "Bearer t1"), nil), "")
}
