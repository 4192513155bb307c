package verify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Standard Webhooks (github.com/standard-webhooks/standard-webhooks,
// spec/standard-webhooks.md): HMAC-SHA256 over "id.timestamp.body" keyed with the
// base64-decoded secret, sent as a space-separated list of "v1,<base64>" entries.

// DefaultTolerance is how far a signed timestamp may be from our clock, in either
// direction, before it is refused as a replay (Standard Webhooks and Stripe: 5 min).
const DefaultTolerance = 5 * time.Minute

const standardSecretPrefix = "whsec_"

// ParseStandardSecret decodes a Standard Webhooks secret, with or without the
// "whsec_" prefix, into the HMAC key. Callers storing secrets (webhooks create,
// rotate-secret) should use it to refuse secrets that could never verify.
func ParseStandardSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), standardSecretPrefix)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Some senders hand out unpadded secrets; accept them rather than guess.
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fail(ReasonMisconfigured, "standard webhooks secret is not base64")
	}
	if len(key) == 0 {
		return nil, fail(ReasonMisconfigured, "empty standard webhooks secret")
	}
	return key, nil
}

// GenerateStandardSecret returns a new random "whsec_" secret (32 bytes of key, the
// middle of the spec's recommended 24–64 bytes).
func GenerateStandardSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return standardSecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// SignStandard returns the webhook-signature entry ("v1,<base64>") for body sent
// with the given id and timestamp. It returns "" when secret is not a valid
// secret (check with ParseStandardSecret first when that matters); "" never
// verifies, so a bad secret cannot produce a passing test by accident.
func SignStandard(secret string, id string, ts time.Time, body []byte) string {
	key, err := ParseStandardSecret(secret)
	if err != nil {
		return ""
	}
	return "v1," + base64.StdEncoding.EncodeToString(standardMAC(key, id, strconv.FormatInt(ts.Unix(), 10), body))
}

