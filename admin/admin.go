// Package admin is Hookstream's operator API under /api/: the live
// notification feed (Server-Sent Events), the audit trail of any event,
// per-source analytics and contact erasure. Every route requires
// "Authorization: Bearer <HOOKSTREAM_ADMIN_TOKEN>" (compared in constant
// time; 401 otherwise); without a configured token the whole API answers 404,
// as if it did not exist.
//
// The package is only HTTP: routing, the token, query parsing, JSON and SSE
// framing. The operations are the ops packages (ops/audit, ops/stats,
// ops/live), which the CLI verbs call too, so both read the same records.
// Errors are answered like the gateway's, {"error": code, "message": …,
// "details": […]}, with the codes and statuses of internal/httperr.
//
// Routes:
//
//	GET  /api/events/live              SSE feed of notifications (Last-Event-ID resume; ?workspace=, ?since=1h)
//	GET  /api/events                   recent events (?webhook=, ?status=ok|failed|pending|<status>, ?since=1h, ?limit=)
//	GET  /api/events/{event_id}        the audit record of one event
//	GET  /api/webhooks/{id}/metrics    analytics of one source (a webhook id, stripe, facebook, mailerlite, form[:type])
//	GET  /api/metrics                  analytics of every source
//	GET  /api/notifications            recent notifications (?status=, ?channel=, ?since=, ?limit=)
//	POST /api/contacts/{id}/forget     erase a contact's personal data (?purge_streams=true; JSON {"reason": …})
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/httperr"
	"github.com/hookstream/hookstream/ops/audit"
	"github.com/hookstream/hookstream/ops/live"
	"github.com/hookstream/hookstream/ops/stats"
)

// Config wires the API.
type Config struct {
	// Token is HOOKSTREAM_ADMIN_TOKEN; empty turns the API off (404).
	Token string
	DB    *pgxpool.Pool
	JS    jetstream.JetStream
	Log   *slog.Logger
	Now   func() time.Time
	// Heartbeat is how often an idle live feed sends a comment line (keeps
	// proxies from closing it). Default 15s.
	Heartbeat time.Duration
}

// API serves /api/.
type API struct {
	cfg      Config
	mux      *http.ServeMux
	tokenSum [32]byte
	log      *slog.Logger
	trail    audit.Trail
	stats    stats.Reader
	feed     live.Feed

	closeOnce sync.Once
	closing   chan struct{}
}

// New builds the API.
func New(cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	a := &API{cfg: cfg, mux: http.NewServeMux(), log: cfg.Log.With("component", "admin"), closing: make(chan struct{}),
		trail: audit.Trail{DB: cfg.DB, JS: cfg.JS}, stats: stats.Reader{DB: cfg.DB, Now: cfg.Now}}
	a.feed = live.Feed{JS: cfg.JS, Log: a.log}
	a.tokenSum = sha256.Sum256([]byte(cfg.Token))
	a.mux.HandleFunc("GET /api/events/live", a.live)
	a.mux.HandleFunc("GET /api/events", a.handle(a.listEvents))
	a.mux.HandleFunc("GET /api/events/{event_id...}", a.handle(a.showEvent))
	a.mux.HandleFunc("GET /api/webhooks/{id}/metrics", a.handle(a.webhookMetrics))
	a.mux.HandleFunc("GET /api/metrics", a.handle(a.allMetrics))
	a.mux.HandleFunc("GET /api/notifications", a.handle(a.listNotifications))
	a.mux.HandleFunc("POST /api/contacts/{id}/forget", a.handle(a.forget))
	a.mux.HandleFunc("/api/", a.handle(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, errNoRoute
	}))
	return a
}

// Pattern is where to mount the API on the gateway.
const Pattern = "/api/"

var errNoRoute = httperr.New(httperr.NotFound, "no such route")

// Close ends open live feeds (call it when the HTTP server shuts down:
// http.Server.Shutdown waits for them otherwise).
func (a *API) Close() { a.closeOnce.Do(func() { close(a.closing) }) }

// ServeHTTP checks the admin token, then routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if a.cfg.Token == "" {
		httperr.Write(w, errNoRoute)
		return
	}
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookstream"`)
		httperr.Write(w, httperr.New(httperr.Unauthorized, "Authorization: Bearer <HOOKSTREAM_ADMIN_TOKEN> required"))
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authorized compares SHA-256 digests in constant time, so neither the
// token's bytes nor its length leak through timing.
func (a *API) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1
}
