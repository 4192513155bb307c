package contacts_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
)

// One environment for the matching rules; each case uses its own people.
func TestMatching(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{})
	const ws = "ws-match"
	wh := env.CreateWebhook(ws, nil)
	startPipeline(t, env)

	t.Run("new contact", func(t *testing.T) {
		a := post(t, env, wh, `{"first_name":" Nadia ","last_name":"New","email":"nadia@example.com","phone":"626-555-0101"}`)
		if !a.IsNewContact || a.MatchType != "new" || a.Message != "New contact created" || a.ContactID == "" {
			t.Fatalf("%+v", a)
		}
		c := getContact(t, env, a.ContactID)
		if c.FirstName != "Nadia" || c.LastName != "New" || c.Email != "nadia@example.com" || c.Phone != "+16265550101" || c.WorkspaceID != ws {
			t.Errorf("%+v", c)
		}
	})

	t.Run("phone across formats", func(t *testing.T) {
		a := post(t, env, wh, `{"phone":"(626) 663-3444","first_name":"Phoebe"}`)
		b := post(t, env, wh, `{"phone_number":"+16266633444","email":"phoebe@example.com"}`)
		c := post(t, env, wh, `{"phone":"626.663.3444"}`)
		if !a.IsNewContact || b.IsNewContact || b.MatchType != "phone" || b.ContactID != a.ContactID ||
			c.MatchType != "phone" || c.ContactID != a.ContactID || b.Message != "Contact updated via phone match" {
			t.Fatalf("%+v / %+v / %+v", a, b, c)
		}
		got := getContact(t, env, a.ContactID)
		if got.Phone != "+16266633444" || got.Email != "phoebe@example.com" || got.FirstName != "Phoebe" {
			t.Errorf("%+v", got)
		}
	})

	t.Run("email across case", func(t *testing.T) {
		a := post(t, env, wh, `{"email":"Ana.Reyes@Example.COM","first_name":"Ana"}`)
		b := post(t, env, wh, `{"email":"  ana.reyes@example.com ","last_name":"Reyes"}`)
		if b.MatchType != "email" || b.ContactID != a.ContactID || b.IsNewContact {
			t.Fatalf("%+v / %+v", a, b)
		}
		if got := getContact(t, env, a.ContactID); got.Email != "ana.reyes@example.com" || got.FirstName != "Ana" || got.LastName != "Reyes" {
			t.Errorf("%+v", got)
		}
	})

	t.Run("priority crm_id > phone > email", func(t *testing.T) {
		byCRM := post(t, env, wh, `{"crm_id":"crm_prio","email":"crm.person@example.com"}`)
		byPhone := post(t, env, wh, `{"phone":"+1 626 555 0177"}`)
		byEmail := post(t, env, wh, `{"email":"email.person@example.com"}`)

		// All three keys, each held by a different contact: the CRM id wins;
		// the phone and e-mail stay with their contacts (reported conflicts).
		a := post(t, env, wh, `{"crm_id":"crm_prio","phone":"6265550177","email":"email.person@example.com","first_name":"Winner"}`)
		if a.MatchType != "crm_id" || a.ContactID != byCRM.ContactID || len(a.Conflicts) != 2 {
			t.Fatalf("crm_id: %+v", a)
		}
		// Phone and e-mail: the phone wins.
		b := post(t, env, wh, `{"phone":"(626) 555-0177","email":"email.person@example.com"}`)
		if b.MatchType != "phone" || b.ContactID != byPhone.ContactID {
			t.Fatalf("phone: %+v", b)
		}
		// An unknown CRM id falls through to the e-mail, which then gets it.
		c := post(t, env, wh, `{"crm_id":"crm_other","email":"EMAIL.person@example.com"}`)
		if c.MatchType != "email" || c.ContactID != byEmail.ContactID {
			t.Fatalf("email: %+v", c)
		}
		if got := getContact(t, env, byCRM.ContactID); got.FirstName != "Winner" || got.Phone != "" || got.Email != "crm.person@example.com" {
			t.Errorf("crm contact: %+v", got)
		}
		if got := getContact(t, env, byEmail.ContactID); got.CRMID != "crm_other" {
			t.Errorf("email contact: %+v", got)
		}
		if got := getContact(t, env, byPhone.ContactID); got.Email != "" {
			t.Errorf("phone contact took a taken e-mail: %+v", got)
		}
	})

	t.Run("workspaces are separate", func(t *testing.T) {
		other := env.CreateWebhook("ws-match-other", nil)
		a := post(t, env, wh, `{"email":"twin@example.com"}`)
		b := post(t, env, other, `{"email":"twin@example.com"}`)
		if !b.IsNewContact || b.ContactID == a.ContactID {
			t.Fatalf("%+v / %+v", a, b)
		}
	})
}

