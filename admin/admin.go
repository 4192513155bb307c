// Package admin is Hookstream's operator API under /api/: the live
// notification feed (Server-Sent Events), the audit trail of any event,
// per-source analytics and contact erasure. Every route requires
// "Authorization: Bearer <HOOKSTREAM_ADMIN_TOKEN>" (compared in constant
// time; 401 otherwise); without a configured token the whole API answers 404,
// as if it did not exist.
//
// The queries behind the routes (Audit, ListEvents, SourceMetrics, Forget)
// are exported for the CLI (`hookstream events|stats|contacts forget`), so
// both read the same records: event_outcomes, notifications, erasures in
// Postgres and the raw request in the INGEST stream.
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
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/ops/erasure"
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
	a := &API{cfg: cfg, mux: http.NewServeMux(), log: cfg.Log.With("component", "admin"), closing: make(chan struct{})}
	a.tokenSum = sha256.Sum256([]byte(cfg.Token))
	a.mux.HandleFunc("GET /api/events/live", a.live)
	a.mux.HandleFunc("GET /api/events", a.handle(a.listEvents))
	a.mux.HandleFunc("GET /api/events/{event_id...}", a.handle(a.showEvent))
	a.mux.HandleFunc("GET /api/webhooks/{id}/metrics", a.handle(a.webhookMetrics))
	a.mux.HandleFunc("GET /api/metrics", a.handle(a.allMetrics))
	a.mux.HandleFunc("GET /api/notifications", a.handle(a.listNotifications))
	a.mux.HandleFunc("POST /api/contacts/{id}/forget", a.handle(a.forget))
	a.mux.HandleFunc("/api/", a.handle(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, notFound("no such route")
	}))
	return a
}

// Pattern is where to mount the API on the gateway.
const Pattern = "/api/"

// Close ends open live feeds (call it when the HTTP server shuts down:
// http.Server.Shutdown waits for them otherwise).
func (a *API) Close() { a.closeOnce.Do(func() { close(a.closing) }) }

// ServeHTTP checks the admin token, then routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if a.cfg.Token == "" {
		writeError(w, notFound("no such route"))
		return
	}
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookstream"`)
		writeError(w, &apiError{Status: http.StatusUnauthorized, Code: "unauthorized",
			Message: "Authorization: Bearer <HOOKSTREAM_ADMIN_TOKEN> required"})
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

// apiError is rendered as {"error": code, "message": …, "details": […]}
// like the gateway's errors.
type apiError struct {
	Status  int      `json:"-"`
	Code    string   `json:"error"`
	Message string   `json:"message"`
	Details []string `json:"details"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func notFound(msg string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: msg}
}

func badRequest(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal_error", Message: "internal error"}
	}
	if ae.Details == nil {
		ae.Details = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.Status)
	json.NewEncoder(w).Encode(ae)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// handle adapts a (value, error) handler.
func (a *API) handle(f func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := f(w, r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				a.log.Error("admin request failed", "route", r.Pattern, "err", err)
			}
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *API) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 30*time.Second)
}

func queryDuration(r *http.Request, name string) (time.Duration, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	d, err := ParseSince(v)
	if err != nil {
		return 0, badRequest(name + ": " + err.Error())
	}
	return d, nil
}

// ParseSince reads a look-back: a Go duration ("90m", "1h") or days ("7d").
func ParseSince(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, errors.New("want a duration like 1h, 90m or 7d")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("want a duration like 1h, 90m or 7d")
	}
	return d, nil
}

func queryLimit(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, badRequest("limit: want 1.." + strconv.Itoa(max))
	}
	return n, nil
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) (any, error) {
	since, err := queryDuration(r, "since")
	if err != nil {
		return nil, err
	}
	limit, err := queryLimit(r, 50, 1000)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	f := EventFilter{Source: q.Get("webhook"), Status: q.Get("status"), Since: since, Limit: limit}
	if err := f.Validate(); err != nil {
		return nil, badRequest(err.Error())
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	evs, err := ListEvents(ctx, a.cfg.DB, f, a.cfg.Now())
	if err != nil {
		return nil, err
	}
	return map[string]any{"events": evs, "count": len(evs)}, nil
}

func (a *API) showEvent(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("event_id")
	if id == "" {
		return nil, notFound("no such event")
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	rec, err := Audit(ctx, a.cfg.DB, a.cfg.JS, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound("no event " + strconv.Quote(id) + " in the outcomes or INGEST")
	}
	return rec, err
}

func (a *API) webhookMetrics(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	m, err := SourceMetrics(ctx, a.cfg.DB, r.PathValue("id"), a.cfg.Now())
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (a *API) allMetrics(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	ms, err := AllSourceMetrics(ctx, a.cfg.DB, a.cfg.Now())
	if err != nil {
		return nil, err
	}
	return map[string]any{"sources": ms}, nil
}

func (a *API) listNotifications(w http.ResponseWriter, r *http.Request) (any, error) {
	since, err := queryDuration(r, "since")
	if err != nil {
		return nil, err
	}
	limit, err := queryLimit(r, 50, 1000)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	ctx, cancel := a.ctx(r)
	defer cancel()
	ns, err := ListNotifications(ctx, a.cfg.DB, NotificationFilter{Status: q.Get("status"), Channel: q.Get("channel"),
		EventID: q.Get("event_id"), Since: since, Limit: limit}, a.cfg.Now())
	if err != nil {
		return nil, err
	}
	return map[string]any{"notifications": ns, "count": len(ns)}, nil
}

func (a *API) forget(w http.ResponseWriter, r *http.Request) (any, error) {
	var body struct {
		Reason      string `json:"reason"`
		RequestedBy string `json:"requested_by"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
			return nil, badRequest("body: want {\"reason\": …, \"requested_by\": …}")
		}
	}
	purge, _ := strconv.ParseBool(r.URL.Query().Get("purge_streams"))
	ctx, cancel := a.ctx(r)
	defer cancel()
	e, err := erasure.Forget(ctx, a.cfg.DB, a.cfg.JS, r.PathValue("id"), erasure.ForgetOptions{Reason: body.Reason,
		RequestedBy: firstNonEmpty(body.RequestedBy, "api"), PurgeStreams: purge})
	if errors.Is(err, erasure.ErrNotFound) {
		return nil, notFound("no such contact")
	}
	return e, err
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
