package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/hookstream/hookstream/gateway/verify"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

// WebhookStore loads one webhook's configuration (webhooksdb.Webhooks).
type WebhookStore interface {
	Get(ctx context.Context, id string) (*webhooksdb.Webhook, error)
}

// WebhookCache keeps webhook configurations, their built verifiers and rate
// limiters in memory so a request needs no database round trip. Entries live
// for TTL and are dropped at once when Postgres announces a change. If
// Postgres is unreachable when an entry expires, the stale entry keeps
// serving (reloads are retried every few seconds, not on every request):
// ingest must not depend on the database being up. A stale entry's verifier
// is still rebuilt at each retry, so a rotated-out secret stops verifying at
// its expiry even during an outage.
type WebhookCache struct {
	store   WebhookStore
	ttl     time.Duration
	now     func() time.Time
	rate    float64
	burst   int
	log     *slog.Logger
	mu      sync.RWMutex
	entries map[string]*cachedWebhook
	limits  map[string]*rate.Limiter // survive reloads so a reload does not refill a bucket
	group   singleflight.Group
}

type cachedWebhook struct {
	wh       *webhooksdb.Webhook // nil: known not to exist
	subject  string              // ingest.webhook.<id>, built once rather than per request
	verifier verify.Verifier
	buildErr error
	limiter  *rate.Limiter
	expires  time.Time
}

const (
	negativeTTL = 5 * time.Second // an unknown id is looked up again after this
	staleRetry  = 5 * time.Second // a failed reload is retried after this
)

// NewWebhookCache builds a cache over store.
func NewWebhookCache(store WebhookStore, cfg Config, log *slog.Logger) *WebhookCache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &WebhookCache{store: store, ttl: cfg.WebhookCacheTTL, now: cfg.Now, rate: cfg.WebhookRate,
		burst: cfg.WebhookBurst, log: log, entries: map[string]*cachedWebhook{}, limits: map[string]*rate.Limiter{}}
}

// get returns the entry for id; entry.wh is nil for an unknown webhook.
func (c *WebhookCache) get(ctx context.Context, id string) (*cachedWebhook, error) {
	now := c.now()
	c.mu.RLock()
	e := c.entries[id]
	c.mu.RUnlock()
	if e != nil && now.Before(e.expires) {
		return e, nil
	}
	v, err, _ := c.group.Do(id, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		wh, err := c.store.Get(lctx, id)
		if errors.Is(err, webhooksdb.ErrNotFound) {
			wh, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		return c.put(id, wh, c.ttl), nil
	})
	if err != nil {
		if e != nil {
			c.log.Warn("webhook config reload failed; serving cached copy", "webhook_id", id, "err", err)
			// Rebuilt from the cached row at the current time: secrets that
			// expired meanwhile no longer verify.
			return c.put(id, e.wh, min(c.ttl, staleRetry)), nil
		}
		return nil, err
	}
	return v.(*cachedWebhook), nil
}

// put caches wh (nil: known not to exist) for at most ttl.
func (c *WebhookCache) put(id string, wh *webhooksdb.Webhook, ttl time.Duration) *cachedWebhook {
	now := c.now()
	e := &cachedWebhook{wh: wh, expires: now.Add(min(ttl, negativeTTL))}
	if wh != nil {
		e.expires = now.Add(ttl)
		for _, s := range wh.Secrets {
			if s.ExpiresAt != nil && s.ExpiresAt.After(now) && s.ExpiresAt.Before(e.expires) {
				e.expires = *s.ExpiresAt
			}
		}
		e.subject = streams.IngestSubject(streams.SubjectIngestWebhook, id)
		e.verifier, e.buildErr = verifierFor(wh, c.now)
		r, b := c.rate, c.burst
		if wh.RateLimit > 0 {
			r, b = wh.RateLimit, max(1, int(wh.RateLimit*2))
		}
		c.mu.Lock()
		l := c.limits[id]
		if l == nil {
			l = rate.NewLimiter(rate.Limit(r), b)
			c.limits[id] = l
		} else if l.Limit() != rate.Limit(r) || l.Burst() != b {
			l.SetLimit(rate.Limit(r))
			l.SetBurst(b)
		}
		e.limiter = l
		c.entries[id] = e
		c.mu.Unlock()
		return e
	}
	c.mu.Lock()
	if len(c.entries) < 100_000 {
		c.entries[id] = e
	}
	c.mu.Unlock()
	return e
}

// Invalidate drops one entry ("" drops all).
func (c *WebhookCache) Invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == "" {
		c.entries = map[string]*cachedWebhook{}
		return
	}
	delete(c.entries, id)
}

// expireAll marks every entry due for reload but keeps it as the fallback
// should the reload fail (the listener is lost mostly because Postgres is).
func (c *WebhookCache) expireAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.entries {
		if e.wh == nil {
			delete(c.entries, id)
			continue
		}
		stale := *e // entries are read without the lock: never modify one
		stale.expires = time.Time{}
		c.entries[id] = &stale
	}
}

// Listen invalidates entries on Postgres NOTIFY hookstream_webhooks until ctx
// ends, reconnecting after errors. When the listener is lost every entry is
// marked for reload (notifications may have been missed) but kept as the
// fallback, so a Postgres outage does not turn cached webhooks away.
func (c *WebhookCache) Listen(ctx context.Context, pool *pgxpool.Pool) {
	for ctx.Err() == nil {
		err := c.listenOnce(ctx, pool)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("webhook change listener lost; retrying", "err", err)
		c.expireAll()
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

func (c *WebhookCache) listenOnce(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN hookstream_webhooks"); err != nil {
		return err
	}
	c.expireAll() // anything cached before LISTEN may be stale
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			// The connection is in an unknown state: do not return it to the pool.
			conn.Hijack().Close(context.Background())
			return err
		}
		c.Invalidate(n.Payload)
	}
}
