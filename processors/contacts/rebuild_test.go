package contacts_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors/boards"
)

// snapshot is the projections a rebuild must reproduce, as canonical text.
func snapshot(t *testing.T, env *pipelinetest.Env) map[string][]string {
	t.Helper()
	queries := map[string]string{
		"contacts":          `SELECT to_jsonb(c)::text FROM contacts c ORDER BY id`,
		"leads":             `SELECT to_jsonb(l)::text FROM leads l ORDER BY id`,
		"board_assignments": `SELECT (to_jsonb(a) - 'id')::text FROM board_assignments a ORDER BY event_id`,
	}
	out := map[string][]string{}
	for name, q := range queries {
		rows, err := env.DB.Query(ctxT(t), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[name] = append(out[name], s)
		}
		rows.Close()
	}
	return out
}

// Dropping the projections and replaying from sequence 1 (new durables)
// yields the same contacts, leads and board assignments, ids included.
func TestRebuildIsDeterministic(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{NoGateway: true})
	const ws = "ws-rebuild"
	ctx := ctxT(t)
	bs := &boards.Store{DB: env.DB}
	bath, _ := bs.CreateBoard(ctx, ws, "Bath")
	all, _ := bs.CreateBoard(ctx, ws, "Everyone else")
	hot, _ := bs.CreateBoard(ctx, ws, "Hot")
	for _, r := range []*boards.Rule{
		{WorkspaceID: ws, BoardID: hot.ID, Priority: 1, Conditions: []boards.Condition{{Field: "score", Op: "gte", Value: json.RawMessage(`65`)}}},
		{WorkspaceID: ws, BoardID: bath.ID, Priority: 2, Conditions: []boards.Condition{{Field: "product", Op: "contains", Value: json.RawMessage(`"bath"`)}}},
		{WorkspaceID: ws, BoardID: all.ID, Priority: 9, Conditions: []boards.Condition{{Field: "lead_status", Op: "exists"}}},
	} {
		if _, err := bs.AddRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	run := startPipeline(t, env)

	// 60 events about 12 people: repeats through different keys, older
	// events after newer ones, products that change the board, and a few
	// rejected events.
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	products := []string{"Bath Remodel", "Kitchen", "", "Walk-in Bath"}
	statuses := []string{"new", "", "contacted"}
	n := 0
	for i := range 60 {
		p := i % 12
		var fields []string
		switch i % 4 {
		case 0:
			fields = append(fields, fmt.Sprintf(`"email":"Person%d@Example.com"`, p), fmt.Sprintf(`"crm_id":"crm_%d"`, p))
		case 1:
			fields = append(fields, fmt.Sprintf(`"phone":"(626) 555-%04d"`, 1000+p))
		case 2:
			fields = append(fields, fmt.Sprintf(`"phone":"+1626555%04d"`, 1000+p), fmt.Sprintf(`"email":"person%d@example.com"`, p))
		case 3:
			fields = append(fields, fmt.Sprintf(`"email":"person%d@example.com"`, p), `"company":"Co"`, `"utm_source":"fb"`)
		}
		if pr := products[(i/3)%len(products)]; pr != "" {
			fields = append(fields, fmt.Sprintf(`"product":%q`, pr))
		}
		if st := statuses[i%len(statuses)]; st != "" {
			fields = append(fields, fmt.Sprintf(`"lead_status":%q`, st))
		}
		// Every fifth event claims to be older than the ones before it.
		ts := base.Add(time.Duration(i) * time.Minute)
		if i%5 == 4 {
			ts = base.Add(-time.Duration(i) * time.Minute)
		}
		fields = append(fields, fmt.Sprintf(`"first_name":"Name%d"`, i), fmt.Sprintf(`"timestamp":%q`, ts.Format(time.RFC3339)))
		if i%17 == 16 {
			fields = []string{`"first_name":"NoContact"`}
		}
		env.PublishRaw(pipelinetest.WebhookRaw("wh_rebuild", ws, fmt.Sprintf("ev-%02d", i),
			[]byte("{"+strings.Join(fields, ",")+"}")))
		n++
	}
	waitIdle(env)
	before := snapshot(t, env)
	if len(before["contacts"]) == 0 || len(before["leads"]) != n-3 || len(before["board_assignments"]) != n-3 {
		t.Fatalf("first run: %d contacts, %d leads, %d assignments", len(before["contacts"]), len(before["leads"]), len(before["board_assignments"]))
	}
	if !strings.Contains(strings.Join(before["contacts"], "\n"), `"board_name": "Hot"`) {
		t.Errorf("no contact on the score board; the test covers less than intended")
	}

	// Rebuild: drop the projections, their ledgers and the durables.
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM leads`, `DELETE FROM board_assignments`, `DELETE FROM contacts`,
		`DELETE FROM results`, `DELETE FROM outbox`, `DELETE FROM processed WHERE processor IN ('contacts','boards')`} {
		if _, err := env.DB.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	env.DeleteConsumer("INGEST", "contacts")
	env.DeleteConsumer("EVENTS", "boards")
	// Boards replays first: EVENTS still holds every contact event, the
	// contacts are not back yet. Its evaluations wait (retry) for them and
	// then land in whatever order their retries come back.
	if _, err := env.DB.Exec(ctx, `DELETE FROM event_outcomes`); err != nil {
		t.Fatal(err)
	}
	env.Start(boardsProc(env))
	env.Eventually(10*time.Second, func() error {
		if got := env.Count(`SELECT count(DISTINCT event_id) FROM event_outcomes WHERE processor='boards' AND status='retry'`); got < n-3 {
			return fmt.Errorf("boards tried %d of %d events", got, n-3)
		}
		return nil
	})
	env.Start(contactsProc(t, env, nil))
	waitIdle(env)
	after := snapshot(t, env)

	for _, table := range []string{"contacts", "leads", "board_assignments"} {
		b, a := before[table], after[table]
		if len(b) != len(a) {
			t.Errorf("%s: %d rows before, %d after the rebuild", table, len(b), len(a))
			continue
		}
		for i := range b {
			if b[i] != a[i] {
				t.Errorf("%s row %d differs:\nbefore %s\nafter  %s", table, i, b[i], a[i])
			}
		}
	}
}
