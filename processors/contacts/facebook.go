package contacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/lead"
	"github.com/hookstream/hookstream/processors"
	contactsdb "github.com/hookstream/hookstream/projections/contacts"
)

// fetchFacebook returns the lead's field data: from facebook_leads when it
// was fetched before (replays never call the Graph API again), otherwise
// from GET {graph}/{leadgen_id}?access_token=….
func (h *handler) fetchFacebook(ctx context.Context, m *processors.Message) (lead.Values, error) {
	var v struct {
		LeadgenID json.Number `json:"leadgen_id"`
		FormID    json.Number `json:"form_id"`
		PageID    json.Number `json:"page_id"`
	}
	if err := json.Unmarshal(m.Data, &v); err != nil || v.LeadgenID == "" {
		return nil, processors.Reject(fmt.Errorf("facebook change without leadgen_id"))
	}
	id := string(v.LeadgenID)
	body, stored, err := contactsdb.FacebookLead(ctx, h.store.DB, id)
	if err != nil {
		return nil, err
	}
	if !stored {
		if h.cfg.PageToken == "" {
			return nil, processors.Permanent(errors.New("FACEBOOK_PAGE_TOKEN is not configured: cannot fetch the lead"))
		}
		if body, err = h.graphGet(ctx, id); err != nil {
			return nil, err
		}
		if err := contactsdb.SaveFacebookLead(ctx, h.store.DB, id, body); err != nil {
			return nil, err
		}
	}
	vals, err := lead.FacebookFieldData(body)
	if err != nil {
		return nil, processors.Reject(fmt.Errorf("facebook lead %s: %w", id, err))
	}
	if v.FormID != "" {
		vals["form_id"] = string(v.FormID)
	}
	return vals, nil
}

// graphGet calls the Graph API. 404 / "does not exist" means the lead was
// deleted: rejected. 429, 5xx and network errors are retried.
func (h *handler) graphGet(ctx context.Context, id string) ([]byte, error) {
	u := h.cfg.GraphURL + "/" + url.PathEscape(id) + "?access_token=" + url.QueryEscape(h.cfg.PageToken)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.cfg.HTTP.Do(req)
	if err != nil {
		// The URL holds the token: never let it reach logs.
		return nil, fmt.Errorf("graph API request failed: %w", redactURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("graph API read: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusNotFound:
		return nil, processors.Reject(fmt.Errorf("facebook lead %s not found (deleted?)", id))
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		d, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return nil, processors.RetryAfter(fmt.Errorf("graph API answered %d", resp.StatusCode), time.Duration(d)*time.Second)
	}
	var ge struct {
		Error struct {
			Message string `json:"message"`
			Code    int    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &ge) == nil && ge.Error.Code == 100 { // object does not exist / no permission to it
		return nil, processors.Reject(fmt.Errorf("facebook lead %s: %s", id, ge.Error.Message))
	}
	return nil, fmt.Errorf("graph API answered %d: %s", resp.StatusCode, ge.Error.Message)
}

func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
