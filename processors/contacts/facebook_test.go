package contacts_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/streams"
)

const pageToken = "page-token-123"

// graphAPI is a local Graph API: GET /v21.0/{leadgen_id}?access_token=…
// answers with a stored lead, a canned status, or a sequence of statuses.
type graphAPI struct {
	t     *testing.T
	mu    sync.Mutex
	leads map[string][]byte
	plan  map[string][]int // statuses to answer before the lead, per id
	hits  map[string]int
	srv   *httptest.Server
}

func newGraphAPI(t *testing.T) *graphAPI {
	g := &graphAPI{t: t, leads: map[string][]byte{}, plan: map[string][]int{}, hits: map[string]int{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *graphAPI) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	id, ok := strings.CutPrefix(r.URL.Path, "/v21.0/")
	if r.Method != http.MethodGet || !ok || id == "" || strings.Contains(id, "/") {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"Unknown path components: %s","type":"OAuthException","code":2500}}`, r.URL.Path)
		return
	}
	if r.URL.Query().Get("access_token") != pageToken {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}`))
		return
	}
	g.mu.Lock()
	g.hits[id]++
	var status int
	if p := g.plan[id]; len(p) > 0 {
		status, g.plan[id] = p[0], p[1:]
	}
	lead, found := g.leads[id]
	g.mu.Unlock()
	switch {
	case status != 0:
		w.WriteHeader(status)
		w.Write([]byte(`{"error":{"message":"An unexpected error has occurred.","type":"OAuthException","code":1,"is_transient":true}}`))
	case !found:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"message":"Unsupported get request. Object with ID '%s' does not exist","type":"GraphMethodException","code":100}}`, id)
	default:
		w.Write(lead)
	}
}

func (g *graphAPI) Hits(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hits[id]
}

// notification is a signed Lead Ads webhook body for one leadgen id.
func notification(t *testing.T, leadgenID string) []byte {
	b := fixture(t, "facebook-leadgen.json")
	return bytes.ReplaceAll(b, []byte("1323911018437852"), []byte(leadgenID))
}

func facebookEnv(t *testing.T) (*pipelinetest.Env, *graphAPI, *pipelinetest.Run) {
	g := newGraphAPI(t)
	env := pipelinetest.New(t, pipelinetest.Options{})
	run := env.Start(contactsProc(t, env, func(c *contacts.Config) {
		c.GraphURL, c.PageToken = g.srv.URL+"/v21.0", pageToken
	}), boardsProc(env))
	return env, g, run
}

func postFacebook(t *testing.T, env *pipelinetest.Env, leadgenID string) string {
	t.Helper()
	res := env.PostFacebook(notification(t, leadgenID))
	if res.Status != 200 {
		t.Fatalf("facebook post: %d %s", res.Status, res.Body)
	}
	return "fb:" + leadgenID
}

// A Lead Ads notification carries no lead data: the processor fetches the
// lead from the Graph API, keeps it, and a replay does not fetch it again.
func TestFacebookLead(t *testing.T) {
	t.Parallel()
	env, g, run := facebookEnv(t)
	const id = "1323911018437852"
	g.leads[id] = fixture(t, "facebook-lead-graph.json")
	eventID := postFacebook(t, env, id)
	o := env.WaitOutcome("contacts", eventID)
	if o.Status != processors.StatusOK {
		t.Fatalf("outcome %+v", o)
	}
	cs := getContacts(t, env, pipelinetest.Workspace)
	if len(cs) != 1 {
		t.Fatalf("contacts: %+v", cs)
	}
	c := cs[0]
	if c.FirstName != "Ana" || c.LastName != "Reyes" || c.Email != "ana.reyes@example.com" || c.Phone != "+16265550142" ||
		c.Custom["what_project_are_you_planning"] != "Kitchen Remodel" {
		t.Errorf("contact %+v", c)
	}
	if !c.SourceTime.Equal(time.Date(2025, 11, 22, 8, 26, 40, 0, time.UTC)) {
		t.Errorf("source time %v, want the lead's created_time", c.SourceTime)
	}
	var source, submission string
	if err := env.DB.QueryRow(ctxT(t), `SELECT source, submission_id FROM leads WHERE event_id=$1`, eventID).Scan(&source, &submission); err != nil {
		t.Fatal(err)
	}
	if source != "facebook" || submission != id {
		t.Errorf("lead: source %q submission %q", source, submission)
	}
	if n := env.Count(`SELECT count(*) FROM facebook_leads WHERE leadgen_id=$1`, id); n != 1 {
		t.Errorf("lead not kept in facebook_leads")
	}
	if g.Hits(id) != 1 {
		t.Errorf("%d Graph API calls", g.Hits(id))
	}

	// Rebuild the contacts projection from INGEST: the lead comes from
	// facebook_leads, not from the Graph API.
	env.WaitIdle(10*time.Second, "EVENTS", "boards")
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM leads`, `DELETE FROM board_assignments`, `DELETE FROM contacts`,
		`DELETE FROM processed`, `DELETE FROM results`} {
		if _, err := env.DB.Exec(ctxT(t), q); err != nil {
			t.Fatal(err)
		}
	}
	env.DeleteConsumer("INGEST", "contacts")
	env.Start(contactsProc(t, env, func(c *contacts.Config) {
		c.GraphURL, c.PageToken = g.srv.URL+"/v21.0", pageToken
	}))
	env.Eventually(10*time.Second, func() error {
		if n := len(env.Outcomes("contacts", eventID)); n < 2 {
			return errf("not replayed yet")
		}
		return nil
	})
	if os := env.Outcomes("contacts", eventID); os[1].Status != processors.StatusOK {
		t.Errorf("replay: %+v", os[1])
	}
	if cs2 := getContacts(t, env, pipelinetest.Workspace); len(cs2) != 1 || cs2[0].ID != c.ID {
		t.Errorf("after replay: %+v", cs2)
	}
	if g.Hits(id) != 1 {
		t.Errorf("replay called the Graph API (%d calls)", g.Hits(id))
	}
}

