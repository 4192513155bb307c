// Package testutil holds small helpers shared by the test suites.
package testutil

import (
	"testing"
	"time"
)

// CheckFor polls f every interval until it returns nil or total elapses, then
// fails the test with f's last error. It is how tests wait for eventually
// consistent state (a consumer catching up, a projection committed) without
// sleeping a fixed time.
func CheckFor(t testing.TB, total, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(interval)
	}
	t.Fatalf("condition not met after %v: %v", total, err)
}
