package contacts_test

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/events"
)

// The original system's scenario: a lead vendor posts a lead for a contact
// the workspace already has (same CRM id) and asks for the synchronous
// answer; the contact is updated via the CRM id, a "New Leads" rule on
// product and lead status assigns it, and everything is on record.
func TestOriginalScenario(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{})
	const ws = "15213"
	ctx := ctxT(t)
	wh := env.CreateWebhook(ws, nil)
	bs := &boards.Store{DB: env.DB}
	newLeads, err := bs.CreateBoard(ctx, ws, "New Leads")
	if err != nil {
		t.Fatal(err)
	}
	kitchen, err := bs.CreateBoard(ctx, ws, "Kitchen")
	if err != nil {
		t.Fatal(err)
	}
	// A rule evaluated first that does not match, then the scenario's rule.
	if _, err := bs.AddRule(ctx, &boards.Rule{WorkspaceID: ws, BoardID: kitchen.ID, Priority: 10,
		Conditions: []boards.Condition{{Field: "product", Op: "eq", Value: json.RawMessage(`"Kitchen Remodel"`)}}}); err != nil {
		t.Fatal(err)
	}
	rule, err := bs.AddRule(ctx, &boards.Rule{WorkspaceID: ws, BoardID: newLeads.ID, Priority: 20,
		Conditions: []boards.Condition{
			{Field: "product", Op: "eq", Value: json.RawMessage(`"Bath Remodel"`)},
			{Field: "lead_status", Op: "eq", Value: json.RawMessage(`"new"`)},
		}})
	if err != nil {
		t.Fatal(err)
	}
	startPipeline(t, env)

	// The existing contact (imported from the CRM earlier).
	first := post(t, env, wh, `{"crm_id":"crm_12345","email":"benjie.old@example.com","first_name":"Benjie","lead_status":"contacted"}`)
	if !first.IsNewContact || first.MatchType != "new" || first.RuleApplied || first.Message != "New contact created" {
		t.Fatalf("existing contact: %+v", first)
	}

	res := env.PostWebhook(wh, fixture(t, "lead-vendor.json"), pipelinetest.WebhookPost{Query: "wait=5s", ID: "lead-1"})
	if res.Status != 200 {
		t.Fatalf("lead: %d %s", res.Status, res.Body)
	}
	eventID := pipelinetest.EventID(wh, "lead-1")
	got := res.Map(t)
	want := map[string]any{
		"success": true, "message": "Contact updated via crm_id match", "contact_id": first.ContactID,
		"webhook_id": wh.ID, "match_type": "crm_id", "is_new_contact": false, "rule_applied": true,
		"board_name": "New Leads", "board_id": newLeads.ID, "rule_id": rule.ID, "event_id": eventID,
		"request_id": res.Header.Get("X-Request-Id"),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("answer[%q] = %#v, want %#v (answer %s)", k, got[k], v, res.Body)
		}
	}
	if pt, _ := got["processing_time"].(string); !regexp.MustCompile(`^\d+ms$`).MatchString(pt) {
		t.Errorf("processing_time = %q", pt)
	}
	if id, _ := got["lead_id"].(string); id == "" {
		t.Errorf("no lead_id in %s", res.Body)
	}

	// The contact, updated from the lead and assigned.
	cs := getContacts(t, env, ws)
	if len(cs) != 1 {
		t.Fatalf("contacts: %+v", cs)
	}
	c := cs[0]
	if c.ID != first.ContactID || c.CRMID != "crm_12345" || c.Email != "benjie@example.com" || c.Phone != "+16266633444" ||
		c.FirstName != "Benjie" || c.LastName != "Malinao" || c.Product != "Bath Remodel" || c.LeadStatus != "new" ||
		c.BoardID != newLeads.ID || c.BoardName != "New Leads" {
		t.Errorf("contact: %+v", c)
	}

	// One lead per post; this one says how it matched.
	var matchType, product, status, source, webhookID string
	var isNew bool
	if err := env.DB.QueryRow(ctx, `SELECT match_type, is_new_contact, product_interest, lead_status, source, webhook_id
		FROM leads WHERE event_id=$1 AND contact_id=$2`, eventID, c.ID).Scan(&matchType, &isNew, &product, &status, &source, &webhookID); err != nil {
		t.Fatal(err)
	}
	if matchType != "crm_id" || isNew || product != "Bath Remodel" || status != "new" || source != "webhook" || webhookID != wh.ID {
		t.Errorf("lead: %s %v %s %s %s %s", matchType, isNew, product, status, source, webhookID)
	}
	if n := env.Count(`SELECT count(*) FROM leads WHERE contact_id=$1`, c.ID); n != 2 {
		t.Errorf("%d leads, want 2", n)
	}

	// The assignment is recorded and announced.
	var boardID, ruleID, srcEvent string
	if err := env.DB.QueryRow(ctx, `SELECT board_id, rule_id, source_event_id FROM board_assignments
		WHERE event_id=$1`, "contact:"+eventID).Scan(&boardID, &ruleID, &srcEvent); err != nil {
		t.Fatal(err)
	}
	if boardID != newLeads.ID || ruleID != rule.ID || srcEvent != eventID {
		t.Errorf("assignment: %s %s %s", boardID, ruleID, srcEvent)
	}
	env.Eventually(5*time.Second, func() error {
		if len(env.MessagesWithID("EVENTS", "events.board.assigned", "board:"+eventID)) != 1 {
			return errf("events.board.assigned not in EVENTS yet")
		}
		return nil
	})
	msgs := env.MessagesWithID("EVENTS", "events.board.assigned", "board:"+eventID)
	var ba events.BoardAssigned
	if err := msgs[0].JSON(&ba); err != nil {
		t.Fatal(err)
	}
	if ba.ContactID != c.ID || ba.BoardName != "New Leads" || ba.BoardID != newLeads.ID || ba.SourceEventID != eventID ||
		ba.WebhookID != wh.ID || ba.Contact.BoardName != "New Leads" {
		t.Errorf("board.assigned: %+v", ba)
	}
	if h := msgs[0].Header.Get("Hs-Causation-Id"); h != eventID {
		t.Errorf("board.assigned causation id %q", h)
	}
	if n := len(env.MessagesWithID("EVENTS", "events.contact.updated", "contact:"+eventID)); n != 1 {
		t.Errorf("%d events.contact.updated", n)
	}
	var lead events.Lead
	lm := env.MessagesWithID("EVENTS", "events.lead.created", "lead:"+eventID)
	if len(lm) != 1 {
		t.Fatalf("%d events.lead.created", len(lm))
	}
	if err := lm[0].JSON(&lead); err != nil {
		t.Fatal(err)
	}
	if lead.Contact.ID != c.ID || lead.MatchType != "crm_id" || lead.ProductInterest != "Bath Remodel" || lead.LeadID != got["lead_id"] {
		t.Errorf("lead.created: %+v", lead)
	}

	for _, p := range []string{"contacts", "boards"} {
		id := eventID
		if p == "boards" {
			id = "contact:" + eventID
		}
		if o := env.WaitOutcome(p, id); o.Status != processors.StatusOK || o.Attempts != 1 {
			t.Errorf("%s outcome: %+v", p, o)
		}
	}
}

