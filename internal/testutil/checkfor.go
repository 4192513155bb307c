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
	if err := Poll(total, interval, f); err != nil {
		t.Fatalf("condition not met after %v: %v", total, err)
	}
}

// Poll calls f every interval until it returns nil (Poll returns nil) or
// total elapses (Poll returns f's last error). f is always called at least
// once, and once more at the deadline.
func Poll(total, interval time.Duration, f func() error) error {
	deadline := time.NewTimer(total)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-deadline.C:
			return f()
		case <-tick.C:
		}
	}
}

// Every calls f every interval until total has elapsed since the call. It
// paces observations made while something runs for a set time (an outage
// held for a fixed duration); it does not wait for a condition.
func Every(total, interval time.Duration, f func()) {
	deadline := time.NewTimer(total)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		f()
		select {
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}
