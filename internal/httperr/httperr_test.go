package httperr

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		status     int
		body       string
		retryAfter string
	}{
		{"not found", New(NotFound, "no such route"), 404,
			`{"error":"not_found","message":"no such route","details":[]}` + "\n", ""},
		{"unauthorized", New(Unauthorized, "token required"), 401,
			`{"error":"unauthorized","message":"token required","details":[]}` + "\n", ""},
		{"invalid request with a field", &Error{Code: InvalidRequest, Message: "limit: want 1..1000",
			Details: []Detail{{Field: "limit", Code: "invalid_value", Message: "want 1..1000"}}}, 400,
			`{"error":"invalid_request","message":"limit: want 1..1000","details":[{"field":"limit","code":"invalid_value","message":"want 1..1000"}]}` + "\n", ""},
		{"retry after rounds up", &Error{Code: Unavailable, Message: "retry", RetryAfter: 1500 * time.Millisecond}, 503,
			`{"error":"stream_unavailable","message":"retry","details":[]}` + "\n", "2"},
		{"a plain error is internal and not shown", errors.New("pg: password wrong"), 500,
			`{"error":"internal_error","message":"internal error","details":[]}` + "\n", ""},
		{"wrapped", errors.Join(errors.New("ctx"), New(Conflict, "x")), 409,
			`{"error":"conflict","message":"x","details":[]}` + "\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if got := Write(w, c.err); got != c.status || w.Code != c.status {
				t.Errorf("status %d (recorded %d), want %d", got, w.Code, c.status)
			}
			if w.Body.String() != c.body {
				t.Errorf("body %s, want %s", w.Body, c.body)
			}
			if h := w.Header(); h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" ||
				h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Retry-After") != c.retryAfter {
				t.Errorf("headers %v", h)
			}
		})
	}
}

func TestEveryCodeHasItsStatus(t *testing.T) {
	if got := Code("made_up").Status(); got != http.StatusInternalServerError {
		t.Errorf("unknown code: %d", got)
	}
	for c, s := range statusOf {
		if s < 400 || s > 599 || c.Status() != s {
			t.Errorf("%s: %d", c, s)
		}
	}
}
