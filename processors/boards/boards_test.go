package boards_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const ws = "ws-boards"

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newEnv(t *testing.T) *pipelinetest.Env {
	return pipelinetest.New(t, pipelinetest.Options{NoGateway: true, NoWait: true})
}

func startBoards(t *testing.T, env *pipelinetest.Env) *pipelinetest.Run {
	b, err := boards.New(env.Deps(), boards.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	p := b.Processors()[0]
	p.BackoffInitial, p.BackoffMax = 50*time.Millisecond, 200*time.Millisecond
	// A delivery caught in a consumer's deletion (TestAssignment deletes
	// the durable under a running runner) comes back after AckWait: keep it
	// well inside the tests' waits.
	p.AckWait = 3 * time.Second
	return env.Start(p)
}

// insertContact puts a contacts row in place, as the contacts processor would.
func insertContact(t *testing.T, env *pipelinetest.Env, id string) {
	t.Helper()
	if _, err := env.DB.Exec(ctxT(t), `INSERT INTO contacts (id, workspace_id, email, source_time, created_event_id,
		created_at, updated_at) VALUES ($1,$2,$3,now(),'seed',now(),now())`, id, ws, id+"@example.com"); err != nil {
		t.Fatal(err)
	}
}

// publishContact emits a contact event for source event src, received at.
func publishContact(t *testing.T, env *pipelinetest.Env, src, contactID, product string, at time.Time) string {
	t.Helper()
	ev := events.ContactChanged{
		Origin:  events.Origin{SourceEventID: src, Source: "webhook", WebhookID: "wh_b", ReceivedAt: at},
		Contact: events.Contact{ID: contactID, WorkspaceID: ws, Email: contactID + "@example.com", Product: product, LeadStatus: "new"},
		LeadID:  "ld_" + src, MatchType: "email",
	}
	b, _ := json.Marshal(ev)
	m := streams.NewMsg(streams.SubjectContactUpdated, "contact:"+src, b)
	m.Header.Set(streams.HdrCausationID, src)
	m.Header.Set(streams.HdrWorkspaceID, ws)
	env.Publish(m)
	return "contact:" + src
}

func contactBoard(t *testing.T, env *pipelinetest.Env, id string) string {
	t.Helper()
	var name *string
	if err := env.DB.QueryRow(ctxT(t), `SELECT board_name FROM contacts WHERE id=$1`, id).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name == nil {
		return ""
	}
	return *name
}

// rulesFixture: "Bath" for bath products, "Kitchen" for kitchens.
func rulesFixture(t *testing.T, env *pipelinetest.Env) (bath, kitchen *boards.Board) {
	t.Helper()
	ctx := ctxT(t)
	s := &boards.Store{DB: env.DB}
	bath, err := s.CreateBoard(ctx, ws, "Bath")
	if err != nil {
		t.Fatal(err)
	}
	kitchen, err = s.CreateBoard(ctx, ws, "Kitchen")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*boards.Rule{
		{WorkspaceID: ws, BoardID: bath.ID, Priority: 1, Conditions: []boards.Condition{{Field: "product", Op: "contains", Value: json.RawMessage(`"bath"`)}}},
		{WorkspaceID: ws, BoardID: kitchen.ID, Priority: 2, Conditions: []boards.Condition{{Field: "product", Op: "eq", Value: json.RawMessage(`"Kitchen"`)}}},
	} {
		if _, err := s.AddRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return bath, kitchen
}

func TestStore(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := ctxT(t)
	s := &boards.Store{DB: env.DB}
	a, err := s.CreateBoard(ctx, ws, "New Leads")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateBoard(ctx, ws, "New Leads"); err == nil {
		t.Error("duplicate board name accepted")
	}
	if _, err := s.CreateBoard(ctx, "", "x"); err == nil {
		t.Error("board without workspace accepted")
	}
	if _, err := s.CreateBoard(ctx, "other", "New Leads"); err != nil {
		t.Errorf("same name in another workspace: %v", err)
	}
	b, _ := s.CreateBoard(ctx, ws, "Archive")
	if got, err := s.BoardByName(ctx, ws, "New Leads"); err != nil || got.ID != a.ID {
		t.Errorf("BoardByName: %+v %v", got, err)
	}
	if _, err := s.BoardByName(ctx, ws, "nope"); !errors.Is(err, boards.ErrNotFound) {
		t.Errorf("missing board: %v", err)
	}
	if bs, err := s.Boards(ctx, ws); err != nil || len(bs) != 2 || bs[0].Name != "Archive" {
		t.Errorf("Boards: %+v %v", bs, err)
	}
	if _, err := s.AddRule(ctx, &boards.Rule{WorkspaceID: ws, BoardID: a.ID,
		Conditions: []boards.Condition{{Field: "product", Op: "matches", Value: json.RawMessage(`"x"`)}}}); err == nil {
		t.Error("invalid condition accepted")
	}
	if _, err := s.AddRule(ctx, &boards.Rule{WorkspaceID: ws, BoardID: "bd_missing"}); err == nil {
		t.Error("rule for a missing board accepted")
	}
	r2, _ := s.AddRule(ctx, &boards.Rule{WorkspaceID: ws, BoardID: b.ID, Priority: 20})
	r1, _ := s.AddRule(ctx, &boards.Rule{WorkspaceID: ws, BoardID: a.ID, Priority: 10,
		Conditions: []boards.Condition{{Field: "lead_status", Op: "eq", Value: json.RawMessage(`"new"`)}}})
	r3, _ := s.AddRule(ctx, &boards.Rule{WorkspaceID: ws, BoardID: a.ID, Priority: 20})
	rs, err := s.Rules(ctx, nil, ws)
	if err != nil || len(rs) != 3 || rs[0].ID != r1.ID || rs[1].ID != r2.ID || rs[2].ID != r3.ID {
		t.Fatalf("Rules order: %+v %v", rs, err)
	}
	if rs[0].BoardName != "New Leads" || !rs[0].Active || len(rs[0].Conditions) != 1 || rs[1].Conditions == nil {
		t.Errorf("rule: %+v / %+v", rs[0], rs[1])
	}
	if err := s.RemoveRule(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRule(ctx, r2.ID); !errors.Is(err, boards.ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
	if rs, _ := s.Rules(ctx, nil, ws); len(rs) != 2 {
		t.Errorf("%d rules after remove", len(rs))
	}
}

func TestAssignment(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	bath, _ := rulesFixture(t, env)
	insertContact(t, env, "ct_a")
	insertContact(t, env, "ct_b")
	first := startBoards(t, env)
	now := time.Now().UTC()

	matched := publishContact(t, env, "src-1", "ct_a", "Walk-in Bath", now)
	unmatched := publishContact(t, env, "src-2", "ct_b", "Roofing", now)
	for _, id := range []string{matched, unmatched} {
		if o := env.WaitOutcome("boards", id); o.Status != processors.StatusOK {
			t.Fatalf("%s: %+v", id, o)
		}
	}
	if got := contactBoard(t, env, "ct_a"); got != "Bath" {
		t.Errorf("ct_a board %q", got)
	}
	if got := contactBoard(t, env, "ct_b"); got != "" {
		t.Errorf("ct_b board %q", got)
	}
	var res boards.Result
	if err := json.Unmarshal(env.Result("boards", "src-1"), &res); err != nil || !res.RuleApplied || res.BoardID != bath.ID {
		t.Errorf("result: %+v %v", res, err)
	}
	var none boards.Result
	if err := json.Unmarshal(env.Result("boards", "src-2"), &none); err != nil || none.RuleApplied || none.BoardName != "" {
		t.Errorf("result without a match: %+v %v", none, err)
	}
	if n := env.Count(`SELECT count(*) FROM board_assignments WHERE event_id=$1 AND board_id IS NULL AND contact_id='ct_b'`, unmatched); n != 1 {
		t.Errorf("evaluation without a match not recorded")
	}
	msgs := env.Messages("EVENTS", streams.SubjectBoardAssigned)
	if len(msgs) != 1 || msgs[0].MsgID() != "board:src-1" || msgs[0].Header.Get(streams.HdrCausationID) != "src-1" {
		t.Fatalf("board events: %+v", msgs)
	}
	var ba events.BoardAssigned
	if err := msgs[0].JSON(&ba); err != nil || ba.ContactID != "ct_a" || ba.BoardID != bath.ID || ba.Contact.BoardName != "Bath" {
		t.Errorf("board.assigned: %+v %v", ba, err)
	}

	// A redelivered contact event is a no-op. The first runner stops
	// first: a pull of its in flight when the durable goes would hold a
	// delivery until AckWait.
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	env.DeleteConsumer("EVENTS", "boards")
	startBoards(t, env)
	env.WaitOutcome("boards", matched, processors.StatusDuplicate)
	env.WaitIdle(10*time.Second, "EVENTS", "boards")
	if n := env.Count(`SELECT count(*) FROM board_assignments`); n != 2 {
		t.Errorf("%d assignments after redelivery", n)
	}
}

// A contact's board is that of its latest evaluation by arrival, whatever
// order the evaluations are processed in; an event whose contact is not
// projected yet waits for it.
func TestLatestAssignmentWins(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	rulesFixture(t, env)
	startBoards(t, env)
	t0 := time.Now().UTC().Add(-time.Hour)

	// Processed newest first: the contact does not exist yet, so both are
	// retried; the newer one says Kitchen.
	newer := publishContact(t, env, "src-new", "ct_late", "Kitchen", t0.Add(time.Minute))
	older := publishContact(t, env, "src-old", "ct_late", "Bath Remodel", t0)
	env.WaitOutcome("boards", newer, processors.StatusRetry)
	env.WaitOutcome("boards", older, processors.StatusRetry)
	insertContact(t, env, "ct_late")
	env.WaitOutcome("boards", newer, processors.StatusOK)
	env.WaitOutcome("boards", older, processors.StatusOK)
	if got := contactBoard(t, env, "ct_late"); got != "Kitchen" {
		t.Errorf("board %q, want the newer evaluation's", got)
	}

	// Same contact, in order this time, then a late older one.
	insertContact(t, env, "ct_seq")
	env.WaitOutcome("boards", publishContact(t, env, "s1", "ct_seq", "Bath", t0), processors.StatusOK)
	env.WaitOutcome("boards", publishContact(t, env, "s3", "ct_seq", "Kitchen", t0.Add(2*time.Minute)), processors.StatusOK)
	env.WaitOutcome("boards", publishContact(t, env, "s2", "ct_seq", "Bath", t0.Add(time.Minute)), processors.StatusOK)
	if got := contactBoard(t, env, "ct_seq"); got != "Kitchen" {
		t.Errorf("board %q after a late event", got)
	}
	// A newer event that matches no rule leaves the board alone.
	env.WaitOutcome("boards", publishContact(t, env, "s4", "ct_seq", "Roofing", t0.Add(3*time.Minute)), processors.StatusOK)
	if got := contactBoard(t, env, "ct_seq"); got != "Kitchen" {
		t.Errorf("board %q after an unmatched event", got)
	}
	// events.board.assigned only for evaluations that became the board
	// when they were applied (src-old did if its retry came back first).
	got := map[string]bool{}
	for _, m := range env.Messages("EVENTS", streams.SubjectBoardAssigned) {
		got[m.MsgID()] = true
	}
	for _, id := range []string{"board:src-new", "board:s1", "board:s3"} {
		if !got[id] {
			t.Errorf("no %s (have %v)", id, got)
		}
	}
	if got["board:s2"] || got["board:s4"] {
		t.Errorf("a late or unmatched evaluation was announced: %v", got)
	}
}

// A contact event the processor cannot read is rejected once and
// dead-lettered; it does not take the processor down.
func TestInvalidContactEvent(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	insertContact(t, env, "ct_ok")
	startBoards(t, env)
	for id, body := range map[string]string{
		"bad-json": `{"contact":`,
		"no-id":    `{"source_event_id":"x","contact":{"workspace_id":"ws"}}`,
	} {
		env.Publish(streams.NewMsg(streams.SubjectContactCreated, id, []byte(body)))
	}
	ok := publishContact(t, env, "after", "ct_ok", "", time.Now())
	env.WaitOutcome("boards", ok, processors.StatusOK)
	for _, id := range []string{"bad-json", "no-id"} {
		env.WaitOutcome("boards", id)
		env.WaitIdle(10*time.Second, "EVENTS", "boards")
		if os := env.Outcomes("boards", id); len(os) != 1 || os[0].Status != processors.StatusRejected || os[0].Error == "" {
			t.Errorf("%s: %+v", id, os)
		}
	}
	if n := len(env.Messages("DLQ", "dlq.boards")); n != 2 {
		t.Errorf("%d dead letters", n)
	}
}