// A deleted lead (404) is rejected and dead-lettered at once; a Graph API
// outage (500) is retried until the lead can be fetched.
func TestFacebookGraphErrors(t *testing.T) {
	t.Parallel()
	env, g, _ := facebookEnv(t)
	g.leads["2000000000000002"] = bytes.ReplaceAll(fixture(t, "facebook-lead-graph.json"),
		[]byte("1323911018437852"), []byte("2000000000000002"))
	g.plan["2000000000000002"] = []int{500, 503}

	gone := postFacebook(t, env, "2000000000000001")
	flaky := postFacebook(t, env, "2000000000000002")

	o := env.WaitOutcome("contacts", gone, processors.StatusRejected)
	if o.Attempts != 1 || !strings.Contains(o.Error, "not found") {
		t.Errorf("404: %+v", o)
	}
	env.WaitOutcome("contacts", flaky, processors.StatusOK)
	os := env.Outcomes("contacts", flaky)
	if len(os) != 3 || os[0].Status != processors.StatusRetry || os[1].Status != processors.StatusRetry || os[2].Attempts != 3 {
		t.Errorf("500s: %+v", os)
	}
	if g.Hits("2000000000000002") != 3 {
		t.Errorf("%d calls for the flaky lead", g.Hits("2000000000000002"))
	}
	env.WaitIdle(10*time.Second, "INGEST", "contacts")
	if os := env.Outcomes("contacts", gone); len(os) != 1 || g.Hits("2000000000000001") != 1 {
		t.Errorf("404 retried: %+v, %d calls", os, g.Hits("2000000000000001"))
	}
	dlq := env.Messages("DLQ", "dlq.contacts")
	if len(dlq) != 1 || dlq[0].Header.Get(streams.HdrDLQEventID) != gone {
		t.Errorf("dlq: %+v", dlq)
	}
	if n := env.Count(`SELECT count(*) FROM contacts`); n != 1 {
		t.Errorf("%d contacts, want the flaky lead's only", n)
	}
	if n := env.Count(`SELECT count(*) FROM facebook_leads WHERE leadgen_id='2000000000000001'`); n != 0 {
		t.Errorf("a deleted lead was stored")
	}
}

// A Facebook lead cannot be resent, so an invalid phone next to a valid
// e-mail keeps the lead (without the phone) instead of rejecting it.
func TestFacebookLead_InvalidPhoneKeepsEmail(t *testing.T) {
	t.Parallel()
	env, g, _ := facebookEnv(t)
	const id = "3000000000000003"
	body := bytes.ReplaceAll(fixture(t, "facebook-lead-graph.json"), []byte("1323911018437852"), []byte(id))
	g.leads[id] = bytes.ReplaceAll(body, []byte("(626) 555-0142"), []byte("12"))
	eventID := postFacebook(t, env, id)
	if o := env.WaitOutcome("contacts", eventID); o.Status != processors.StatusOK {
		t.Fatalf("outcome %+v", o)
	}
	cs := getContacts(t, env, pipelinetest.Workspace)
	if len(cs) != 1 || cs[0].Email != "ana.reyes@example.com" || cs[0].Phone != "" {
		t.Fatalf("contacts: %+v", cs)
	}
}
