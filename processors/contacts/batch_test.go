package contacts_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors/contacts"
)

// publishMixedBacklog publishes events about a few people that exercise the
// matching rules inside one batch: repeats through different keys, a CRM id
// arriving later, older events after newer ones, an identity another
// contact holds (a conflict), invalid payloads and events with no contact
// data. It returns how many leads they make.
func publishMixedBacklog(env *pipelinetest.Env, ws string, n int) int {
	base := time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)
	leads := 0
	for i := range n {
		p := i % 9
		var f []string
		switch i % 6 {
		case 0:
			f = append(f, fmt.Sprintf(`"email":"P%d@Example.com"`, p))
		case 1:
			f = append(f, fmt.Sprintf(`"phone":"(626) 555-%04d"`, 2000+p), fmt.Sprintf(`"email":"p%d@example.com"`, p))
		case 2:
			f = append(f, fmt.Sprintf(`"crm_id":"crm-%d"`, p), fmt.Sprintf(`"phone":"+1626555%04d"`, 2000+p))
		case 3:
			f = append(f, fmt.Sprintf(`"crm_id":"crm-%d"`, p), fmt.Sprintf(`"email":"p%d@example.com"`, p), `"company":"Acme"`,
				fmt.Sprintf(`"custom_%d":"v%d"`, i%3, i))
		case 4:
			// Claims the next person's e-mail: a conflict once both exist.
			f = append(f, fmt.Sprintf(`"phone":"+1626555%04d"`, 2000+p), fmt.Sprintf(`"email":"p%d@example.com"`, (p+1)%9))
		case 5:
			f = append(f, fmt.Sprintf(`"email":"p%d@example.com"`, p), `"utm_source":"fb"`, `"marketing_consent":"yes"`)
		}
		ts := base.Add(time.Duration(i) * time.Minute)
		if i%7 == 6 {
			ts = base.Add(-time.Duration(i) * time.Minute) // older than what came before
		}
		f = append(f, fmt.Sprintf(`"first_name":"N%d"`, i), fmt.Sprintf(`"product":"Bath %d"`, i%4),
			fmt.Sprintf(`"timestamp":%q`, ts.Format(time.RFC3339)))
		switch {
		case i%23 == 22:
			f = []string{`"first_name":"NoContact"`}
		case i%29 == 28:
			f = []string{`"email":"not-an-email"`, `"first_name":"Bad"`}
		default:
			leads++
		}
		env.PublishRaw(pipelinetest.WebhookRaw("wh_batch", ws, fmt.Sprintf("ev-%03d", i),
			[]byte("{"+strings.Join(f, ",")+"}")))
	}
	return leads
}

