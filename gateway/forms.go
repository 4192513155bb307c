package gateway

import (
	"net/http"
	"strings"

	"github.com/hookstream/hookstream/internal/httperr"
	"github.com/hookstream/hookstream/internal/textcut"
	"github.com/hookstream/hookstream/streams"
)

// formTypes are the website's forms.
var formTypes = map[string]bool{"contact": true, "newsletter": true, "consultation": true}

// handleForm serves POST /forms/{form_type} (and its CORS preflight): an
// allow-list of origins, a per-IP rate limit and field validation with
// per-field details.
func (g *Gateway) handleForm(w http.ResponseWriter, r *http.Request) error {
	formType := r.PathValue("form_type")
	if !formTypes[formType] {
		return httperr.New(httperr.NotFound, "unknown form type; use contact, newsletter or consultation")
	}
	origin := r.Header.Get("Origin")
	if origin != "" {
		if !g.originAllowed(origin) {
			return &httperr.Error{Code: httperr.Forbidden, Message: "origin not allowed", Reason: "origin"}
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
	}
	if r.Method == http.MethodOptions {
		if origin == "" {
			return httperr.New(httperr.Forbidden, "preflight without Origin")
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Idempotency-Key")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if ok, d := g.ipLimit.allow(remoteIP(r)); !ok {
		return &httperr.Error{Code: httperr.RateLimited, Message: "too many submissions; retry later", RetryAfter: d}
	}
	mt, err := mediaType(r, ctJSON, ctForm)
	if err != nil {
		return err
	}
	body, err := g.readBody(w, r)
	if err != nil {
		return err
	}
	if err := checkSyntax(mt, body); err != nil {
		return err
	}
	vals, err := validateForm(formType, mt, body, g.cfg.DefaultRegion)
	if err != nil {
		return err
	}
	msgID := hashID("form:"+formType+":sha256:", []byte(formType), body)
	if k, ok := cleanID(r.Header.Get("Idempotency-Key")); ok {
		msgID = "form:" + formType + ":" + k
	} else if k, ok := cleanID(vals["submission_id"]); ok {
		msgID = "form:" + formType + ":" + k
	}
	ev := &event{
		subject:     streams.IngestSubject(streams.SubjectIngestForm, formType),
		msgID:       msgID,
		source:      streams.SourceForm,
		workspace:   g.cfg.Workspace,
		contentType: mt,
		body:        body,
		extra:       map[string]string{streams.HdrFormType: formType},
	}
	if origin != "" {
		ev.extra[streams.HdrOrigin] = textcut.Bytes(origin, 256)
	}
	return g.accept(w, r, "form", ev)
}

func (g *Gateway) originAllowed(origin string) bool {
	for _, o := range g.cfg.CORSOrigins {
		if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}
