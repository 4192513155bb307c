// Package httperr is the one error vocabulary of Hookstream's HTTP answers:
// the gateway's ingest routes and the admin API answer errors with the same
// JSON body, {"error": code, "message": …, "details": […]}, and the same
// code → status table.
package httperr

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
	Malformed        Code = "malformed_body"           // 400: not parseable (JSON, form encoding, UTF-8)
	Invalid          Code = "invalid_payload"          // 400: parseable but not what the route takes
	Validation       Code = "validation_failed"        // 400: fields fail validation (see details)
	InvalidRequest   Code = "invalid_request"          // 400: a query parameter or header the route cannot use
	BadSignature     Code = "invalid_signature"        // 401: missing, garbled or wrong signature/credentials
	StaleTimestamp   Code = "stale_timestamp"          // 401: signed timestamp outside tolerance
	Unauthorized     Code = "unauthorized"             // 401 with WWW-Authenticate: the admin API's bearer token is missing or wrong
	Forbidden        Code = "forbidden"                // 403: origin not allowed, bad verify token
	NotFound         Code = "not_found"                // 404: unknown route, unknown or inactive webhook, unknown record
	MethodNotAllowed Code = "method_not_allowed"       // 405
	Conflict         Code = "conflict"                 // 409: the request conflicts with the record's current state
	Timeout          Code = "request_timeout"          // 408: the body did not arrive within the server's read timeout
	TooLarge         Code = "body_too_large"           // 413
	UnsupportedMedia Code = "unsupported_media_type"   // 415
	RateLimited      Code = "rate_limited"             // 429 with Retry-After
	Internal         Code = "internal_error"           // 500
	Misconfigured    Code = "verification_unavailable" // 503: route's secret not configured (fails closed)
	Unavailable      Code = "stream_unavailable"       // 503: JetStream cannot be used now; retry
)

var statusOf = map[Code]int{
	Malformed:        http.StatusBadRequest,
	Invalid:          http.StatusBadRequest,
	Validation:       http.StatusBadRequest,
	InvalidRequest:   http.StatusBadRequest,
	BadSignature:     http.StatusUnauthorized,
	StaleTimestamp:   http.StatusUnauthorized,
	Unauthorized:     http.StatusUnauthorized,
	Forbidden:        http.StatusForbidden,
	NotFound:         http.StatusNotFound,
	MethodNotAllowed: http.StatusMethodNotAllowed,
	Conflict:         http.StatusConflict,
	Timeout:          http.StatusRequestTimeout,
	TooLarge:         http.StatusRequestEntityTooLarge,
	UnsupportedMedia: http.StatusUnsupportedMediaType,
	RateLimited:      http.StatusTooManyRequests,
	Internal:         http.StatusInternalServerError,
	Misconfigured:    http.StatusServiceUnavailable,
	Unavailable:      http.StatusServiceUnavailable,
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

// Error is what handlers return; Write renders it.
type Error struct {
	Code       Code          `json:"error"`
	Message    string        `json:"message"`
	Details    []Detail      `json:"details"`
	RetryAfter time.Duration `json:"-"`
	// Reason labels the failure in metrics (the gateway's verification
	// failures); it is never shown.
	Reason string `json:"-"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// New is an Error without details.
func New(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Write renders any error as the JSON error body and returns the status;
// non-*Error values are internal errors whose text is not shown to the
// client.
func Write(w http.ResponseWriter, err error) int {
	var e *Error
	if !errors.As(err, &e) {
		e = New(Internal, "internal error")
	}
	if e.Details == nil {
		e.Details = []Detail{}
	}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	status := e.Code.Status()
	WriteJSON(w, status, e)
	return status
}

// WriteJSON writes v as one line of JSON with the headers every JSON answer
// carries.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal_error","message":"encoding response","details":[]}`)
	}
	SetJSONHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// SetJSONHeaders is three Header.Set calls with one allocation instead of
// three: the keys are canonical already, and the values share an array
// (three-index slices, so an Add to one cannot reach the next).
func SetJSONHeaders(h http.Header) {
	v := []string{"application/json", "nosniff", "no-store"}
	h["Content-Type"] = v[0:1:1]
	h["X-Content-Type-Options"] = v[1:2:2]
	h["Cache-Control"] = v[2:3:3]
}
