// Package gateway is Hookstream's HTTP ingest: routes, request verification,
// validation and the durable publish that precedes every 2xx.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookstream/hookstream/internal/httperr"
	"github.com/hookstream/hookstream/internal/panics"
)

// Publisher stores a message and returns the stream's acknowledgement
// (streams.Publisher in production).
type Publisher interface {
	Publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error)
}

// Check is one readiness probe (NATS, streams, Postgres).
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
	// Optional checks report "degraded" but keep /readyz at 200: the
	// gateway accepts without them (Postgres: webhook config is cached), and
	// a load balancer must not pull every gateway at once over it.
	Optional bool
}

// ResultWaiter delivers the contacts processor's answer to one event
// (?wait= on lead-vendor webhooks). Optional: without it ?wait is ignored.
type ResultWaiter interface {
	// Expect starts listening for eventID's result. It is called before the
	// publish so a fast processor cannot answer before anyone listens.
	Expect(eventID string) (ResultWait, error)
}

// ResultWait is one pending ?wait.
type ResultWait interface {
	// Wait returns the result body (JSON), or ctx's error when it runs out.
	Wait(ctx context.Context) ([]byte, error)
	// Stop releases the subscription.
	Stop()
}

// Deps are the gateway's collaborators.
type Deps struct {
	Publisher Publisher
	Webhooks  *WebhookCache
	Checks    []Check
	Waiter    ResultWaiter
	Registry  *prometheus.Registry // metrics are registered here and served at /metrics
	Log       *slog.Logger
}

// Gateway serves the ingest routes.
type Gateway struct {
	cfg     Config
	deps    Deps
	mux     *http.ServeMux
	metrics *Metrics
	log     *slog.Logger
	ipLimit *ipLimiter
	// notFound answers unknown routes and non-canonical paths (JSON 404).
	notFound http.Handler
}

// New builds the gateway; mount more routes with Handle.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Publisher == nil {
		return nil, errors.New("gateway: publisher required")
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{
		cfg: cfg, deps: deps, mux: http.NewServeMux(),
		metrics: NewMetrics(deps.Registry), log: deps.Log,
		ipLimit: newIPLimiter(cfg.FormRate, cfg.FormBurst, cfg.Now),
	}
	g.route("/webhooks/stripe", "stripe", g.handleStripe, http.MethodPost)
	g.route("/webhooks/facebook", "facebook", g.handleFacebook, http.MethodGet, http.MethodPost)
	g.route("/webhooks/mailerlite", "mailerlite", g.handleMailerLite, http.MethodPost)
	g.route("/webhooks/{webhook_id}", "webhook", g.handleWebhook, http.MethodPost)
	g.route("/forms/{form_type}", "form", g.handleForm, http.MethodPost, http.MethodOptions)
	g.route("/healthz", "healthz", g.handleHealthz, http.MethodGet, http.MethodHead)
	g.route("/readyz", "readyz", g.handleReadyz, http.MethodGet, http.MethodHead)
	metrics := promhttp.HandlerFor(deps.Registry, promhttp.HandlerOpts{})
	g.route("/metrics", "metrics", func(w http.ResponseWriter, r *http.Request) error {
		metrics.ServeHTTP(w, r)
		return nil
	}, http.MethodGet)
	g.notFound = g.wrap("unknown", func(http.ResponseWriter, *http.Request) error {
		return httperr.New(httperr.NotFound, "no such route")
	}, "*")
	g.mux.Handle("/", g.notFound)
	return g, nil
}

// Handle mounts another handler (admin API, live feed) on the gateway's mux.
func (g *Gateway) Handle(pattern string, h http.Handler) { g.mux.Handle(pattern, h) }

// Metrics returns the gateway's series (tests read them).
func (g *Gateway) Metrics() *Metrics { return g.metrics }

// ServeHTTP implements http.Handler. A path that is not in canonical form
// ("/webhooks/../../etc", "//x") is answered with the JSON 404 instead of the
// mux's redirect: no sender has a reason to use one, and a redirect would
// invite clients to re-send the body elsewhere.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect && cleanPath(r.URL.Path) != r.URL.Path {
		g.notFound.ServeHTTP(w, r)
		return
	}
	g.mux.ServeHTTP(w, r)
}

