package contacts_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/projections/pgtest"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// contactsProc builds the contacts processor on env, with cfg edits.
func contactsProc(t testing.TB, env *pipelinetest.Env, edit func(*contacts.Config)) processors.Processor {
	t.Helper()
	cfg := contacts.DefaultConfig()
	cfg.HTTP.Timeout = 5 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	c, err := contacts.New(env.Deps(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Processors()[0]
	p.BackoffInitial, p.BackoffMax = 100*time.Millisecond, 2*time.Second
	return p
}

func boardsProc(env *pipelinetest.Env) processors.Processor {
	b, err := boards.New(env.Deps(), boards.DefaultConfig())
	if err != nil {
		env.T.Fatal(err)
	}
	p := b.Processors()[0]
	p.BackoffInitial, p.BackoffMax = 100*time.Millisecond, time.Second
	return p
}

// startPipeline runs contacts and boards.
func startPipeline(t testing.TB, env *pipelinetest.Env) *pipelinetest.Run {
	t.Helper()
	return env.Start(contactsProc(t, env, nil), boardsProc(env))
}

// waitIdle waits until contacts and boards have handled everything.
func waitIdle(env *pipelinetest.Env) {
	env.T.Helper()
	env.WaitIdle(20*time.Second, "INGEST", "contacts")
	env.WaitIdle(20*time.Second, "EVENTS", "boards")
}

// answer is the ?wait body.
type answer struct {
	Success        bool   `json:"success"`
	Message        string `json:"message"`
	ContactID      string `json:"contact_id"`
	LeadID         string `json:"lead_id"`
	WebhookID      string `json:"webhook_id"`
	RuleApplied    bool   `json:"rule_applied"`
	MatchType      string `json:"match_type"`
	IsNewContact   bool   `json:"is_new_contact"`
	Score          int    `json:"score"`
	ProcessingTime string `json:"processing_time"`
	RequestID      string `json:"request_id"`
	EventID        string `json:"event_id"`
	BoardID        string `json:"board_id"`
	BoardName      string `json:"board_name"`
	Conflicts      []string
	Errors         []struct{ Field, Code string }
}

// post sends body to wh with ?wait=5s and decodes a 200 answer.
func post(t testing.TB, env *pipelinetest.Env, wh *webhooksdb.Webhook, body string) answer {
	t.Helper()
	return postWith(t, env, wh, body, pipelinetest.WebhookPost{Query: "wait=5s"})
}

func postWith(t testing.TB, env *pipelinetest.Env, wh *webhooksdb.Webhook, body string, p pipelinetest.WebhookPost) answer {
	t.Helper()
	res := env.PostWebhook(wh, []byte(body), p)
	if res.Status != 200 {
		t.Fatalf("POST %s: %d %s", body, res.Status, res.Body)
	}
	var a answer
	if err := json.Unmarshal(res.Body, &a); err != nil {
		t.Fatal(err)
	}
	if !a.Success {
		t.Fatalf("POST %s: not successful: %s", body, res.Body)
	}
	return a
}

// contactRow is the columns the tests look at.
type contactRow struct {
	ID, WorkspaceID, CRMID, Email, Phone, FirstName, LastName, Company string
	Product, LeadStatus, ServiceInterest, BoardID, BoardName           string
	Score                                                              int
	Custom                                                             map[string]string
	SourceTime                                                         time.Time
}

func getContacts(t testing.TB, env *pipelinetest.Env, workspace string) []contactRow {
	t.Helper()
	rows, err := env.DB.Query(ctxT(t), `SELECT id, workspace_id, COALESCE(crm_id,''), COALESCE(email,''),
		COALESCE(phone,''), COALESCE(first_name,''), COALESCE(last_name,''), COALESCE(company,''),
		COALESCE(product,''), COALESCE(lead_status,''), COALESCE(service_interest,''), COALESCE(board_id,''),
		COALESCE(board_name,''), score, custom, source_time
		FROM contacts WHERE workspace_id=$1 ORDER BY created_at, id`, workspace)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []contactRow
	for rows.Next() {
		var c contactRow
		if err := rows.Scan(&c.ID, &c.WorkspaceID, &c.CRMID, &c.Email, &c.Phone, &c.FirstName, &c.LastName,
			&c.Company, &c.Product, &c.LeadStatus, &c.ServiceInterest, &c.BoardID, &c.BoardName, &c.Score,
			&c.Custom, &c.SourceTime); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func getContact(t testing.TB, env *pipelinetest.Env, id string) contactRow {
	t.Helper()
	var ws string
	if err := env.DB.QueryRow(ctxT(t), `SELECT workspace_id FROM contacts WHERE id=$1`, id).Scan(&ws); err != nil {
		t.Fatalf("contact %s: %v", id, err)
	}
	for _, c := range getContacts(t, env, ws) {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("contact %s vanished", id)
	return contactRow{}
}
