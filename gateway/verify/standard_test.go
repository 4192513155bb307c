package verify

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"
)

type standardVector struct {
	Secret    string `json:"secret"`
	ID        string `json:"webhook-id"`
	Timestamp string `json:"webhook-timestamp"`
	Body      string `json:"body"`
	Signature string `json:"webhook-signature"`
}

func loadStandardVector(t testing.TB) standardVector {
	b, err := os.ReadFile("testdata/standard-webhooks.json")
	if err != nil {
		t.Fatal(err)
	}
	var v standardVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestStandard_KnownAnswer(t *testing.T) {
	v := loadStandardVector(t)
	ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
	h := hdr("webhook-id", v.ID, "webhook-timestamp", v.Timestamp, "webhook-signature", v.Signature)

	// Injected clock at the vector's own time: must pass.
	wantReason(t, VerifyStandard(h, []byte(v.Body), []string{v.Secret}, 0, clock(time.Unix(ts, 0))), "")
	// Real clock: the 2021 timestamp is stale.
	wantReason(t, VerifyStandard(h, []byte(v.Body), []string{v.Secret}, 0, nil), ReasonStaleTimestamp)
	// Our signer reproduces the reference signature.
	if got := SignStandard(v.Secret, v.ID, time.Unix(ts, 0), []byte(v.Body)); got != v.Signature {
		t.Fatalf("SignStandard = %q, want %q", got, v.Signature)
	}
}

func TestStandard_Table(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		bare   = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		old    = "whsec_c2VjcmV0LW9mLXRoZS1wcmV2aW91cy15ZWFy"
		other  = "whsec_b3RoZXItc2VjcmV0LW5vdC1jb25maWd1cmVk"
		id     = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
	)
	body := []byte(`{"email":"a@example.com"}`)
	ts := strconv.FormatInt(fixedNow.Unix(), 10)
	sig := SignStandard(secret, id, fixedNow, body)
	at := func(d time.Duration) (string, string) {
		t := fixedNow.Add(d)
		return strconv.FormatInt(t.Unix(), 10), SignStandard(secret, id, t, body)
	}
	staleTS, staleSig := at(-6 * time.Minute)
	futureTS, futureSig := at(6 * time.Minute)
	edgeOldTS, edgeOldSig := at(-4 * time.Minute)
	edgeNewTS, edgeNewSig := at(4 * time.Minute)

	cases := []struct {
		name    string
		secrets []string
		h       []string
		body    []byte
		want    Reason
	}{
		{"valid", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig}, body, ""},
		{"secret without whsec_", []string{bare}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig}, body, ""},
		{"signed with bare secret", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", SignStandard(bare, id, fixedNow, body)}, body, ""},
		{"rotation: new secret listed second", []string{old, secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig}, body, ""},
		{"rotation: old secret still verifies", []string{old, secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", SignStandard(old, id, fixedNow, body)}, body, ""},
		{"several signatures, last valid", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", SignStandard(other, id, fixedNow, body) + " v1a,AAAA v1,!!garbled v2,abc " + sig}, body, ""},
		{"several signatures, first valid", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig + " " + SignStandard(other, id, fixedNow, body)}, body, ""},
		{"svix header names", []string{secret}, []string{"svix-id", id, "svix-timestamp", ts, "svix-signature", sig}, body, ""},
		{"4 min old is fine", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", edgeOldTS, "webhook-signature", edgeOldSig}, body, ""},
		{"4 min ahead is fine", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", edgeNewTS, "webhook-signature", edgeNewSig}, body, ""},
		{"wrong secret", []string{other}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig}, body, ReasonBadSignature},
		{"signature over another body", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig}, []byte(`{"email":"b@example.com"}`), ReasonBadSignature},
		{"another id", []string{secret}, []string{"webhook-id", "msg_other", "webhook-timestamp", ts, "webhook-signature", sig}, body, ReasonBadSignature},
		{"timestamp changed within window", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", edgeOldTS, "webhook-signature", sig}, body, ReasonBadSignature},
		{"garbled signature", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", "v1,@@@not-base64@@@"}, body, ReasonBadSignature},
		{"no v1 entry", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", "v2,abcd garbage"}, body, ReasonBadSignature},
		{"signature without version", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig[3:]}, body, ReasonBadSignature},
		{"missing signature", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts}, body, ReasonMissingSignature},
		{"blank signature", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", "   "}, body, ReasonMissingSignature},
		{"missing id", []string{secret}, []string{"webhook-timestamp", ts, "webhook-signature", sig}, body, ReasonMissingSignature},
		{"missing timestamp", []string{secret}, []string{"webhook-id", id, "webhook-signature", sig}, body, ReasonBadTimestamp},
		{"timestamp not a number", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", "yesterday", "webhook-signature", sig}, body, ReasonBadTimestamp},
		{"timestamp in millis is stale", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", ts + "000", "webhook-signature", sig}, body, ReasonStaleTimestamp},
		{"timestamp not canonical", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", "+" + ts, "webhook-signature", sig}, body, ReasonBadTimestamp},
		{"stale timestamp", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", staleTS, "webhook-signature", staleSig}, body, ReasonStaleTimestamp},
		{"future timestamp", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", futureTS, "webhook-signature", futureSig}, body, ReasonStaleTimestamp},
		{"extreme timestamp", []string{secret}, []string{"webhook-id", id, "webhook-timestamp", "-9223372036854775808", "webhook-signature", sig}, body, ReasonStaleTimestamp},
		{"no secrets", nil, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig}, body, ReasonMisconfigured},
		{"secret not base64", []string{"whsec_***"}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig}, body, ReasonMisconfigured},
		{"empty secret", []string{"whsec_"}, []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig}, body, ReasonMisconfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantReason(t, VerifyStandard(hdr(c.h...), c.body, c.secrets, 0, clock(fixedNow)), c.want)
		})
	}
}

func TestStandard_CustomTolerance(t *testing.T) {
	secret, _ := GenerateStandardSecret()
	body := []byte("x")
	sent := fixedNow.Add(-90 * time.Second)
	h := hdr("webhook-id", "m", "webhook-timestamp", strconv.FormatInt(sent.Unix(), 10), "webhook-signature", SignStandard(secret, "m", sent, body))
	wantReason(t, VerifyStandard(h, body, []string{secret}, time.Minute, clock(fixedNow)), ReasonStaleTimestamp)
	wantReason(t, VerifyStandard(h, body, []string{secret}, 2*time.Minute, clock(fixedNow)), "")
}

func TestStandard_SecretHelpers(t *testing.T) {
	if got := SignStandard("whsec_***", "m", fixedNow, nil); got != "" {
		t.Fatalf("SignStandard with a bad secret = %q, want empty", got)
	}
	s, err := GenerateStandardSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseStandardSecret(s)
	if err != nil || len(key) != 32 {
		t.Fatalf("generated secret %q: key %d bytes, err %v", s, len(key), err)
	}
	wantReason(t, func() error { _, err := ParseStandardSecret("not base64!"); return err }(), ReasonMisconfigured)
}

// A verifier's pooled HMAC states are reset between requests: verdicts do not
// depend on what the previous request (or another goroutine) hashed, with one
// key or several.
func TestStandard_PooledStatesIndependent(t *testing.T) {
	const a, b = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGhlIG90aGVyIGtleSBpbiByb3RhdGlvbg=="
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	for _, secrets := range [][]string{{a}, {b, a}} {
		v, err := New(Config{Scheme: SchemeStandard, Secrets: secrets}, clock)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		for g := range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := range 200 {
					id := "msg_" + strconv.Itoa(g) + "_" + strconv.Itoa(i)
					body := []byte(`{"n":` + strconv.Itoa(i) + `}`)
					h := http.Header{}
					h.Set("webhook-id", id)
					h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
					h.Set("webhook-signature", "v1,bm90IGl0 "+SignStandard(a, id, now, body))
					if err := v.Verify(h, body); err != nil {
						t.Errorf("valid request %s rejected: %v", id, err)
					}
					if err := v.Verify(h, append(body, ' ')); ReasonOf(err) != ReasonBadSignature {
						t.Errorf("altered body %s: %v", id, err)
					}
				}
			}()
		}
		for range 4 {
			<-done
		}
	}
}