// cleanPath is net/http's canonical form of a path (path.Clean, keeping a
// trailing slash).
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			np = p
		} else {
			np += "/"
		}
	}
	return np
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// statusWriter remembers the status for metrics, and carries the request id.
type statusWriter struct {
	http.ResponseWriter
	status int
	reqID  [1]string // the X-Request-Id header's value slice
}

func (s *statusWriter) WriteHeader(c int) {
	if s.status == 0 {
		s.status = c
	}
	s.ResponseWriter.WriteHeader(c)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// route registers a handler with method checks (JSON 405), panic recovery,
// a request id, error rendering and metrics.
func (g *Gateway) route(pattern, name string, h handlerFunc, methods ...string) {
	g.mux.Handle(pattern, g.wrap(name, h, methods...))
}

// wrap is route's handler; methods[0] == "*" allows any method.
func (g *Gateway) wrap(name string, h handlerFunc, methods ...string) http.Handler {
	allow := ""
	for i, m := range methods {
		if i > 0 {
			allow += ", "
		}
		allow += m
	}
	rm := g.metrics.forRoute(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := nuid.Next()
		// The request id travels in the statusWriter (requestID) rather
		// than the request's context: r.WithContext copies the whole
		// Request, an allocation on every request for one string.
		sw := &statusWriter{ResponseWriter: w, reqID: [1]string{reqID}}
		// Canonical key, set directly (Header.Set would canonicalize it
		// again); the value slice lives in sw rather than its own allocation.
		sw.Header()["X-Request-Id"] = sw.reqID[:]
		var perr error
		defer func() {
			if pe, ok := panics.As(perr); ok {
				g.log.Error("handler panic", "route", name, "panic", pe.Value, "request_id", reqID)
				if sw.status == 0 {
					httperr.Write(sw, httperr.New(httperr.Internal, "internal error"))
				}
			}
			rm.request(sw.status)
			rm.observe(time.Since(start).Seconds())
		}()
		defer panics.Catch(&perr) // runs first: the panic is recovered before the answer above
		ok := methods[0] == "*"
		for _, m := range methods {
			if r.Method == m {
				ok = true
			}
		}
		if !ok {
			sw.Header().Set("Allow", allow)
			httperr.Write(sw, httperr.New(httperr.MethodNotAllowed, "method "+r.Method+" not allowed; allowed: "+allow))
			return
		}
		if err := h(sw, r); err != nil {
			var e *httperr.Error
			if errors.As(err, &e) && e.Reason != "" {
				g.metrics.VerifyFail.WithLabelValues(name, e.Reason).Inc()
			}
			if !errors.As(err, &e) {
				g.log.Error("request failed", "route", name, "err", err, "request_id", reqID)
			}
			httperr.Write(sw, err)
		}
	})
}

// requestID is the id wrap gave the request whose answer w writes ("" for
// a writer wrap did not create).
func requestID(w http.ResponseWriter) string {
	if sw, ok := w.(*statusWriter); ok {
		return sw.reqID[0]
	}
	return ""
}

func (g *Gateway) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	httperr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (g *Gateway) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	// Checks run concurrently, each with its own deadline, so one slow
	// dependency cannot eat the others' time.
	res := make([]string, len(g.deps.Checks))
	var wg sync.WaitGroup
	for i, c := range g.deps.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := c.Fn(ctx); err != nil {
				res[i] = err.Error()
			} else {
				res[i] = "ok"
			}
		}()
	}
	wg.Wait()
	ready, degraded := true, false
	checks := map[string]string{}
	for i, c := range g.deps.Checks {
		checks[c.Name] = res[i]
		if res[i] != "ok" {
			if c.Optional {
				degraded = true
			} else {
				ready = false
			}
		}
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", strconv.Itoa(int(g.cfg.RetryAfter/time.Second)))
	}
	httperr.WriteJSON(w, status, map[string]any{"ready": ready, "degraded": degraded, "checks": checks})
	return nil
}
