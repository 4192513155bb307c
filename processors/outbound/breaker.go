package outbound

import (
	"fmt"
	"sync"
	"time"

	"github.com/hookstream/hookstream/processors"
)

// Breaker states, as State reports them.
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"
)

// Breaker is a per-destination circuit breaker. Closed, it lets every call
// through and counts consecutive transient failures; at Threshold it opens.
// Open, it refuses calls until Cooldown has passed, then lets exactly one
// probe through (half-open): the probe's success closes it, its failure opens
// it for another Cooldown. Calls refused while a probe is in flight wait
// ProbeWait. Safe for concurrent use.
type Breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	state    string
	failures int       // consecutive transient failures while closed
	openedAt time.Time // when it last opened
	probing  bool      // a half-open probe is in flight
	opened   int64     // how many times it opened (metrics)
}

// NewBreaker returns a closed breaker that opens after threshold consecutive
// transient failures (default 5 when ≤ 0) and stays open for cooldown
// (default 30s when ≤ 0). now is the clock (time.Now when nil).
func NewBreaker(threshold int, cooldown time.Duration, now func() time.Time) *Breaker {
	if threshold <= 0 {
		threshold = 5
	}
	if cooldown <= 0 {
		cooldown = 30 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	return &Breaker{threshold: threshold, cooldown: cooldown, now: now, state: StateClosed}
}

// ProbeWait is how long a call refused because a half-open probe is in flight
// is asked to wait: the probe decides quickly.
func (b *Breaker) ProbeWait() time.Duration { return min(b.cooldown, time.Second) }

// State is "closed", "open" or "half-open" (an open breaker whose cooldown
// has passed reports half-open: the next call probes).
func (b *Breaker) State() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == StateOpen && !b.now().Before(b.openedAt.Add(b.cooldown)) {
		return StateHalfOpen
	}
	return b.state
}

// Opened is how many times the breaker has opened.
func (b *Breaker) Opened() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opened
}

// Call outcomes reported to a breaker.
const (
	callOK        = iota // an answer: the destination is up
	callFailed           // a transient failure
	callAbandoned        // the caller gave up (its context ended): says nothing
)

// Allow asks to make one call. When allowed, the caller must call done
// exactly once with whether the call failed transiently. When refused, the
// error is processors.RetryAfter(ErrCircuitOpen, wait).
func (b *Breaker) Allow() (done func(failed bool), err error) {
	report, err := b.allow()
	if err != nil {
		return nil, err
	}
	return func(failed bool) {
		if failed {
			report(callFailed)
		} else {
			report(callOK)
		}
	}, nil
}

func (b *Breaker) allow() (report func(outcome int), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	switch b.state {
	case StateOpen:
		until := b.openedAt.Add(b.cooldown)
		if now.Before(until) {
			wait := until.Sub(now)
			return nil, processors.RetryAfter(fmt.Errorf("%w (retry in %s)", ErrCircuitOpen, wait.Round(time.Millisecond)), wait)
		}
		b.state = StateHalfOpen
		b.probing = true
		return b.reportFunc(true), nil
	case StateHalfOpen:
		if b.probing {
			return nil, processors.RetryAfter(fmt.Errorf("%w (half-open, probe in flight)", ErrCircuitOpen), b.ProbeWait())
		}
		b.probing = true
		return b.reportFunc(true), nil
	}
	return b.reportFunc(false), nil
}

func (b *Breaker) reportFunc(probe bool) func(int) {
	var once sync.Once
	return func(outcome int) { once.Do(func() { b.record(probe, outcome) }) }
}

func (b *Breaker) record(probe bool, outcome int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
		switch outcome {
		case callFailed:
			b.open()
		case callOK:
			b.state, b.failures = StateClosed, 0
		}
		// Abandoned: still half-open, the next call probes.
		return
	}
	if b.state != StateClosed || outcome == callAbandoned {
		// A call let through before the breaker opened: the open state
		// (or the probe) decides now.
		return
	}
	if outcome == callOK {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.threshold {
		b.open()
	}
}

func (b *Breaker) open() {
	b.state, b.openedAt, b.failures = StateOpen, b.now(), 0
	b.opened++
}
