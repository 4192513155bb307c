package verify

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"testing"
)

// The fuzz targets check that no header or body makes a verifier panic or return
// anything but nil or *Error, and that a genuine signature over the fuzzed body
// still verifies while the same signature over another body does not.
// Seed corpora live in testdata/fuzz/<Name>/.

func checkTyped(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("untyped error %T: %v", err, err)
	}
}

func FuzzStandard(f *testing.F) {
	v := loadStandardVector(f)
	f.Add(v.ID, v.Timestamp, v.Signature, []byte(v.Body))
	f.Add("msg_1", strconv.FormatInt(fixedNow.Unix(), 10), "v1,AAAA v1a,xyz v1,", []byte("{}"))
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := hdr("webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig)
		checkTyped(t, VerifyStandard(h, body, []string{secret}, 0, clock(fixedNow)))

		good := SignStandard(secret, "msg_fuzz", fixedNow, body)
		h = hdr("webhook-id", "msg_fuzz", "webhook-timestamp", strconv.FormatInt(fixedNow.Unix(), 10), "webhook-signature", sig+" "+good)
		if err := VerifyStandard(h, body, []string{secret}, 0, clock(fixedNow)); err != nil {
			t.Fatalf("genuine signature refused: %v", err)
		}
		if err := VerifyStandard(h, append(body, 'x'), []string{secret}, 0, clock(fixedNow)); err == nil {
			t.Fatal("signature accepted for another body")
		}
	})
}

func FuzzHMAC(f *testing.F) {
	f.Add("sha256="+hexMAC("k", []byte("a=1")), []byte("a=1"), false)
	f.Add(base64.StdEncoding.EncodeToString(mac("k", []byte("{}"))), []byte("{}"), true)
	f.Add("sha256=", []byte(""), true)
	f.Fuzz(func(t *testing.T, sig string, body []byte, b64 bool) {
		enc := EncodingHex
		if b64 {
			enc = EncodingBase64
		}
		checkTyped(t, VerifyHMAC(hdr("X-Signature", sig), body, "", enc, []string{"k"}))
		good := hexMAC("k", body)
		if b64 {
			good = base64.StdEncoding.EncodeToString(mac("k", body))
		}
		if err := VerifyHMAC(hdr("X-Signature", good), body, "", enc, []string{"other", "k"}); err != nil {
			t.Fatalf("genuine signature refused: %v", err)
		}
		if err := VerifyHMAC(hdr("X-Signature", good), append(body, 'x'), "", enc, []string{"k"}); err == nil {
			t.Fatal("signature accepted for another body")
		}
	})
}

// smallStripeEvent keeps FuzzStripe seeds short: the fuzzer's minimizer is
// quadratic in input length, and a 2 KB fixture makes it spend minutes there.
const smallStripeEvent = `{"id":"evt_1","object":"event","api_version":"2024-06-20","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","object":"payment_intent","amount":1099}}}`

func FuzzStripe(f *testing.F) {
	f.Add(stripeSign([]byte(smallStripeEvent), stripeSecret, fixedNow), []byte(smallStripeEvent))
	f.Add("t=1,t=2,v1=00", []byte(`{"id":"evt_1","type":"x"}`))
	f.Add("t=,v1=,,=", []byte(`null`))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		_, err := VerifyStripe(hdr(StripeSignatureHeader, header), body, []string{stripeSecret}, clock(fixedNow))
		checkTyped(t, err)
		good := stripeSign(body, stripeSecret, fixedNow)
		_, err = VerifyStripe(hdr(StripeSignatureHeader, good), body, []string{stripeOld, stripeSecret}, clock(fixedNow))
		if r := ReasonOf(err); r != "" && r != ReasonBadPayload {
			t.Fatalf("genuine signature refused: %v", err)
		}
		if _, err := VerifyStripe(hdr(StripeSignatureHeader, good), append(body, ' '), []string{stripeSecret}, clock(fixedNow)); ReasonOf(err) != ReasonBadSignature {
			t.Fatalf("signature over another body: %v", err)
		}
	})
}

func FuzzFacebook(f *testing.F) {
	f.Add("sha256="+hexMAC("app", []byte(`{"object":"page"}`)), []byte(`{"object":"page"}`), "hub.mode=subscribe&hub.verify_token=tok&hub.challenge=123")
	f.Add("sha256=zz", []byte{}, "hub.mode=subscribe&hub.verify_token=&hub.challenge=")
	f.Fuzz(func(t *testing.T, sig string, body []byte, rawQuery string) {
		checkTyped(t, VerifyFacebook(hdr(FacebookSignatureHeader, sig), body, []string{"app"}))
		if err := VerifyFacebook(hdr(FacebookSignatureHeader, "sha256="+hexMAC("app", body)), body, []string{"app"}); err != nil {
			t.Fatalf("genuine signature refused: %v", err)
		}
		q, _ := url.ParseQuery(rawQuery)
		challenge, ok := VerifyFacebookChallenge(q, "tok")
		want := q.Get("hub.mode") == "subscribe" && q.Get("hub.verify_token") == "tok" && q.Get("hub.challenge") != ""
		if ok != want || (ok && challenge != q.Get("hub.challenge")) {
			t.Fatalf("challenge(%q) = (%q, %v), want ok=%v", rawQuery, challenge, ok, want)
		}
		if _, ok := VerifyFacebookChallenge(q, ""); ok {
			t.Fatal("empty verify token matched")
		}
	})
}
