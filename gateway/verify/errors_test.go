package verify

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestErrors_ReasonOfAndStatus(t *testing.T) {
	wrapped := fmt.Errorf("gateway: %w", &Error{Reason: ReasonStaleTimestamp, Msg: "x"})
	if got := ReasonOf(wrapped); got != ReasonStaleTimestamp {
		t.Fatalf("ReasonOf(wrapped) = %q", got)
	}
	if got := ReasonOf(nil); got != "" {
		t.Fatalf("ReasonOf(nil) = %q", got)
	}
	if got := ReasonOf(errors.New("other")); got != ReasonMisconfigured {
		t.Fatalf("foreign error must fail closed, got %q", got)
	}
	for r, want := range map[Reason]int{
		ReasonMissingSignature: http.StatusUnauthorized, ReasonBadSignature: http.StatusUnauthorized,
		ReasonStaleTimestamp: http.StatusUnauthorized, ReasonBadTimestamp: http.StatusUnauthorized,
		ReasonBadCredentials: http.StatusUnauthorized, ReasonBadPayload: http.StatusBadRequest,
		ReasonMisconfigured: http.StatusInternalServerError,
	} {
		if got := r.Status(); got != want {
			t.Errorf("%s.Status() = %d, want %d", r, got, want)
		}
	}
	if got := (&Error{Reason: ReasonBadSignature, Msg: "m"}).Error(); got != "verify: bad_signature: m" {
		t.Fatalf("Error() = %q", got)
	}
}
