package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// VerifyBasic checks "Authorization: Basic …" against pairs given as "user:pass"
// (split at the first colon: RFC 7617 forbids one in the user name, allows it in
// the password). Several pairs may be configured (rotation, several senders).
func VerifyBasic(h http.Header, pairs []string) error {
	if err := checkPairs(pairs); err != nil {
		return err
	}
	auth := strings.TrimSpace(h.Get("Authorization"))
	if auth == "" {
		return fail(ReasonMissingSignature, "missing Authorization header")
	}
	scheme, b64, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return fail(ReasonBadCredentials, "Authorization is not Basic")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return fail(ReasonBadCredentials, "Basic credentials are not base64")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return fail(ReasonBadCredentials, "Basic credentials lack a colon")
	}
	gu, gp := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	match := 0
	for _, p := range pairs {
		u, w, _ := strings.Cut(p, ":")
		cu, cp := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(w))
		// Both halves are always compared (no && short-circuit) so timing does not
		// tell a right user name from a wrong one.
		match |= subtle.ConstantTimeCompare(gu[:], cu[:]) & subtle.ConstantTimeCompare(gp[:], cp[:])
	}
	if match != 1 {
		return fail(ReasonBadCredentials, "user or password does not match")
	}
	return nil
}

func checkPairs(pairs []string) error {
	if len(pairs) == 0 {
		return fail(ReasonMisconfigured, "no basic credentials configured")
	}
	for _, p := range pairs {
		u, w, ok := strings.Cut(p, ":")
		if !ok || u == "" || w == "" {
			return fail(ReasonMisconfigured, `basic credentials must be "user:password", both non-empty`)
		}
	}
	return nil
}
