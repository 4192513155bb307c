package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// VerifyToken checks a shared token. With header "" (or "Authorization") it reads
// "Authorization: Bearer <token>"; otherwise the named header holds the bare token.
// Several tokens may be configured so a new one can be rolled out before the old
// one is removed.
func VerifyToken(h http.Header, header string, tokens []string) error {
	if err := checkSecrets(tokens, "token"); err != nil {
		return err
	}
	var got string
	if header == "" || strings.EqualFold(header, "Authorization") {
		auth := strings.TrimSpace(h.Get("Authorization"))
		if auth == "" {
			return fail(ReasonMissingSignature, "missing Authorization header")
		}
		scheme, tok, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return fail(ReasonBadCredentials, "Authorization is not a Bearer token")
		}
		got = strings.TrimSpace(tok)
	} else {
		got = strings.TrimSpace(h.Get(header))
		if got == "" {
			return fail(ReasonMissingSignature, "missing "+header+" header")
		}
	}
	if !anyEqual(got, tokens) {
		return fail(ReasonBadCredentials, "token does not match")
	}
	return nil
}

// anyEqual compares got with every candidate in constant time. Hashing first makes
// both sides 32 bytes, so the compare leaks neither content nor length, and the
// loop never stops early, so it does not leak which entry matched.
func anyEqual(got string, candidates []string) bool {
	g := sha256.Sum256([]byte(got))
	match := 0
	for _, c := range candidates {
		d := sha256.Sum256([]byte(c))
		match |= subtle.ConstantTimeCompare(g[:], d[:])
	}
	return match == 1
}
