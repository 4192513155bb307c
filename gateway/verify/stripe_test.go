package verify

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// stripe-go has no injectable clock (it uses time.Since), but VerifyStripe checks
// the window itself with the injected clock; tests that use the real clock sign
// with an old timestamp through webhook.GenerateTestSignedPayload instead.

const stripeSecret, stripeOld = "whsec_test_current", "whsec_test_previous"

func stripeSign(body []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
}

func loadStripe(t testing.TB) map[string][]byte {
	files, err := filepath.Glob("testdata/stripe/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("stripe fixtures: %v %v", files, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	return out
}

func TestStripe_Fixtures(t *testing.T) {
	for typ, body := range loadStripe(t) {
		t.Run(typ, func(t *testing.T) {
			h := hdr(StripeSignatureHeader, stripeSign(body, stripeSecret, fixedNow))
			ev, err := VerifyStripe(h, body, []string{stripeSecret}, clock(fixedNow))
			wantReason(t, err, "")
			if string(ev.Type) != typ || ev.ID == "" || ev.APIVersion != "2023-10-16" {
				t.Fatalf("event id=%q type=%q api_version=%q", ev.ID, ev.Type, ev.APIVersion)
			}
			// The real clock with a fresh signature passes too.
			_, err = VerifyStripe(hdr(StripeSignatureHeader, stripeSign(body, stripeSecret, time.Now())), body, []string{stripeSecret}, nil)
			wantReason(t, err, "")
		})
	}
}

func TestStripe_OtherAPIVersionAccepted(t *testing.T) {
	body := loadStripe(t)["payment_intent.succeeded"]
	changed := bytes.Replace(body, []byte(`"api_version": "2023-10-16"`), []byte(`"api_version": "2024-06-20"`), 1)
	if bytes.Equal(changed, body) {
		t.Fatal("fixture has no api_version to change")
	}
	ev, err := VerifyStripe(hdr(StripeSignatureHeader, stripeSign(changed, stripeSecret, fixedNow)), changed, []string{stripeSecret}, clock(fixedNow))
	wantReason(t, err, "")
	if ev.APIVersion != "2024-06-20" {
		t.Fatalf("api_version = %q, want it recorded as sent", ev.APIVersion)
	}
}

func TestStripe_Table(t *testing.T) {
	body := loadStripe(t)["payment_intent.payment_failed"]
	other := loadStripe(t)["payment_intent.succeeded"]
	valid := stripeSign(body, stripeSecret, fixedNow)
	ts := fmt.Sprint(fixedNow.Unix())
	sigOf := func(header string) string { _, v1, _ := strings.Cut(header, ",v1="); return v1 }

	cases := []struct {
		name    string
		secrets []string
		header  string
		body    []byte
		now     func() time.Time
		want    Reason
	}{
		{"valid", []string{stripeSecret}, valid, body, clock(fixedNow), ""},
		{"rotation: new", []string{stripeOld, stripeSecret}, valid, body, clock(fixedNow), ""},
		{"rotation: old", SplitSecrets(stripeSecret + ", " + stripeOld), stripeSign(body, stripeOld, fixedNow), body, clock(fixedNow), ""},
		{"several v1, one valid", []string{stripeSecret}, "t=" + ts + ",v1=" + sigOf(stripeSign(body, stripeOld, fixedNow)) + ",v0=abc,v1=" + sigOf(valid), body, clock(fixedNow), ""},
		{"4 min old", []string{stripeSecret}, stripeSign(body, stripeSecret, fixedNow.Add(-4*time.Minute)), body, clock(fixedNow), ""},
		{"wrong secret", []string{stripeOld}, valid, body, clock(fixedNow), ReasonBadSignature},
		{"header replayed with another body", []string{stripeSecret}, valid, other, clock(fixedNow), ReasonBadSignature},
		{"stale (injected clock)", []string{stripeSecret}, stripeSign(body, stripeSecret, fixedNow.Add(-6*time.Minute)), body, clock(fixedNow), ReasonStaleTimestamp},
		{"stale (real clock)", []string{stripeSecret}, stripeSign(body, stripeSecret, time.Now().Add(-10*time.Minute)), body, nil, ReasonStaleTimestamp},
		{"future beyond tolerance", []string{stripeSecret}, stripeSign(body, stripeSecret, fixedNow.Add(6*time.Minute)), body, clock(fixedNow), ReasonStaleTimestamp},
		{"future (real clock)", []string{stripeSecret}, stripeSign(body, stripeSecret, time.Now().Add(time.Hour)), body, nil, ReasonStaleTimestamp},
		{"missing header", []string{stripeSecret}, "", body, clock(fixedNow), ReasonMissingSignature},
		{"garbled header", []string{stripeSecret}, "garbage", body, clock(fixedNow), ReasonBadSignature},
		{"no t=", []string{stripeSecret}, "v1=" + sigOf(valid), body, clock(fixedNow), ReasonBadTimestamp},
		{"t= not a number", []string{stripeSecret}, "t=now,v1=" + sigOf(valid), body, clock(fixedNow), ReasonBadTimestamp},
		{"two t=", []string{stripeSecret}, "t=1,t=" + ts + ",v1=" + sigOf(valid), body, clock(fixedNow), ReasonBadSignature},
		{"no v1", []string{stripeSecret}, "t=" + ts + ",v0=" + sigOf(valid), body, clock(fixedNow), ReasonBadSignature},
		{"v1 not hex", []string{stripeSecret}, "t=" + ts + ",v1=zzzz", body, clock(fixedNow), ReasonBadSignature},
		{"signed but not JSON", []string{stripeSecret}, stripeSign([]byte("not json"), stripeSecret, fixedNow), []byte("not json"), clock(fixedNow), ReasonBadPayload},
		{"signed JSON without id", []string{stripeSecret}, stripeSign([]byte(`{"type":"x"}`), stripeSecret, fixedNow), []byte(`{"type":"x"}`), clock(fixedNow), ReasonBadPayload},
		{"no secrets", nil, valid, body, clock(fixedNow), ReasonMisconfigured},
		{"empty secret", SplitSecrets(" , "), valid, body, clock(fixedNow), ReasonMisconfigured},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := VerifyStripe(hdr(StripeSignatureHeader, c.header), c.body, c.secrets, c.now)
			wantReason(t, err, c.want)
		})
	}
}

func TestStripe_ErrorMapping(t *testing.T) {
	for err, want := range map[error]Reason{
		webhook.ErrNotSigned: ReasonMissingSignature, webhook.ErrInvalidHeader: ReasonBadSignature,
		webhook.ErrNoValidSignature: ReasonBadSignature, webhook.ErrTooOld: ReasonStaleTimestamp,
		fmt.Errorf("Failed to parse webhook body json"): ReasonBadPayload,
	} {
		wantReason(t, stripeError(err), want)
	}
}

func TestSplitSecrets(t *testing.T) {
	got := SplitSecrets(" a, ,b ,")
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("SplitSecrets = %q", got)
	}
	if SplitSecrets("") != nil {
		t.Fatal("SplitSecrets(\"\") must be empty")
	}
}