func standardMAC(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyStandard checks a Standard Webhooks request. secrets are "whsec_…" or bare
// base64 secrets; any one verifying is enough (rotation). tolerance <= 0 means
// DefaultTolerance; now == nil means time.Now.
func VerifyStandard(h http.Header, body []byte, secrets []string, tolerance time.Duration, now func() time.Time) error {
	keys, err := standardKeys(secrets)
	if err != nil {
		return err
	}
	return verifyStandard(h, body, newKeyedMACs(keys), tolerance, now)
}

func standardKeys(secrets []string) ([][]byte, error) {
	if len(secrets) == 0 {
		return nil, fail(ReasonMisconfigured, "no standard webhooks secret configured")
	}
	keys := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		k, err := ParseStandardSecret(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// keyedMAC hands out HMAC-SHA256 states keyed with one secret. hmac.New
// costs half a dozen allocations and two SHA-256 blocks of key schedule per
// request; a pooled state is Reset instead, which returns it to the keyed
// initial state.
type keyedMAC struct {
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	buf []byte // "id.timestamp." (reused)
	sum [sha256.Size]byte
}

func newKeyedMACs(keys [][]byte) []*keyedMAC {
	out := make([]*keyedMAC, len(keys))
	for i, k := range keys {
		m := &keyedMAC{}
		m.pool.New = func() any { return &macState{h: hmac.New(sha256.New, k)} }
		out[i] = m
	}
	return out
}

// standardSum computes standardMAC(key, id, ts, body) into a pooled state;
// the caller returns it with put.
func (k *keyedMAC) standardSum(id, ts string, body []byte) *macState {
	m := k.pool.Get().(*macState)
	m.h.Reset()
	m.buf = append(append(append(append(m.buf[:0], id...), '.'), ts...), '.')
	m.h.Write(m.buf)
	m.h.Write(body)
	m.h.Sum(m.sum[:0])
	return m
}

func (k *keyedMAC) put(m *macState) {
	if cap(m.buf) > 1024 { // an oversized id must not stay pinned in the pool
		m.buf = nil
	}
	k.pool.Put(m)
}

// standardHeaderNames are the header names of one naming scheme, in
// canonical form so lookups need not canonicalize (and allocate) per request.
type standardHeaderNames struct {
	prefix, id, timestamp, signature string
}

var (
	webhookHeaderNames = standardHeaderNames{"webhook-", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}
	svixHeaderNames    = standardHeaderNames{"svix-", "Svix-Id", "Svix-Timestamp", "Svix-Signature"}
)

func verifyStandard(h http.Header, body []byte, keys []*keyedMAC, tolerance time.Duration, now func() time.Time) error {
	if len(keys) == 0 {
		return fail(ReasonMisconfigured, "no standard webhooks secret configured")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if now == nil {
		now = time.Now
	}
	// Svix (the spec's origin) still sends svix-* names; accept them as a set so a
	// sender on either library works, but never mix the two sets in one request.
	names := webhookHeaderNames
	if h.Get(names.id) == "" && h.Get(names.signature) == "" && h.Get(svixHeaderNames.id) != "" {
		names = svixHeaderNames
	}
	prefix := names.prefix
	id, tsRaw, sigs := h.Get(names.id), h.Get(names.timestamp), h.Get(names.signature)
	if strings.TrimSpace(sigs) == "" {
		return fail(ReasonMissingSignature, "missing "+prefix+"signature header")
	}
	if id == "" {
		return fail(ReasonMissingSignature, "missing "+prefix+"id header")
	}
	if tsRaw == "" {
		return fail(ReasonBadTimestamp, "missing "+prefix+"timestamp header")
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	// Only canonical decimal seconds: the signed content uses the header text, and
	// "+0123" parsing to the same instant as "123" would make that ambiguous.
	var canon [20]byte
	if err != nil || string(strconv.AppendInt(canon[:0], ts, 10)) != tsRaw {
		return fail(ReasonBadTimestamp, prefix+"timestamp is not integer unix seconds")
	}
	// Timestamp first: it is cheap and turns away replays without any HMAC work.
	if err := checkWindow(ts, now(), tolerance); err != nil {
		return err
	}

	var macBuf [4]*macState
	macs := macBuf[:0]
	for _, k := range keys {
		macs = append(macs, k.standardSum(id, tsRaw, body))
	}
	defer func() {
		for i, m := range macs {
			keys[i].put(m)
		}
	}()
	sawV1 := false
	var sigBuf [72]byte
	for entry := range strings.FieldsSeq(sigs) {
		version, b64, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue // other versions (v1a: asymmetric) are not ours to check
		}
		sawV1 = true
		sig, err := decodeSignature(&sigBuf, b64)
		if err != nil {
			continue // one garbled entry must not hide a valid one next to it
		}
		for _, m := range macs {
			if hmac.Equal(m.sum[:], sig) {
				return nil
			}
		}
	}
	if !sawV1 {
		return fail(ReasonBadSignature, "no v1 signature in "+prefix+"signature")
	}
	return fail(ReasonBadSignature, "no signature matches")
}

// decodeSignature is base64.StdEncoding.DecodeString(b64), decoded into dst
// without allocating when b64 is of ordinary length (a SHA-256 MAC is 44
// characters).
func decodeSignature(dst *[72]byte, b64 string) ([]byte, error) {
	var src [96]byte // DecodedLen(96) == len(dst)
	if len(b64) > len(src) {
		return base64.StdEncoding.DecodeString(b64)
	}
	n := copy(src[:], b64)
	dn, err := base64.StdEncoding.Decode(dst[:], src[:n])
	return dst[:dn], err
}

// checkWindow refuses ts (unix seconds) further than tolerance from now either way.
// It compares in seconds without subtracting ts, so extreme values cannot overflow.
func checkWindow(ts int64, now time.Time, tolerance time.Duration) error {
	n, tol := now.Unix(), int64(tolerance/time.Second)
	if ts < n-tol {
		return fail(ReasonStaleTimestamp, "timestamp too old")
	}
	if ts > n+tol {
		return fail(ReasonStaleTimestamp, "timestamp too far in the future")
	}
	return nil
}
