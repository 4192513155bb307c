package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/ops/audit"
	"github.com/hookstream/hookstream/ops/erasure"
)

// querySince reads a look-back parameter as the time it reaches back to
// (zero without one).
func (a *API) querySince(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	d, err := ops.ParseSince(v)
	if err != nil {
		return time.Time{}, ops.Invalid(name, err.Error())
	}
	if d == 0 {
		return time.Time{}, nil
	}
	return a.cfg.Now().Add(-d), nil
}

func queryLimit(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, ops.Invalid("limit", "want 1.."+strconv.Itoa(max))
	}
	return n, nil
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) (any, error) {
	since, err := a.querySince(r, "since")
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
	evs, err := a.trail.Events(ctx, audit.EventFilter{Source: q.Get("webhook"), Status: q.Get("status"), Since: since, Limit: limit})
	if err != nil {
		return nil, err
	}
	return map[string]any{"events": evs, "count": len(evs)}, nil
}

func (a *API) showEvent(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("event_id")
	if id == "" {
		return nil, ops.NotFound("no such event")
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	return a.trail.Event(ctx, id)
}

func (a *API) webhookMetrics(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	return a.stats.Source(ctx, r.PathValue("id"))
}

func (a *API) allMetrics(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	ms, err := a.stats.Sources(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"sources": ms}, nil
}

func (a *API) listNotifications(w http.ResponseWriter, r *http.Request) (any, error) {
	since, err := a.querySince(r, "since")
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
	ns, err := a.trail.Notifications(ctx, audit.NotificationFilter{Status: q.Get("status"), Channel: q.Get("channel"),
		EventID: q.Get("event_id"), Since: since, Limit: limit})
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
			return nil, ops.Invalid("", "body: want {\"reason\": …, \"requested_by\": …}")
		}
	}
	purge, _ := strconv.ParseBool(r.URL.Query().Get("purge_streams"))
	requestedBy := body.RequestedBy
	if requestedBy == "" {
		requestedBy = "api"
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	e, err := erasure.Forget(ctx, a.cfg.DB, a.cfg.JS, r.PathValue("id"), erasure.ForgetOptions{Reason: body.Reason,
		RequestedBy: requestedBy, PurgeStreams: purge})
	if errors.Is(err, erasure.ErrNotFound) {
		return nil, ops.NotFound("no such contact")
	}
	return e, err
}
