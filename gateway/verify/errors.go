package verify

import (
	"errors"
	"net/http"
)

// Reason is a stable machine code for why verification failed. The gateway puts it
// in the JSON error body ({"error":"<reason>"}) and uses it as a metrics label, so
// the values below are part of the public contract: add new ones, never rename.
type Reason string

const (
	// ReasonMissingSignature: the request carries no signature or credentials at
	// all (header absent or empty).
	ReasonMissingSignature Reason = "missing_signature"
	// ReasonBadSignature: a signature is present but garbled or does not match.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonStaleTimestamp: the signed timestamp is outside the tolerance, too old
	// (replay) or too far in the future.
	ReasonStaleTimestamp Reason = "stale_timestamp"
	// ReasonBadTimestamp: the timestamp the scheme needs is missing or unparseable.
	ReasonBadTimestamp Reason = "bad_timestamp"
	// ReasonBadCredentials: a bearer token or basic-auth pair is present but wrong
	// or garbled.
	ReasonBadCredentials Reason = "bad_credentials"
	// ReasonBadPayload: the signature is valid but the body is not what the sender
	// promises (Stripe: not an event with an id and a type). Maps to 400, not 401.
	ReasonBadPayload Reason = "bad_payload"
	// ReasonMisconfigured: no usable secret is configured or the scheme is unknown.
	// Verification fails closed: nothing is ever accepted on a broken config.
	ReasonMisconfigured Reason = "misconfigured"
)

// Status is the HTTP status the gateway should answer for r: 401 for
// anything about the signature or credentials, 400 for a bad payload, and 500 for
// a misconfiguration (the sender did nothing wrong and should retry once an
// operator fixes the config; nothing is published either way).
func (r Reason) Status() int {
	switch r {
	case ReasonBadPayload:
		return http.StatusBadRequest
	case ReasonMisconfigured:
		return http.StatusInternalServerError
	default:
		return http.StatusUnauthorized
	}
}

// Error is the only error type the verifiers return, so callers can always get a
// Reason with errors.As or ReasonOf.
type Error struct {
	Reason Reason
	Msg    string
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return "verify: " + string(e.Reason)
	}
	return "verify: " + string(e.Reason) + ": " + e.Msg
}

// ReasonOf returns the Reason carried by err; "" for nil. An error that is not a
// *Error counts as ReasonMisconfigured so an unexpected failure still fails closed.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonMisconfigured
}

func fail(r Reason, msg string) error { return &Error{Reason: r, Msg: msg} }
