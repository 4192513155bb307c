package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/internal/httperr"
	"github.com/hookstream/hookstream/ops"
)

// handle adapts a (value, error) handler: the value is answered as JSON,
// the error through answerError.
func (a *API) handle(f func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := f(w, r)
		if err != nil {
			a.answerError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v) // the status is sent; a client that went away cannot be told
	}
}

// answerError is where the operations' errors become HTTP answers.
func (a *API) answerError(w http.ResponseWriter, r *http.Request, err error) {
	e := httpError(err)
	if e == nil {
		a.log.Error("admin request failed", "route", r.Pattern, "err", err)
		e = httperr.New(httperr.Internal, "internal error")
	}
	httperr.Write(w, e)
}

// httpError maps an error to its code, or nil for an internal error (whose
// text is not shown).
func httpError(err error) *httperr.Error {
	var he *httperr.Error
	if errors.As(err, &he) {
		return he
	}
	var ie *ops.InputError
	switch {
	case errors.As(err, &ie):
		e := httperr.New(httperr.InvalidRequest, ie.Error())
		if ie.Field != "" {
			e.Details = []httperr.Detail{{Field: ie.Field, Code: "invalid_value", Message: ie.Message}}
		}
		return e
	case errors.Is(err, ops.ErrNotFound):
		return httperr.New(httperr.NotFound, err.Error())
	case errors.Is(err, ops.ErrUnavailable):
		return httperr.New(httperr.Unavailable, "the stream is unavailable")
	}
	return nil
}

func (a *API) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 30*time.Second)
}
