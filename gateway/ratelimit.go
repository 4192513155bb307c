package gateway

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter is a token bucket per client IP; idle buckets are swept so a
// scan from many addresses cannot grow memory without bound.
type ipLimiter struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	now     func() time.Time
	buckets map[string]*ipBucket
	swept   time.Time
}

type ipBucket struct {
	l    *rate.Limiter
	seen time.Time
}

const maxIPBuckets = 100_000

func newIPLimiter(perSec float64, burst int, now func() time.Time) *ipLimiter {
	return &ipLimiter{r: rate.Limit(perSec), burst: burst, now: now, buckets: map[string]*ipBucket{}}
}

// allow reports whether ip may proceed, and if not how long to wait.
func (l *ipLimiter) allow(ip string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute || len(l.buckets) > maxIPBuckets {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute || len(l.buckets) > maxIPBuckets {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[ip]
	if b == nil {
		b = &ipBucket{l: rate.NewLimiter(l.r, l.burst)}
		l.buckets[ip] = b
	}
	b.seen = now
	return reserve(b.l, now)
}

// reserve takes a token if one is there; otherwise says when one will be.
func reserve(l *rate.Limiter, now time.Time) (bool, time.Duration) {
	if l.AllowN(now, 1) {
		return true, 0
	}
	r := l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	if d < time.Second {
		d = time.Second
	}
	return false, d
}
