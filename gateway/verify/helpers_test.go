package verify

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// fixedNow is the injected clock most tests use.
var fixedNow = time.Unix(1_763_800_000, 0)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// wantReason fails unless err carries want ("" means err must be nil) as a *Error.
func wantReason(t *testing.T, err error, want Reason) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error with %q, got %T %v", want, err, err)
	}
	if e.Reason != want {
		t.Fatalf("want reason %q, got %q (%v)", want, e.Reason, err)
	}
}