// Applying a backlog in batches of up to 512 gives exactly the contacts,
// leads and ?wait answers that applying it in batches of one, in stream
// order, gives.
func TestBatch_SameAsOneByOne(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{NoGateway: true})
	ctx := ctxT(t)
	leads := publishMixedBacklog(env, "ws-batch", 150)

	// One event per transaction in stream order: what larger batches must
	// reproduce.
	run := env.Start(contactsProc(t, env, func(c *contacts.Config) { c.BatchSize = 1 }))
	waitAllHandled(env, 150)
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, env)
	wantResults := results(t, env)
	if len(want["leads"]) != leads || len(want["contacts"]) < 5 {
		t.Fatalf("one by one: %d contacts, %d leads (want %d)", len(want["contacts"]), len(want["leads"]), leads)
	}
	if !strings.Contains(strings.Join(wantResults, "\n"), `"conflicts"`) {
		t.Error("no conflict in the backlog; the test covers less than intended")
	}
	if n := env.Count(`SELECT count(*) FROM event_outcomes WHERE (detail->>'batch_size')::int > 1`); n != 0 {
		t.Errorf("%d events applied in batches of more than one with BatchSize 1", n)
	}

	for _, q := range []string{`DELETE FROM leads`, `DELETE FROM contacts`, `DELETE FROM results`,
		`DELETE FROM outbox`, `DELETE FROM processed`, `DELETE FROM event_outcomes`} {
		if _, err := env.DB.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	env.DeleteConsumer("INGEST", "contacts")
	env.Start(contactsProc(t, env, func(c *contacts.Config) { c.BatchSize = 512 }))
	waitAllHandled(env, 150)
	got := snapshot(t, env)
	gotResults := results(t, env)

	if n := env.Count(`SELECT count(*) FROM event_outcomes WHERE (detail->>'batch_size')::int > 1`); n < leads/2 {
		t.Errorf("only %d events were applied in batches of more than one; the test covers less than intended", n)
	}
	for _, table := range []string{"contacts", "leads"} {
		compareRows(t, table, want[table], got[table])
	}
	compareRows(t, "results", wantResults, gotResults)
	if n := env.Count(`SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("%d outbox rows left after the batches were published", n)
	}
}

// waitAllHandled waits until n events have a final contacts outcome and the
// consumer is idle.
func waitAllHandled(env *pipelinetest.Env, n int) {
	env.T.Helper()
	env.Eventually(20*time.Second, func() error {
		if got := env.Count(`SELECT count(DISTINCT event_id) FROM event_outcomes
			WHERE processor='contacts' AND status IN ('ok','rejected')`); got < n {
			return fmt.Errorf("%d of %d events handled", got, n)
		}
		return nil
	})
	env.WaitIdle(20*time.Second, "INGEST", "contacts")
}

// results are the contacts answers without their timing.
func results(t *testing.T, env *pipelinetest.Env) []string {
	t.Helper()
	rows, err := env.DB.Query(ctxT(t), `SELECT event_id || ' ' || (body - 'processing_time')::text
		FROM results WHERE processor='contacts' ORDER BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func compareRows(t *testing.T, table string, want, got []string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d rows one by one, %d in batches", table, len(want), len(got))
		return
	}
	for i := range want {
		if want[i] != got[i] {
			t.Errorf("%s row %d differs:\none by one %s\nbatched    %s", table, i, want[i], got[i])
		}
	}
}

// A batch whose transaction fails is applied again one event at a time:
// nothing is lost or doubled, and only the failing event is retried.
func TestBatch_FailedTransactionFallsBack(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{NoGateway: true})
	ctx := ctxT(t)
	// The lead of the event whose message is "boom" fails to insert the
	// first time only (a sequence is not rolled back with the transaction).
	for _, q := range []string{`CREATE SEQUENCE boom_tries`,
		`CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN
			IF NEW.message = 'boom' AND nextval('boom_tries') = 1 THEN RAISE EXCEPTION 'boom'; END IF;
			RETURN NEW; END $$ LANGUAGE plpgsql`,
		`CREATE TRIGGER boom BEFORE INSERT ON leads FOR EACH ROW EXECUTE FUNCTION boom()`} {
		if _, err := env.DB.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	const n = 40
	for i := range n {
		msg := "hello"
		if i == 17 {
			msg = "boom"
		}
		env.PublishRaw(pipelinetest.WebhookRaw("wh_boom", "ws-boom", fmt.Sprintf("ev-%02d", i),
			[]byte(fmt.Sprintf(`{"email":"b%d@example.com","message":%q}`, i%25, msg))))
	}
	env.Start(contactsProc(t, env, nil))
	waitAllHandled(env, n)

	if got := env.Count(`SELECT count(*) FROM leads`); got != n {
		t.Errorf("%d leads, want %d", got, n)
	}
	if got := env.Count(`SELECT count(*) FROM contacts`); got != 25 {
		t.Errorf("%d contacts, want 25", got)
	}
	if got := env.Count(`SELECT last_value FROM boom_tries`); got < 2 {
		t.Errorf("the failing insert ran %d times; the batch did not fail as intended", got)
	}
	var attempts []string
	for i := range n {
		for _, o := range env.Outcomes("contacts", fmt.Sprintf("ev-%02d", i)) {
			attempts = append(attempts, fmt.Sprintf("%d:%s/%d", i, o.Status, o.Attempts))
		}
	}
	for _, a := range attempts {
		if !strings.HasSuffix(a, ":ok/1") {
			t.Errorf("outcome %s: every event should succeed on its first delivery (the batch falls back at once)", a)
		}
	}
	if len(attempts) != n {
		t.Errorf("%d outcomes for %d events: %v", len(attempts), n, attempts)
	}
	// The failing event was applied again on its own.
	o := env.Outcomes("contacts", "ev-17")
	var d struct {
		BatchSize int `json:"batch_size"`
	}
	if len(o) != 1 || json.Unmarshal(o[0].Detail, &d) != nil || d.BatchSize != 1 {
		t.Errorf("ev-17 outcomes %+v: want one, from a batch of one", o)
	}
}

// A contact's updated_at is the latest receipt among the events applied to
// it, whatever order they come in and however they are batched: an event
// received earlier, or one whose values are older, never moves it back, and
// an older event only fills empty fields.
func TestUpdatedAt_IsLatestReceipt(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{NoGateway: true})
	ctx := ctxT(t)
	recv := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	src := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	events := []struct {
		id               string
		received, source time.Duration // after recv and src
		firstName, extra string
	}{
		{"first", 2 * time.Minute, 2 * time.Minute, "Second", ""},
		{"received-earlier", time.Minute, 3 * time.Minute, "Newest", ""}, // newer values
		{"older-values", 0, 0, "Oldest", `,"company":"Filled"`},          // older values, earliest receipt
	}
	for _, e := range events {
		r := pipelinetest.WebhookRaw("wh_updated", "ws-updated", e.id, []byte(fmt.Sprintf(
			`{"email":"u@example.com","first_name":%q,"timestamp":%q%s}`,
			e.firstName, src.Add(e.source).Format(time.RFC3339), e.extra)))
		r.ReceivedAt = recv.Add(e.received)
		env.PublishRaw(r)
	}

	var rows []string
	for _, size := range []int{512, 1} {
		env.DeleteConsumer("INGEST", "contacts")
		for _, q := range []string{`DELETE FROM leads`, `DELETE FROM contacts`, `DELETE FROM processed`, `DELETE FROM event_outcomes`} {
			if _, err := env.DB.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		run := env.Start(contactsProc(t, env, func(c *contacts.Config) { c.BatchSize = size }))
		waitAllHandled(env, len(events))
		if err := run.Stop(); err != nil {
			t.Fatal(err)
		}
		var s, first, company string
		var updated, created, sourceTime time.Time
		if err := env.DB.QueryRow(ctx, `SELECT to_jsonb(c)::text, updated_at, created_at, source_time, first_name,
			company FROM contacts c WHERE workspace_id='ws-updated'`).Scan(&s, &updated, &created, &sourceTime,
			&first, &company); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, s)
		if !updated.Equal(recv.Add(2*time.Minute)) || !created.Equal(recv.Add(2*time.Minute)) ||
			!sourceTime.Equal(src.Add(3*time.Minute)) || first != "Newest" || company != "Filled" {
			t.Errorf("batch size %d: updated_at %s, created_at %s, source_time %s, first_name %q, company %q",
				size, updated, created, sourceTime, first, company)
		}
	}
	if rows[0] != rows[1] {
		t.Errorf("the contact depends on the batch size:\n512 %s\n1   %s", rows[0], rows[1])
	}
}
