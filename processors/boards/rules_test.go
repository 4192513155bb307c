package boards

import (
	"encoding/json"
	"testing"

	"github.com/hookstream/hookstream/processors/events"
)

func cond(field, op, value string) Condition {
	c := Condition{Field: field, Op: op}
	if value != "" {
		c.Value = json.RawMessage(value)
	}
	return c
}

// ev is the original system's lead as the boards processor sees it.
func ev() *events.ContactChanged {
	return &events.ContactChanged{
		Origin: events.Origin{SourceEventID: "wh:wh_1:1", Source: "webhook", WebhookID: "wh_1"},
		Contact: events.Contact{ID: "ct_1", WorkspaceID: "15213", CRMID: "crm_12345", Email: "benjie@example.com",
			Phone: "+16266633444", FirstName: "Benjie", Product: "Bath Remodel", LeadStatus: "new",
			Company: "Malinao Co", Custom: map[string]string{"budget": "15000", "project": "Walk-in shower"}},
		MatchType: "crm_id", UTMSource: "google", UTMMedium: "cpc", LeadScore: 65,
	}
}

func TestConditionMatches(t *testing.T) {
	cases := []struct {
		c    Condition
		want bool
	}{
		{cond("product", "eq", `"Bath Remodel"`), true},
		{cond("product", "eq", `" bath remodel "`), true}, // case and space do not matter
		{cond("product", "eq", `"Kitchen"`), false},
		{cond("product", "neq", `"Kitchen"`), true},
		{cond("product", "neq", `"BATH REMODEL"`), false},
		{cond("lead_status", "in", `["contacted","New"]`), true},
		{cond("lead_status", "in", `["contacted","won"]`), false},
		{cond("lead_status", "in", `[]`), false},
		{cond("product", "contains", `"remodel"`), true},
		{cond("product", "contains", `"kitchen"`), false},
		{cond("company", "exists", ""), true},
		{cond("service_interest", "exists", ""), false},
		{cond("service_interest", "exists", `false`), true},
		{cond("company", "exists", `false`), false},
		{cond("score", "gte", `65`), true},
		{cond("score", "gte", `65.5`), false},
		{cond("score", "lte", `65`), true},
		{cond("score", "lte", `10`), false},
		{cond("custom.budget", "gte", `10000`), true},
		{cond("custom.budget", "gte", `20000`), false},
		{cond("custom.project", "contains", `"shower"`), true},
		{cond("custom.missing", "exists", ""), false},
		{cond("custom.missing", "gte", `0`), false}, // no number: no match
		{cond("custom.project", "gte", `0`), false}, // not a number
		{cond("webhook_id", "eq", `"wh_1"`), true},
		{cond("source", "eq", `"webhook"`), true},
		{cond("form_type", "exists", ""), false},
		{cond("utm_source", "eq", `"google"`), true},
		{cond("utm_medium", "in", `["cpc","ppc"]`), true},
		{cond("utm_campaign", "exists", ""), false},
		{cond("email", "contains", `"@example.com"`), true},
		{cond("phone", "eq", `"+16266633444"`), true},
		{cond("crm_id", "exists", ""), true},
		{cond("match_type", "eq", `"crm_id"`), true},
		{cond("is_new_contact", "eq", `"false"`), true},
		{cond("is_new_contact", "eq", `"true"`), false},
	}
	for _, c := range cases {
		if got := c.c.Matches(ev()); got != c.want {
			t.Errorf("%s %s %s: %v, want %v", c.c.Field, c.c.Op, c.c.Value, got, c.want)
		}
	}
}

func TestConditionValidate(t *testing.T) {
	good := []Condition{
		cond("product", "eq", `"x"`), cond("lead_status", "in", `["a","b"]`), cond("company", "exists", ""),
		cond("score", "gte", `50`), cond("custom.budget", "lte", `1e4`), cond("utm_source", "contains", `"goo"`),
		cond("product", "neq", `""`),
	}
	for _, c := range good {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := []Condition{
		cond("nope", "eq", `"x"`), cond("product", "like", `"x"`), cond("product", "eq", `1`),
		cond("product", "eq", ""), cond("lead_status", "in", `"a"`), cond("lead_status", "in", `[1]`),
		cond("score", "gte", `"50"`), cond("score", "lte", ""), cond("", "eq", `"x"`),
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestFirstMatch(t *testing.T) {
	rule := func(id string, active bool, cs ...Condition) *Rule {
		return &Rule{ID: id, BoardID: "bd_" + id, Active: active, Conditions: cs}
	}
	bath := cond("product", "eq", `"Bath Remodel"`)
	isNew := cond("lead_status", "eq", `"new"`)
	kitchen := cond("product", "eq", `"Kitchen"`)
	hot := cond("score", "gte", `60`)
	cases := []struct {
		name  string
		rules []*Rule // in priority order, as Store.Rules returns them
		want  string
	}{
		{"no rules", nil, ""},
		{"all conditions must hold", []*Rule{rule("a", true, bath, cond("lead_status", "eq", `"won"`))}, ""},
		{"the scenario's rule", []*Rule{rule("kitchen", true, kitchen), rule("new-leads", true, bath, isNew)}, "new-leads"},
		{"first match by priority wins", []*Rule{rule("hot", true, hot), rule("new-leads", true, bath, isNew)}, "hot"},
		{"inactive rules are skipped", []*Rule{rule("hot", false, hot), rule("new-leads", true, bath, isNew)}, "new-leads"},
		{"catch-all matches everything", []*Rule{rule("kitchen", true, kitchen), rule("all", true)}, "all"},
		{"catch-all placed first shadows the rest", []*Rule{rule("all", true), rule("new-leads", true, bath, isNew)}, "all"},
		{"inactive catch-all", []*Rule{rule("all", false)}, ""},
		{"custom field", []*Rule{rule("budget", true, cond("custom.budget", "gte", `10000`))}, "budget"},
	}
	for _, c := range cases {
		got := FirstMatch(c.rules, ev())
		id := ""
		if got != nil {
			id = got.ID
		}
		if id != c.want {
			t.Errorf("%s: %q, want %q", c.name, id, c.want)
		}
	}
}