// An event that is older (by the payload's timestamp) than what the contact
// already has never overwrites newer values; it only fills empty fields.
func TestOlderEventKeepsNewerValues(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{})
	const ws = "ws-order"
	wh := env.CreateWebhook(ws, nil)
	startPipeline(t, env)

	newer := post(t, env, wh, `{"email":"ord@example.com","first_name":"Newer","lead_status":"qualified",
		"custom":{"color":"blue"},"timestamp":"2025-06-02T10:00:00Z"}`)
	older := post(t, env, wh, `{"email":"ord@example.com","phone":"+16265550123","first_name":"Older","lead_status":"new",
		"company":"Acme","consent":"yes","custom":{"color":"red","size":"L"},"timestamp":"2025-06-01T10:00:00Z"}`)
	if older.ContactID != newer.ContactID || older.MatchType != "email" {
		t.Fatalf("%+v / %+v", newer, older)
	}
	c := getContact(t, env, newer.ContactID)
	if c.FirstName != "Newer" || c.LeadStatus != "qualified" || c.Custom["color"] != "blue" {
		t.Errorf("older event overwrote newer values: %+v", c)
	}
	if c.Phone != "+16265550123" || c.Company != "Acme" || c.Custom["size"] != "L" {
		t.Errorf("older event did not fill empty fields: %+v", c)
	}
	if !c.SourceTime.Equal(time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("source_time %v", c.SourceTime)
	}
	// The contact keeps the newest lead's score, not the late one's.
	if c.Score != newer.Score || older.Score == newer.Score {
		t.Errorf("contact score %d, newer lead %d, older lead %d", c.Score, newer.Score, older.Score)
	}
	var consent *bool
	if err := env.DB.QueryRow(ctxT(t), `SELECT marketing_consent FROM contacts WHERE id=$1`, c.ID).Scan(&consent); err != nil {
		t.Fatal(err)
	}
	if consent == nil || !*consent {
		t.Errorf("consent not filled: %v", consent)
	}

	// A newer event still overwrites.
	newest := post(t, env, wh, `{"email":"ord@example.com","first_name":"Newest","timestamp":"2025-06-03T10:00:00Z"}`)
	c = getContact(t, env, newer.ContactID)
	if c.FirstName != "Newest" || c.LeadStatus != "qualified" || c.Score != newest.Score {
		t.Errorf("after the newest event: %+v", c)
	}
	if n := env.Count(`SELECT count(*) FROM leads WHERE contact_id=$1`, c.ID); n != 3 {
		t.Errorf("%d leads", n)
	}
}

