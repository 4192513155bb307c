// Package panics turns a panic into an error, in one place: a handler, a
// parser or an HTTP request that panics fails alone, with the panic's value
// and stack kept for the log, instead of crashing the process.
package panics

import (
	"fmt"
	"runtime/debug"
)

// Error is a recovered panic.
type Error struct {
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *Error) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic's value when it is an error (a runtime error).
func (e *Error) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Catch, deferred, turns a panic of its goroutine into an *Error stored in
// *err (recover only works in the deferred function itself, hence a
// function to defer rather than one to call).
func Catch(err *error) {
	if p := recover(); p != nil {
		*err = &Error{Value: p, Stack: debug.Stack()}
	}
}

// Call runs f; a panic in it comes back as an *Error.
func Call(f func() error) (err error) {
	defer Catch(&err)
	return f()
}

// As reports whether err is a recovered panic (Call's result itself, not an
// error that merely wraps one).
func As(err error) (*Error, bool) {
	pe, ok := err.(*Error) //nolint:errorlint // only a panic caught right here counts
	return pe, ok
}
