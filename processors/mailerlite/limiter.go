package mailerlite

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter keeps the requests of one process to MailerLite under its rate
// limit (120 requests per minute): a token bucket sized so that no window of
// the given length ever holds more than the limit, plus a pause every caller
// honours after MailerLite answered 429 with Retry-After (the limit is per
// account, so one 429 concerns every request).
//
// A bucket of burst b refilling at r grants at most b + r·W requests in any
// window W. With b = limit/12 and r = (limit − b) / (1.05·W) that is below
// the limit even when our sends and MailerLite's clock disagree by up to 5 %
// of the window (network delays, retries in flight): 120/min becomes a
// burst of 10 and then one request every ~0.57 s.
type Limiter struct {
	bucket *rate.Limiter
	limit  int
	window time.Duration

	mu     sync.Mutex
	paused time.Time // no request before this (Retry-After)
}

// NewLimiter allows at most limit requests in any window (limit ≥ 1,
// window > 0).
func NewLimiter(limit int, window time.Duration) *Limiter {
	limit = max(limit, 1)
	span := window + window/20
	burst := max(1, limit/12)
	var r rate.Limit
	if limit == 1 {
		r = rate.Limit(1 / span.Seconds())
	} else {
		r = rate.Limit(float64(limit-burst) / span.Seconds())
	}
	return &Limiter{bucket: rate.NewLimiter(r, burst), limit: limit, window: window}
}

// Wait blocks until one more request may be sent (or ctx ends).
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		d := time.Until(l.paused)
		l.mu.Unlock()
		if d <= 0 {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return l.bucket.Wait(ctx)
}

// Pause holds every request for d (MailerLite's Retry-After).
func (l *Limiter) Pause(d time.Duration) {
	if d <= 0 {
		return
	}
	until := time.Now().Add(d)
	l.mu.Lock()
	if until.After(l.paused) {
		l.paused = until
	}
	l.mu.Unlock()
}

// Limit is the configured requests per window.
func (l *Limiter) Limit() (int, time.Duration) { return l.limit, l.window }
