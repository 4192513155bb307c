// Package ops holds what Hookstream's operator operations share: the errors
// they return and the look-back syntax of their filters. The operations
// themselves are its subpackages (audit, stats, live, dlq, replay); the CLI
// verbs and the admin API both call them, and each front end turns these
// plain errors into its own answers (exit messages, HTTP codes).
package ops

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound: the event, contact or record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: JetStream (or the stream an operation reads) cannot
	// be used now; trying again later may work.
	ErrUnavailable = errors.New("unavailable")
)

// NotFound is an ErrNotFound whose text says what was not found.
func NotFound(format string, a ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, a...)}
}

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// InputError is a filter or argument an operation cannot use; Field names
// it as the caller spells it (a query parameter, a flag without dashes).
type InputError struct {
	Field   string
	Message string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Invalid is an *InputError.
func Invalid(field, message string) error { return &InputError{Field: field, Message: message} }
