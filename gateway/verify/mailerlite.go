package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// MailerLiteSignatureHeader holds the hex HMAC-SHA256 of the raw body keyed with
// the webhook's secret (MailerLite sends it without any prefix).
const MailerLiteSignatureHeader = "Signature"

// VerifyMailerLite checks a MailerLite webhook. Several secrets may be given, e.g.
// one per registered MailerLite webhook, or old and new during a rotation.
func VerifyMailerLite(h http.Header, body []byte, secrets []string) error {
	if err := checkSecrets(secrets, "mailerlite webhook secret"); err != nil {
		return err
	}
	raw := strings.TrimSpace(h.Get(MailerLiteSignatureHeader))
	if raw == "" {
		return fail(ReasonMissingSignature, "missing "+MailerLiteSignatureHeader+" header")
	}
	sig, err := hex.DecodeString(raw)
	if err != nil || len(sig) != sha256.Size {
		return fail(ReasonBadSignature, MailerLiteSignatureHeader+" is not a hex HMAC-SHA256")
	}
	if !bodyMACMatches(sig, body, secrets) {
		return fail(ReasonBadSignature, "no signature matches")
	}
	return nil
}
