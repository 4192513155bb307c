package processors

import (
	"errors"
	"time"
)

// Outcome statuses recorded in event_outcomes.
const (
	StatusOK        = "ok"
	StatusRejected  = "rejected"  // invalid input: never retried, dead-lettered
	StatusRetry     = "retry"     // transient failure: redelivered after a delay
	StatusDead      = "dead"      // retries exhausted or permanent failure: dead-lettered
	StatusSkipped   = "skipped"   // nothing to do (destination not configured, already done)
	StatusUnhandled = "unhandled" // an event type the processor stores but does not act on
	StatusDuplicate = "duplicate" // already applied (redelivery, replay, sender retry)
)

type kindError struct {
	kind  string
	err   error
	delay time.Duration
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// Reject marks err as invalid input: outcome "rejected", no retry, the message
// goes to the DLQ.
func Reject(err error) error {
	return &kindError{kind: StatusRejected, err: orDefault(err, "rejected")}
}

// Permanent marks err as not worth retrying (a 4xx from an API): outcome
// "dead", the message goes to the DLQ with err.
func Permanent(err error) error {
	return &kindError{kind: StatusDead, err: orDefault(err, "permanent failure")}
}

// RetryAfter is a transient error that must wait at least d (Retry-After,
// an open circuit).
func RetryAfter(err error, d time.Duration) error {
	return &kindError{kind: StatusRetry, err: orDefault(err, "retry later"), delay: d}
}

// orDefault keeps a nil error from turning into a kindError that panics
// when printed.
func orDefault(err error, msg string) error {
	if err == nil {
		return errors.New(msg)
	}
	return err
}

func classify(err error) (kind string, delay time.Duration) {
	var k *kindError
	if errors.As(err, &k) {
		return k.kind, k.delay
	}
	return StatusRetry, 0
}
