package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Code is a stable, documented error code; it is the "error" field of every
// JSON error body. HTTP statuses are decided here and nowhere else.
type Code string

const (
	CodeMalformed        Code = "malformed_body"           // 400: not parseable (JSON, form encoding, UTF-8)
	CodeInvalid          Code = "invalid_payload"          // 400: parseable but not what the route takes
	CodeValidation       Code = "validation_failed"        // 400: fields fail validation (see details)
	CodeBadSignature     Code = "invalid_signature"        // 401: missing, garbled or wrong signature/credentials
	CodeStaleTimestamp   Code = "stale_timestamp"          // 401: signed timestamp outside tolerance
	CodeForbidden        Code = "forbidden"                // 403: origin not allowed, bad verify token
	CodeNotFound         Code = "not_found"                // 404: unknown route, unknown or inactive webhook
	CodeMethodNotAllowed Code = "method_not_allowed"       // 405
	CodeTimeout          Code = "request_timeout"          // 408: the body did not arrive within the server's read timeout
	CodeTooLarge         Code = "body_too_large"           // 413
	CodeUnsupportedMedia Code = "unsupported_media_type"   // 415
	CodeRateLimited      Code = "rate_limited"             // 429 with Retry-After
	CodeInternal         Code = "internal_error"           // 500
	CodeMisconfigured    Code = "verification_unavailable" // 503: route's secret not configured (fails closed)
	CodeUnavailable      Code = "stream_unavailable"       // 503 with Retry-After: not stored, retry
)

var statusOf = map[Code]int{
	CodeMalformed:        http.StatusBadRequest,
	CodeInvalid:          http.StatusBadRequest,
	CodeValidation:       http.StatusBadRequest,
	CodeBadSignature:     http.StatusUnauthorized,
	CodeStaleTimestamp:   http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeNotFound:         http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeTimeout:          http.StatusRequestTimeout,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	CodeRateLimited:      http.StatusTooManyRequests,
	CodeInternal:         http.StatusInternalServerError,
	CodeMisconfigured:    http.StatusServiceUnavailable,
	CodeUnavailable:      http.StatusServiceUnavailable,
}

// Status maps a code to its HTTP status.
func (c Code) Status() int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Detail is one field-level problem.
type Detail struct {
	Field   string `json:"field,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is what handlers return; writeError renders it.
type Error struct {
	Code       Code          `json:"error"`
	Message    string        `json:"message"`
	Details    []Detail      `json:"details"`
	RetryAfter time.Duration `json:"-"`
	// Reason labels verification failures in metrics.
	Reason string `json:"-"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func errf(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// writeError renders any error as the JSON error body; non-*Error values are
// internal errors whose text is not shown to the client.
func writeError(w http.ResponseWriter, err error) int {
	var e *Error
	if !errors.As(err, &e) {
		e = errf(CodeInternal, "internal error")
	}
	if e.Details == nil {
		e.Details = []Detail{}
	}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	status := e.Code.Status()
	writeJSON(w, status, e)
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal_error","message":"encoding response","details":[]}`)
	}
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// setJSONHeaders is three Header.Set calls with one allocation instead of
// three: the keys are canonical already, and the values share an array
// (three-index slices, so an Add to one cannot reach the next).
func setJSONHeaders(h http.Header) {
	v := []string{"application/json", "nosniff", "no-store"}
	h["Content-Type"] = v[0:1:1]
	h["X-Content-Type-Options"] = v[1:2:2]
	h["Cache-Control"] = v[2:3:3]
}
