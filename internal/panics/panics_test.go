package panics

import (
	"errors"
	"strings"
	"testing"
)

func TestCall(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name      string
		f         func() error
		wantErr   error
		wantPanic string
	}{
		{"no panic", func() error { return nil }, nil, ""},
		{"error returned", func() error { return boom }, boom, ""},
		{"panic value", func() error { panic("bad input") }, nil, "panic: bad input"},
		{"runtime panic", func() error {
			var m map[string]int
			m["x"]++ //nolint:staticcheck // the runtime panic under test
			return nil
		}, nil, "panic: assignment to entry in nil map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Call(tc.f)
			pe, ok := As(err)
			if tc.wantPanic == "" {
				if ok || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
					t.Fatalf("Call = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if !ok || err.Error() != tc.wantPanic || !strings.Contains(string(pe.Stack), "panics.Call") {
				t.Fatalf("Call = %v (panic %v), want %q with its stack", err, ok, tc.wantPanic)
			}
		})
	}
}

// An error that wraps a recovered panic is not itself one.
func TestAs_WrappedIsNotAPanic(t *testing.T) {
	t.Parallel()
	err := Call(func() error { panic("x") })
	if _, ok := As(errors.Join(err)); ok {
		t.Fatal("As matched a wrapped panic")
	}
}
