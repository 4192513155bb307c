package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
)

// Plain HMAC: a named header holds HMAC-SHA256(secret, raw body), hex or base64,
// optionally prefixed "sha256=" (the GitHub/Facebook convention many vendors copy).

// DefaultHMACHeader is the header the hmac scheme reads when none is configured.
const DefaultHMACHeader = "X-Signature"

// Encodings for the hmac scheme.
const (
	EncodingHex    = "hex"
	EncodingBase64 = "base64"
)

// VerifyHMAC checks header (default X-Signature) against HMAC-SHA256 of body with
// each secret (rotation: any may verify). encoding is "hex" (default) or "base64".
// Secrets are used as raw bytes, the way vendors document them.
func VerifyHMAC(h http.Header, body []byte, header, encoding string, secrets []string) error {
	if header == "" {
		header = DefaultHMACHeader
	}
	if encoding == "" {
		encoding = EncodingHex
	}
	if encoding != EncodingHex && encoding != EncodingBase64 {
		return fail(ReasonMisconfigured, "unknown hmac encoding "+encoding)
	}
	if err := checkSecrets(secrets, "hmac secret"); err != nil {
		return err
	}
	raw := strings.TrimSpace(h.Get(header))
	if raw == "" {
		return fail(ReasonMissingSignature, "missing "+header+" header")
	}
	raw = trimPrefixFold(raw, "sha256=")
	var sig []byte
	var err error
	if encoding == EncodingHex {
		sig, err = hex.DecodeString(raw)
	} else {
		sig, err = decodeBase64Any(raw)
	}
	if err != nil || len(sig) != sha256.Size {
		return fail(ReasonBadSignature, header+" is not a "+encoding+" HMAC-SHA256")
	}
	if !bodyMACMatches(sig, body, secrets) {
		return fail(ReasonBadSignature, "no signature matches")
	}
	return nil
}

// bodyMACMatches reports whether sig is HMAC-SHA256(secret, body) for any secret.
func bodyMACMatches(sig, body []byte, secrets []string) bool {
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write(body)
		if hmac.Equal(m.Sum(nil), sig) {
			return true
		}
	}
	return false
}

// decodeBase64Any accepts standard and URL alphabets, padded or not: the alphabet
// is the sender's choice and the comparison is on decoded bytes, so leniency here
// costs no security.
func decodeBase64Any(s string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}

func trimPrefixFold(s, prefix string) string {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):]
	}
	return s
}

// checkSecrets refuses an empty list and empty entries: an empty HMAC key or token
// is known to everyone, so accepting it would silently turn verification off.
func checkSecrets(secrets []string, what string) error {
	if len(secrets) == 0 {
		return fail(ReasonMisconfigured, "no "+what+" configured")
	}
	for _, s := range secrets {
		if s == "" {
			return fail(ReasonMisconfigured, "empty "+what+" configured")
		}
	}
	return nil
}
