package boards

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookstream/hookstream/processors/events"
)

// Condition is one test a rule makes on a contact event.
type Condition struct {
	// Field: webhook_id, source, form_type, product, lead_status,
	// service_interest, utm_source, utm_medium, utm_campaign, company, email,
	// phone, crm_id, score, match_type, is_new_contact, custom.<name>.
	Field string `json:"field"`
	// Op: eq, neq, in, contains, exists, gte, lte (numbers).
	Op    string          `json:"op"`
	Value json.RawMessage `json:"value,omitempty"`
}

var ops = map[string]bool{"eq": true, "neq": true, "in": true, "contains": true, "exists": true, "gte": true, "lte": true}

var fields = map[string]bool{"webhook_id": true, "source": true, "form_type": true, "product": true,
	"lead_status": true, "service_interest": true, "utm_source": true, "utm_medium": true, "utm_campaign": true,
	"company": true, "email": true, "phone": true, "crm_id": true, "score": true, "match_type": true, "is_new_contact": true}

// Validate checks a condition can be evaluated.
func (c Condition) Validate() error {
	if !fields[c.Field] && !strings.HasPrefix(c.Field, "custom.") {
		return fmt.Errorf("unknown field %q", c.Field)
	}
	if !ops[c.Op] {
		return fmt.Errorf("unknown op %q (eq, neq, in, contains, exists, gte, lte)", c.Op)
	}
	switch c.Op {
	case "exists":
		return nil
	case "in":
		var vs []string
		if err := json.Unmarshal(c.Value, &vs); err != nil {
			return errors.New("in needs a JSON array of strings")
		}
	case "gte", "lte":
		var f float64
		if err := json.Unmarshal(c.Value, &f); err != nil {
			return fmt.Errorf("%s needs a number", c.Op)
		}
	default:
		var s string
		if err := json.Unmarshal(c.Value, &s); err != nil {
			return fmt.Errorf("%s needs a string", c.Op)
		}
	}
	return nil
}

// value reads a field from the event.
func value(ev *events.ContactChanged, field string) string {
	ct := &ev.Contact
	switch field {
	case "webhook_id":
		return ev.WebhookID
	case "source":
		return ev.Source
	case "form_type":
		return ev.FormType
	case "product":
		return ct.Product
	case "lead_status":
		return ct.LeadStatus
	case "service_interest":
		return ct.ServiceInterest
	case "utm_source":
		return ev.UTMSource
	case "utm_medium":
		return ev.UTMMedium
	case "utm_campaign":
		return ev.UTMCampaign
	case "company":
		return ct.Company
	case "email":
		return ct.Email
	case "phone":
		return ct.Phone
	case "crm_id":
		return ct.CRMID
	case "score":
		return strconv.Itoa(ev.LeadScore)
	case "match_type":
		return ev.MatchType
	case "is_new_contact":
		return strconv.FormatBool(ev.IsNewContact)
	}
	if name, ok := strings.CutPrefix(field, "custom."); ok {
		return ct.Custom[name]
	}
	return ""
}

// Matches reports whether the event satisfies the condition. String
// comparisons ignore case and surrounding space.
//
// Rules are validated when saved; a value that still does not parse (a row
// written by hand) makes its condition match nothing.
func (c Condition) Matches(ev *events.ContactChanged) bool {
	v := strings.TrimSpace(value(ev, c.Field))
	switch c.Op {
	case "exists":
		want := true
		if len(c.Value) > 0 && json.Unmarshal(c.Value, &want) != nil {
			return false
		}
		return (v != "") == want
	case "in":
		var vs []string
		if json.Unmarshal(c.Value, &vs) != nil {
			return false
		}
		for _, x := range vs {
			if strings.EqualFold(strings.TrimSpace(x), v) {
				return true
			}
		}
		return false
	case "gte", "lte":
		var want float64
		if json.Unmarshal(c.Value, &want) != nil {
			return false
		}
		got, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		if c.Op == "gte" {
			return got >= want
		}
		return got <= want
	}
	var s string
	if json.Unmarshal(c.Value, &s) != nil {
		return false
	}
	s = strings.TrimSpace(s)
	switch c.Op {
	case "eq":
		return strings.EqualFold(v, s)
	case "neq":
		return !strings.EqualFold(v, s)
	case "contains":
		return strings.Contains(strings.ToLower(v), strings.ToLower(s))
	}
	return false
}

// Rule routes matching contacts to a board.
type Rule struct {
	ID          string      `json:"id"`
	WorkspaceID string      `json:"workspace_id"`
	BoardID     string      `json:"board_id"`
	BoardName   string      `json:"board_name"`
	Priority    int         `json:"priority"`
	Conditions  []Condition `json:"conditions"`
	Active      bool        `json:"active"`
}

// Matches holds when every condition holds (a rule without conditions
// matches everything: a catch-all board).
func (r *Rule) Matches(ev *events.ContactChanged) bool {
	for _, c := range r.Conditions {
		if !c.Matches(ev) {
			return false
		}
	}
	return true
}

// FirstMatch returns the first rule, by priority, that matches.
func FirstMatch(rules []*Rule, ev *events.ContactChanged) *Rule {
	for _, r := range rules {
		if r.Active && r.Matches(ev) {
			return r
		}
	}
	return nil
}