// 50 simultaneous posts for one new person, handled by two runners sharing
// the durable consumer (two `hookstream process` copies), end as one contact
// with 50 leads.
func TestConcurrentPostsConverge(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{})
	const ws = "ws-rush"
	wh := env.CreateWebhook(ws, nil)
	env.Start(contactsProc(t, env, nil), boardsProc(env))
	env.Start(contactsProc(t, env, nil))

	phones := []string{"(626) 555-0199", "+16265550199", "626.555.0199", "+1 626 555 0199", "6265550199"}
	emails := []string{"Rush@Example.com", "rush@example.com", " RUSH@EXAMPLE.COM", ""}
	const n = 50
	answers := make([]answer, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"phone":%q,"email":%q,"first_name":"Rush","message":"post %d"}`,
				phones[i%len(phones)], emails[i%len(emails)], i)
			res := env.PostWebhook(wh, []byte(body), pipelinetest.WebhookPost{Query: "wait=10s"})
			if res.Status != 200 {
				errs <- fmt.Errorf("post %d: %d %s", i, res.Status, res.Body)
				return
			}
			var a answer
			if err := json.Unmarshal(res.Body, &a); err != nil {
				errs <- err
				return
			}
			answers[i] = a
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	news := 0
	for i, a := range answers {
		if !a.Success || a.ContactID != answers[0].ContactID {
			t.Errorf("answer %d: %+v (first %+v)", i, a, answers[0])
		}
		if a.IsNewContact {
			news++
		}
	}
	if news != 1 {
		t.Errorf("%d answers say new contact, want 1", news)
	}
	if c := getContacts(t, env, ws); len(c) != 1 || c[0].Email != "rush@example.com" || c[0].Phone != "+16265550199" {
		t.Errorf("contacts: %+v", c)
	}
	if got := env.Count(`SELECT count(*) FROM leads WHERE workspace_id=$1`, ws); got != n {
		t.Errorf("%d leads, want %d", got, n)
	}
	if got := env.Count(`SELECT count(*) FROM leads WHERE workspace_id=$1 AND is_new_contact`, ws); got != 1 {
		t.Errorf("%d leads created the contact", got)
	}
	waitIdle(env)
	if got := len(env.Messages("EVENTS", "events.contact.created")); got != 1 {
		t.Errorf("%d events.contact.created", got)
	}
	if got := len(env.Messages("EVENTS", "events.lead.created")); got != n {
		t.Errorf("%d events.lead.created", got)
	}
}

// Events reaching one existing contact through different keys (one by CRM
// id, one by e-mail) at the same time both land: neither writes back a copy
// of the contact read before the other committed.
func TestConcurrentUpdatesThroughDifferentKeys(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{})
	const ws = "ws-lost"
	wh := env.CreateWebhook(ws, nil)
	env.Start(contactsProc(t, env, nil))
	env.Start(contactsProc(t, env, nil))

	const people = 30
	for i := range people {
		env.PublishRaw(pipelinetest.WebhookRaw(wh.ID, ws, fmt.Sprintf("seed-%d", i),
			fmt.Appendf(nil, `{"crm_id":"crm_%d","email":"p%d@example.com"}`, i, i)))
	}
	env.WaitIdle(20*time.Second, "INGEST", "contacts")
	if got := env.Count(`SELECT count(*) FROM contacts`); got != people {
		t.Fatalf("%d contacts", got)
	}
	// Published back to back so both of a pair are in flight together.
	for i := range people {
		env.PublishRaw(pipelinetest.WebhookRaw(wh.ID, ws, fmt.Sprintf("x-%d", i),
			fmt.Appendf(nil, `{"crm_id":"crm_%d","phone":"+1626555%04d","first_name":"Xavier"}`, i, 2000+i)))
		env.PublishRaw(pipelinetest.WebhookRaw(wh.ID, ws, fmt.Sprintf("y-%d", i),
			fmt.Appendf(nil, `{"email":"p%d@example.com","company":"Yco"}`, i)))
	}
	env.WaitIdle(20*time.Second, "INGEST", "contacts")
	for _, c := range getContacts(t, env, ws) {
		if c.FirstName != "Xavier" || c.Company != "Yco" {
			t.Errorf("lost update: %+v", c)
		}
	}
	for i := range people {
		for _, p := range []string{"x", "y"} {
			if o := env.WaitOutcome("contacts", fmt.Sprintf("%s-%d", p, i)); o.Status != processors.StatusOK {
				t.Errorf("%s-%d: %+v", p, i, o)
			}
		}
	}
}
