package contacts_test

import (
	"encoding/json"
	"testing"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/lead"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/contacts"
)

func TestWeightsScore(t *testing.T) {
	yes, no := true, false
	w := contacts.DefaultWeights()
	cases := []struct {
		name   string
		f      lead.Fields
		repeat bool
		want   int
	}{
		{"nothing", lead.Fields{}, false, 0},
		{"phone", lead.Fields{Phone: "+16265550100"}, false, 20},
		{"email", lead.Fields{Email: "a@example.com"}, false, 15},
		{"consent yes", lead.Fields{MarketingConsent: &yes}, false, 10},
		{"consent no", lead.Fields{MarketingConsent: &no}, false, 0},
		{"product", lead.Fields{Product: "Bath"}, false, 15},
		{"service interest", lead.Fields{ServiceInterest: "Bath"}, false, 15},
		{"product and service count once", lead.Fields{Product: "a", ServiceInterest: "b"}, false, 15},
		{"company", lead.Fields{Company: "Acme"}, false, 10},
		{"utm", lead.Fields{UTM: map[string]string{"utm_source": "g", "utm_medium": "cpc", "utm_campaign": "x"}}, false, 15},
		{"repeat", lead.Fields{}, true, 15},
		{"everything", lead.Fields{Phone: "p", Email: "e", MarketingConsent: &yes, Product: "p", Company: "c",
			UTM: map[string]string{"utm_source": "g", "utm_medium": "cpc"}}, true, 100},
	}
	for _, c := range cases {
		if got := w.Score(c.f, c.repeat); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	heavy := contacts.Weights{Phone: 80, Email: 80}
	if got := heavy.Score(lead.Fields{Phone: "p", Email: "e"}, false); got != 100 {
		t.Errorf("capped score %d", got)
	}
	if err := (contacts.Weights{Phone: -1}).Validate(); err == nil {
		t.Error("negative weight accepted")
	}
	if err := (contacts.Weights{Email: 101}).Validate(); err == nil {
		t.Error("weight above 100 accepted")
	}
}

// Leads and their contacts carry the score from the workspace's weights
// (defaults when none are set), and board rules can route on it.
func TestLeadScoring(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{})
	ctx := ctxT(t)
	whDefault := env.CreateWebhook("ws-score", nil)
	whCustom := env.CreateWebhook("ws-score-custom", nil)
	custom := contacts.Weights{Phone: 5, Email: 30, Company: 40, RepeatContact: 50}
	if err := contacts.SaveWeights(ctx, env.DB, "ws-score-custom", custom); err != nil {
		t.Fatal(err)
	}
	if err := contacts.SaveWeights(ctx, env.DB, "ws-score-custom", contacts.Weights{Phone: -5}); err == nil {
		t.Error("SaveWeights accepted a negative weight")
	}
	if w, err := contacts.LoadWeights(ctx, env.DB, "ws-score-custom"); err != nil || w != custom {
		t.Errorf("LoadWeights: %+v %v", w, err)
	}
	if w, err := contacts.LoadWeights(ctx, env.DB, "ws-score"); err != nil || w != contacts.DefaultWeights() {
		t.Errorf("LoadWeights without a row: %+v %v", w, err)
	}
	bs := &boards.Store{DB: env.DB}
	hot, err := bs.CreateBoard(ctx, "ws-score", "Hot")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.AddRule(ctx, &boards.Rule{WorkspaceID: "ws-score", BoardID: hot.ID, Priority: 1,
		Conditions: []boards.Condition{{Field: "score", Op: "gte", Value: json.RawMessage(`80`)}}}); err != nil {
		t.Fatal(err)
	}
	startPipeline(t, env)

	// Defaults: phone 20 + e-mail 15 + product 15.
	first := postWith(t, env, whDefault, string(fixture(t, "lead-vendor.json")), pipelinetest.WebhookPost{Query: "wait=5s"})
	if first.Score != 50 || first.RuleApplied {
		t.Errorf("first lead: %+v", first)
	}
	// + company 10, utm_source 10, utm_medium 5, repeat contact 15.
	second := post(t, env, whDefault, `{"phone":"+16266633444","email":"benjie@example.com","product":"Bath Remodel",
		"company":"Malinao Co","utm_source":"google","utm_medium":"cpc"}`)
	if second.Score != 90 || !second.RuleApplied || second.BoardName != "Hot" {
		t.Errorf("second lead: %+v", second)
	}
	scores := func(contactID string) (leads []int, contact int) {
		rows, err := env.DB.Query(ctx, `SELECT score FROM leads WHERE contact_id=$1 ORDER BY created_at`, contactID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s int
			rows.Scan(&s)
			leads = append(leads, s)
		}
		return leads, getContact(t, env, contactID).Score
	}
	if l, c := scores(first.ContactID); len(l) != 2 || l[0] != 50 || l[1] != 90 || c != 90 {
		t.Errorf("default weights: leads %v contact %d", l, c)
	}
	if c := getContact(t, env, first.ContactID); c.BoardName != "Hot" {
		t.Errorf("not routed on score: %+v", c)
	}

	// Per-workspace weights.
	a := post(t, env, whCustom, `{"email":"w@example.com","phone":"+16265550111","product":"Bath"}`)
	b := post(t, env, whCustom, `{"email":"w@example.com","company":"Acme"}`)
	if a.Score != 35 || b.Score != 100 {
		t.Errorf("custom weights: %d, %d", a.Score, b.Score)
	}
	if l, c := scores(a.ContactID); len(l) != 2 || l[0] != 35 || l[1] != 100 || c != 100 {
		t.Errorf("custom weights: leads %v contact %d", l, c)
	}
}
