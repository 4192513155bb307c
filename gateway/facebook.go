package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/internal/httperr"
	"github.com/hookstream/hookstream/streams"
)

// handleFacebook serves the Lead Ads webhook: GET answers the subscription
// challenge, POST is verified (X-Hub-Signature-256) and split into one event
// per leadgen change, each de-duplicated by its leadgen id.
func (g *Gateway) handleFacebook(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodGet {
		challenge, ok := verify.VerifyFacebookChallenge(r.URL.Query(), g.cfg.FacebookVerifyToken)
		if !ok {
			return &httperr.Error{Code: httperr.Forbidden, Message: "verification token mismatch", Reason: "bad_verify_token"}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(challenge))
		return nil
	}
	if _, err := mediaType(r, ctJSON); err != nil {
		return err
	}
	body, err := g.readBody(w, r)
	if err != nil {
		return err
	}
	if err := verify.VerifyFacebook(r.Header, body, nonEmpty(g.cfg.FacebookAppSecret)); err != nil {
		return verifyError(err)
	}
	if err := checkSyntax(ctJSON, body); err != nil {
		return err
	}
	var n struct {
		Object string `json:"object"`
		Entry  []struct {
			ID      json.RawMessage `json:"id"`
			Changes []struct {
				Field string          `json:"field"`
				Value json.RawMessage `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &n); err != nil || n.Entry == nil {
		return httperr.New(httperr.Invalid, "expected {\"object\":\"page\",\"entry\":[…]}")
	}
	var out []*event
	for _, e := range n.Entry {
		for _, c := range e.Changes {
			if c.Field != "leadgen" {
				continue
			}
			var v struct {
				LeadgenID json.Number `json:"leadgen_id"`
			}
			d := json.NewDecoder(bytes.NewReader(c.Value))
			d.UseNumber()
			if err := d.Decode(&v); err != nil || !streams.ValidToken(string(v.LeadgenID), false) {
				return &httperr.Error{Code: httperr.Invalid, Message: "leadgen change without a valid leadgen_id",
					Details: []httperr.Detail{{Field: "leadgen_id", Code: "invalid_value", Message: "missing or invalid"}}}
			}
			out = append(out, &event{
				subject:     streams.SubjectIngestFacebook,
				msgID:       "fb:" + string(v.LeadgenID),
				source:      streams.SourceFacebook,
				workspace:   g.cfg.Workspace,
				contentType: ctJSON,
				body:        c.Value,
				extra:       map[string]string{streams.HdrEventType: "leadgen"},
			})
		}
	}
	// Every change must be stored before Facebook hears 200; if one publish
	// fails the whole delivery is retried and the stored ones de-duplicate.
	res := struct {
		Accepted bool        `json:"accepted"`
		Events   []*Accepted `json:"events"`
	}{Accepted: true, Events: []*Accepted{}}
	for _, ev := range out {
		a, err := g.publish(w, r, "facebook", ev)
		if err != nil {
			return err
		}
		res.Events = append(res.Events, &a)
	}
	httperr.WriteJSON(w, http.StatusOK, res)
	return nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
