package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
)

// FacebookSignatureHeader carries "sha256=<hex HMAC-SHA256(app secret, body)>".
// The older SHA-1 X-Hub-Signature is deliberately not accepted.
const FacebookSignatureHeader = "X-Hub-Signature-256"

// VerifyFacebook checks a Lead Ads (Graph webhooks) POST. Several app secrets may
// be given so an app-secret reset can be rolled out without dropping leads.
func VerifyFacebook(h http.Header, body []byte, appSecrets []string) error {
	if err := checkSecrets(appSecrets, "facebook app secret"); err != nil {
		return err
	}
	raw := strings.TrimSpace(h.Get(FacebookSignatureHeader))
	if raw == "" {
		return fail(ReasonMissingSignature, "missing "+FacebookSignatureHeader+" header")
	}
	hexSig, ok := strings.CutPrefix(raw, "sha256=")
	if !ok {
		return fail(ReasonBadSignature, FacebookSignatureHeader+` lacks the "sha256=" prefix`)
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil || len(sig) != sha256.Size {
		return fail(ReasonBadSignature, FacebookSignatureHeader+" is not a hex HMAC-SHA256")
	}
	if !bodyMACMatches(sig, body, appSecrets) {
		return fail(ReasonBadSignature, "no signature matches")
	}
	return nil
}

// VerifyFacebookChallenge answers the subscription handshake (GET with hub.mode,
// hub.verify_token, hub.challenge). ok is true only for hub.mode=subscribe, a
// non-empty challenge and a token equal to verifyToken; the caller then writes
// challenge back as text/plain with 200, otherwise 403. An empty verifyToken
// never matches, so an unconfigured gateway cannot be subscribed by anyone.
func VerifyFacebookChallenge(query url.Values, verifyToken string) (challenge string, ok bool) {
	if verifyToken == "" || query.Get("hub.mode") != "subscribe" {
		return "", false
	}
	challenge = query.Get("hub.challenge")
	if challenge == "" {
		return "", false
	}
	got, want := sha256.Sum256([]byte(query.Get("hub.verify_token"))), sha256.Sum256([]byte(verifyToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return "", false
	}
	return challenge, true
}