// Without processors running, ?wait runs out and the sender gets the plain
// 202 acknowledgement; the event is stored, and once processed a retry of
// the same delivery (same webhook-id) gets the stored answer.
func TestWaitTimeout(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{})
	wh := env.CreateWebhook("ws-timeout", nil)
	body := fixture(t, "lead-vendor.json")
	start := time.Now()
	res := env.PostWebhook(wh, body, pipelinetest.WebhookPost{Query: "wait=1s", ID: "slow-1"})
	took := time.Since(start)
	if res.Status != 202 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	if took < time.Second || took > 6*time.Second {
		t.Errorf("answered after %v, want about 1s", took)
	}
	got := res.Map(t)
	eventID := pipelinetest.EventID(wh, "slow-1")
	if got["accepted"] != true || got["event_id"] != eventID || got["duplicate"] != false || got["stream_seq"] != float64(1) {
		t.Errorf("202 body: %s", res.Body)
	}

	startPipeline(t, env)
	env.WaitOutcome("contacts", eventID, processors.StatusOK)
	a := postWith(t, env, wh, string(body), pipelinetest.WebhookPost{Query: "wait=5s", ID: "slow-1"})
	if a.EventID != eventID || !a.IsNewContact || a.MatchType != "new" || a.ContactID == "" {
		t.Errorf("answer to the retry: %+v", a)
	}
	if n := env.Count(`SELECT count(*) FROM leads`); n != 1 {
		t.Errorf("%d leads", n)
	}
}

// An event the gateway accepted but the processor rejects (here: the
// webhook's mapping changed while the gateway still had the old one cached)
// is answered 422 with success:false and the reasons.
func TestWaitRejected(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{})
	wh := env.CreateWebhook("ws-422", nil)
	// The gateway caches the webhook (no mapping) on this first post.
	first := env.PostWebhook(wh, []byte(`{"email":"first@example.com"}`), pipelinetest.WebhookPost{ID: "first"})
	if first.Status != 200 {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	if _, err := env.DB.Exec(ctxT(t), `UPDATE webhooks SET field_mapping='{"contact.mail":"email"}' WHERE id=$1`, wh.ID); err != nil {
		t.Fatal(err)
	}
	startPipeline(t, env)

	res := env.PostWebhook(wh, []byte(`{"email":"second@example.com","first_name":"Sec"}`),
		pipelinetest.WebhookPost{Query: "wait=5s", ID: "second"})
	if res.Status != 422 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	var a answer
	if err := json.Unmarshal(res.Body, &a); err != nil {
		t.Fatal(err)
	}
	eventID := pipelinetest.EventID(wh, "second")
	if a.Success || a.EventID != eventID || a.WebhookID != wh.ID || a.ContactID != "" || len(a.Errors) == 0 || a.Errors[0].Code != "required" {
		t.Errorf("422 body: %s", res.Body)
	}
	if n := env.Count(`SELECT count(*) FROM contacts`); n != 0 {
		t.Errorf("%d contacts", n)
	}
}

type errf string

func (e errf) Error() string { return string(e) }
