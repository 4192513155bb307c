package replay_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/ops/replay"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/processors/mailerlite"
	"github.com/hookstream/hookstream/projections/pgtest"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func pipeline(t *testing.T, env *pipelinetest.Env) *pipelinetest.Run {
	t.Helper()
	cfg := contacts.DefaultConfig()
	cp, err := contacts.New(env.Deps(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := cp.Processors()[0]
	c.BackoffInitial, c.BackoffMax = 50*time.Millisecond, 500*time.Millisecond
	bp, err := boards.New(env.Deps(), boards.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	b := bp.Processors()[0]
	b.BackoffInitial, b.BackoffMax = 50*time.Millisecond, 500*time.Millisecond
	return env.Start(c, b)
}

func idle(env *pipelinetest.Env) {
	env.T.Helper()
	env.WaitIdle(90*time.Second, "INGEST", "contacts")
	env.WaitIdle(90*time.Second, "EVENTS", "boards")
}

// person is one identity; every post about it carries the same e-mail and
// phone, so the contacts processor orders its events by stream order and a
// rebuild must reproduce exactly the same rows.
func personBody(ws string, person, n int) []byte {
	products := []string{"Bath Remodel", "Kitchen Remodel", "Windows"}
	statuses := []string{"new", "contacted", "qualified"}
	b, _ := json.Marshal(map[string]any{
		"email":        fmt.Sprintf("p%d@%s.example.com", person, ws),
		"phone":        fmt.Sprintf("+1415555%04d", person),
		"first_name":   fmt.Sprintf("Name%d-%d", person, n),
		"last_name":    "Doe",
		"product":      products[(person+n)%len(products)],
		"lead_status":  statuses[n%len(statuses)],
		"utm_source":   fmt.Sprintf("src%d", n%4),
		"company":      fmt.Sprintf("Co %d", n),
		"custom_field": n,
	})
	return b
}

// post sends events posts over people identities through the gateway, with
// conc senders, and returns the acknowledged event ids.
func post(t *testing.T, env *pipelinetest.Env, wh *webhooksdb.Webhook, events, people, conc int, prefix string) []string {
	t.Helper()
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= events {
					return
				}
				id := fmt.Sprintf("%s-%d", prefix, i)
				res := env.PostWebhook(wh, personBody(wh.WorkspaceID, i%people, i), pipelinetest.WebhookPost{ID: id})
				if res.Status != 200 {
					t.Errorf("post %s: %d %s", id, res.Status, res.Body)
					return
				}
				mu.Lock()
				ids = append(ids, pipelinetest.EventID(wh, id))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ids
}

// snapshot is a canonical dump of one workspace's projections.
type snapshot struct {
	Contacts, Leads, Assignments []string
	Processed                    []string
}

func dump(t *testing.T, env *pipelinetest.Env, ws, whID string) snapshot {
	t.Helper()
	ctx := env.Ctx(10 * time.Second)
	q := func(sql string, args ...any) []string {
		rows, err := env.DB.Query(ctx, sql, args...)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
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
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		return out
	}
	return snapshot{
		Contacts:    q(`SELECT to_jsonb(c)::text FROM contacts c WHERE workspace_id=$1 ORDER BY id`, ws),
		Leads:       q(`SELECT to_jsonb(l)::text FROM leads l WHERE workspace_id=$1 ORDER BY id`, ws),
		Assignments: q(`SELECT (to_jsonb(b) - 'id')::text FROM board_assignments b WHERE workspace_id=$1 ORDER BY event_id`, ws),
		Processed: q(`SELECT processor || ' ' || event_id FROM processed
			WHERE event_id LIKE $1 OR event_id LIKE $2 ORDER BY 1`, "wh:"+whID+":%", "%:wh:"+whID+":%"),
	}
}

func (s snapshot) diff(o snapshot) string {
	for _, c := range []struct {
		name string
		a, b []string
	}{{"contacts", s.Contacts, o.Contacts}, {"leads", s.Leads, o.Leads}, {"board_assignments", s.Assignments, o.Assignments},
		{"processed", s.Processed, o.Processed}} {
		if len(c.a) != len(c.b) {
			return fmt.Sprintf("%s: %d rows, then %d", c.name, len(c.a), len(c.b))
		}
		for i := range c.a {
			if c.a[i] != c.b[i] {
				return fmt.Sprintf("%s row %d:\n  before %s\n  after  %s", c.name, i, c.a[i], c.b[i])
			}
		}
	}
	return ""
}

func addBoards(t *testing.T, env *pipelinetest.Env, ws string) {
	t.Helper()
	ctx := env.Ctx(5 * time.Second)
	bs := &boards.Store{DB: env.DB}
	for i, product := range []string{"Bath Remodel", "Kitchen Remodel"} {
		b, err := bs.CreateBoard(ctx, ws, product+" board")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bs.AddRule(ctx, &boards.Rule{WorkspaceID: ws, BoardID: b.ID, Priority: 10 * (i + 1),
			Conditions: []boards.Condition{{Field: "product", Op: "eq", Value: json.RawMessage(fmt.Sprintf("%q", product))}}}); err != nil {
			t.Fatal(err)
		}
	}
}

func outcomes(env *pipelinetest.Env, processor, status string) int {
	return env.Count(`SELECT count(*) FROM event_outcomes WHERE processor=$1 AND status=$2`, processor, status)
}

func TestReplayFromSeqAppliesNothingTwice(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	const ws = "ws-replay"
	wh := env.CreateWebhook(ws, nil)
	addBoards(t, env, ws)
	pipeline(t, env)
	ids := post(t, env, wh, 150, 40, 8, "r")
	idle(env)
	before := dump(t, env, ws, wh.ID)
	if len(before.Leads) != len(ids) || len(before.Contacts) != 40 {
		t.Fatalf("%d leads, %d contacts; want %d and 40", len(before.Leads), len(before.Contacts), len(ids))
	}
	eventsBefore := len(env.Messages("EVENTS", "events.>"))
	boardsOutcomes := env.Count(`SELECT count(*) FROM event_outcomes WHERE processor='boards'`)

	var last replay.Progress
	r := &replay.Replayer{JS: env.JS, Progress: func(p replay.Progress) { last = p }, ProgressEvery: 10 * time.Millisecond, Poll: 20 * time.Millisecond}
	sum, err := r.Replay(env.Ctx(30*time.Second), replay.Options{Processor: "contacts", FromSeq: 1, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != uint64(len(ids)) || len(sum.Consumers) != 1 || sum.Consumers[0].Target != uint64(len(ids)) {
		t.Errorf("summary %+v", sum)
	}
	if !last.Done || last.Processed != uint64(len(ids)) || last.Total != last.Processed {
		t.Errorf("last progress %+v", last)
	}
	idle(env)
	if d := before.diff(dump(t, env, ws, wh.ID)); d != "" {
		t.Errorf("projections changed by the replay: %s", d)
	}
	if n := outcomes(env, "contacts", processors.StatusOK); n != len(ids) {
		t.Errorf("%d ok outcomes, want %d", n, len(ids))
	}
	if n := outcomes(env, "contacts", processors.StatusDuplicate); n != len(ids) {
		t.Errorf("%d duplicate outcomes after the replay, want %d", n, len(ids))
	}
	if n := len(env.Messages("EVENTS", "events.>")); n != eventsBefore {
		t.Errorf("EVENTS has %d messages after the replay, had %d: a duplicate emitted events", n, eventsBefore)
	}
	if n := env.Count(`SELECT count(*) FROM event_outcomes WHERE processor='boards'`); n != boardsOutcomes {
		t.Errorf("boards saw %d outcomes after the replay, %d before", n, boardsOutcomes)
	}

	// A sequence on a processor with consumers on several streams needs
	// the stream; an unknown processor has no consumer.
	if _, err := r.Replay(env.Ctx(5*time.Second), replay.Options{Processor: "nobody", FromSeq: 1}); err == nil {
		t.Error("replay of an unknown processor succeeded")
	}
}

func TestReplaySince(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	const ws = "ws-since"
	wh := env.CreateWebhook(ws, nil)
	run := pipeline(t, env)
	post(t, env, wh, 40, 40, 4, "early")
	// Just after the last early event as INGEST stamped it.
	ingest, err := env.JS.Stream(env.Ctx(5*time.Second), streams.StreamIngest)
	if err != nil {
		t.Fatal(err)
	}
	last, err := ingest.GetMsg(env.Ctx(5*time.Second), 40)
	if err != nil {
		t.Fatal(err)
	}
	since := last.Time.Add(time.Nanosecond)
	late := post(t, env, wh, 25, 25, 4, "late")
	idle(env)

	r := &replay.Replayer{JS: env.JS, Poll: 20 * time.Millisecond}
	sum, err := r.Replay(env.Ctx(30*time.Second), replay.Options{Processor: "contacts", Since: since, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != uint64(len(late)) || sum.Consumers[0].FromSeq != 41 {
		t.Errorf("summary %+v, want %d events from sequence 41", sum, len(late))
	}
	idle(env)
	if n := outcomes(env, "contacts", processors.StatusDuplicate); n != len(late) {
		t.Errorf("%d duplicates, want %d (only the events since the time)", n, len(late))
	}
	// Nothing since a future time: no reset.
	sum, err = r.Replay(env.Ctx(10*time.Second), replay.Options{Processor: "contacts", Since: time.Now().Add(time.Hour), Wait: true})
	if err != nil || sum.Events != 0 || sum.Consumers[0].FromSeq != 0 {
		t.Errorf("future since: %+v %v", sum, err)
	}

	// A rebuild with no process consuming would leave the projections
	// empty: refused, nothing cleared.
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	// The stopped runner's last pull requests expire.
	env.Eventually(10*time.Second, func() error {
		for _, c := range []struct{ s, d string }{{"INGEST", "contacts"}, {"EVENTS", "boards"}} {
			cons, err := env.JS.Consumer(env.Ctx(5*time.Second), c.s, c.d)
			if err != nil {
				return err
			}
			info, err := cons.Info(env.Ctx(5 * time.Second))
			if err != nil {
				return err
			}
			if info.NumWaiting > 0 || info.NumAckPending > 0 {
				return fmt.Errorf("%s/%s: %d pull requests waiting, %d unacknowledged", c.s, c.d, info.NumWaiting, info.NumAckPending)
			}
		}
		return nil
	})
	r.DB = env.DB
	if _, err := r.Rebuild(env.Ctx(20*time.Second), replay.RebuildOptions{Processors: []string{"contacts"}}); !errors.Is(err, replay.ErrNotRunning) {
		t.Fatalf("rebuild without a running processor: %v", err)
	}
	if n := env.Count(`SELECT count(*) FROM leads`); n != 65 {
		t.Errorf("%d leads after a refused rebuild, want 65", n)
	}
}

// TestReplayDropsRepeatedDeadLetters: an invalid event is rejected again by
// a replay (rejections leave no ledger row); once the DLQ's dedup window
// has passed that makes a second dead letter, which the replay drops.
func TestReplayDropsRepeatedDeadLetters(t *testing.T) {
	sc := streams.DefaultConfig()
	sc.Duplicates = 200 * time.Millisecond
	env := pipelinetest.New(t, pipelinetest.Options{Streams: &sc, NoGateway: true})
	pipeline(t, env)
	env.PublishRaw(pipelinetest.WebhookRaw("wh_x", "ws-x", "bad-1", []byte(`{"first_name":"Nobody"}`)))
	env.PublishRaw(pipelinetest.WebhookRaw("wh_x", "ws-x", "good-1", []byte(`{"email":"good@example.com"}`)))
	idle(env)
	if n := len(env.Messages("DLQ", "dlq.contacts")); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
	// Past the dedup window: a probe id stored after the dead letter is
	// forgotten, so the dead letter's id (older) is too.
	probe := func() bool {
		m := nats.NewMsg("dlq.dedup-probe")
		m.Header.Set(nats.MsgIdHdr, "dedup-probe")
		ack, err := env.JS.PublishMsg(env.Ctx(5*time.Second), m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Duplicate
	}
	probe()
	env.Eventually(10*time.Second, func() error {
		if probe() {
			return errors.New("the DLQ still deduplicates the probe")
		}
		return nil
	})
	r := &replay.Replayer{JS: env.JS, Poll: 20 * time.Millisecond}
	sum, err := r.Replay(env.Ctx(30*time.Second), replay.Options{Processor: "contacts", FromSeq: 1, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(env.Messages("DLQ", "dlq.contacts")); n != 1 || sum.DLQRepeats != 1 {
		t.Errorf("%d dead letters after the replay, %d repeats dropped; want 1 and 1", n, sum.DLQRepeats)
	}
}

// TestRebuildUnderLoad rebuilds contacts (and, as its dependent, boards)
// while the gateway keeps accepting posts, and checks the rebuilt
// projections equal a canonical dump taken before, and that every post
// acknowledged during the rebuild is projected exactly once.
func TestRebuildUnderLoad(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	const ws, wsLoad = "ws-rebuild", "ws-load"
	wh := env.CreateWebhook(ws, nil)
	whLoad := env.CreateWebhook(wsLoad, nil)
	addBoards(t, env, ws)
	pipeline(t, env)
	ids := post(t, env, wh, 600, 150, 16, "a")
	idle(env)
	before := dump(t, env, ws, wh.ID)
	if len(before.Leads) != len(ids) || len(before.Contacts) != 150 || len(before.Assignments) != len(ids) {
		t.Fatalf("%d leads, %d contacts, %d assignments", len(before.Leads), len(before.Contacts), len(before.Assignments))
	}
	var boardsSet int
	env.DB.QueryRow(env.Ctx(5*time.Second), `SELECT count(*) FROM contacts WHERE workspace_id=$1 AND board_id IS NOT NULL`, ws).Scan(&boardsSet)
	if boardsSet == 0 {
		t.Fatal("no contact has a board: the rule set does not exercise boards")
	}

	// Load: new people in another workspace, posted all through the rebuild.
	stop := make(chan struct{})
	var loadWG sync.WaitGroup
	var mu sync.Mutex
	var acked []string
	nAcked := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	pace := time.NewTicker(10 * time.Millisecond) // about 100 posts/s in all
	defer pace.Stop()
	for g := range 2 {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("load-%d-%d", g, i)
				res := env.PostWebhook(whLoad, personBody(wsLoad, 5000+g*1000+i, i), pipelinetest.WebhookPost{ID: id})
				if res.Status != 200 {
					t.Errorf("post during the rebuild: %d %s", res.Status, res.Body)
					return
				}
				mu.Lock()
				acked = append(acked, pipelinetest.EventID(whLoad, id))
				mu.Unlock()
				select {
				case <-stop:
					return
				case <-pace.C:
				}
			}
		}()
	}

	var progress []replay.Progress
	var pmu sync.Mutex
	r := &replay.Replayer{JS: env.JS, DB: env.DB, Settle: 300 * time.Millisecond, Poll: 50 * time.Millisecond,
		ProgressEvery: 100 * time.Millisecond, Log: env.Log,
		Progress: func(p replay.Progress) { pmu.Lock(); progress = append(progress, p); pmu.Unlock() }}
	atLeast := func(n int) func() error {
		return func() error {
			if got := nAcked(); got < n {
				return fmt.Errorf("%d load posts acknowledged, want %d", got, n)
			}
			return nil
		}
	}
	env.Eventually(10*time.Second, atLeast(3)) // the load is under way
	sum, err := r.Rebuild(env.Ctx(150*time.Second), replay.RebuildOptions{Processors: []string{"contacts"}})
	env.Eventually(10*time.Second, atLeast(nAcked()+5)) // still accepting after the rebuild
	close(stop)
	loadWG.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sum.Processors, []string{"contacts", "boards", "mailerlite-ingest"}) {
		t.Errorf("rebuilt %v, want contacts then its dependents", sum.Processors)
	}
	if sum.Cleared["contacts"] < 150 || sum.Cleared["leads"] < int64(len(ids)) || sum.Cleared["processed"] < int64(2*len(ids)) {
		t.Errorf("cleared %v", sum.Cleared)
	}
	if sum.Events < uint64(len(ids)) || sum.EventsPerSecond <= 0 {
		t.Errorf("summary %+v", sum)
	}
	pmu.Lock()
	if len(progress) < 2 || !progress[len(progress)-1].Done {
		t.Errorf("progress reports: %+v", progress)
	}
	pmu.Unlock()
	idle(env)

	if d := before.diff(dump(t, env, ws, wh.ID)); d != "" {
		t.Errorf("rebuilt projections differ from the originals: %s", d)
	}
	if len(acked) < 10 {
		t.Fatalf("only %d posts acknowledged during the rebuild", len(acked))
	}
	// Every acknowledged post during the rebuild is projected exactly once.
	n := env.Count(`SELECT count(*) FROM leads WHERE workspace_id=$1`, wsLoad)
	distinct := env.Count(`SELECT count(DISTINCT event_id) FROM leads WHERE workspace_id=$1 AND event_id = ANY($2)`, wsLoad, acked)
	if n != len(acked) || distinct != len(acked) {
		t.Errorf("%d leads (%d of the acked events) for %d acknowledged posts", n, distinct, len(acked))
	}
	if n := env.Count(`SELECT count(*) FROM contacts WHERE workspace_id=$1`, wsLoad); n != len(acked) {
		t.Errorf("%d load contacts, want %d", n, len(acked))
	}
	// The consumers run again.
	for _, c := range []struct{ s, d string }{{"INGEST", "contacts"}, {"EVENTS", "boards"}} {
		cons, err := env.JS.Consumer(env.Ctx(5*time.Second), c.s, c.d)
		if err != nil {
			t.Fatal(err)
		}
		info, err := cons.Info(env.Ctx(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if info.Paused {
			t.Errorf("%s/%s still paused", c.s, c.d)
		}
	}
	if n := env.Count(`SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("%d outbox rows left", n)
	}
}

// TestRebuildKeepsUnsubscribes: MailerLite's unsubscribe webhooks withdraw
// consent on contacts rows; a contacts rebuild re-drives them (they call no
// API) after the contacts are back, while MailerLite's sync ledger for
// contact events is kept, so nothing is sent again.
func TestRebuildKeepsUnsubscribes(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{})
	ws := pipelinetest.Workspace // MailerLite's webhooks belong to the global workspace
	wh := env.CreateWebhook(ws, nil)
	pipeline(t, env)
	ml, err := mailerlite.New(env.Deps(), mailerlite.DefaultConfig()) // no API key: upserts are skipped
	if err != nil {
		t.Fatal(err)
	}
	env.Start(ml.Processors()...)
	for i, email := range []string{"stay@example.com", "leave@example.com"} {
		body := fmt.Sprintf(`{"email":%q,"first_name":"P%d","marketing_consent":true}`, email, i)
		if res := env.PostWebhook(wh, []byte(body), pipelinetest.WebhookPost{}); res.Status != 200 {
			t.Fatalf("post: %d %s", res.Status, res.Body)
		}
	}
	idle(env)
	unsub := `{"type":"subscriber.unsubscribed","data":{"subscriber":{"id":"77","email":"Leave@example.com","status":"unsubscribed"}}}`
	if res := env.Post("/webhooks/mailerlite", "application/json", []byte(unsub),
		map[string][]string{"Signature": {pipelinetest.MailerLiteSignature([]byte(unsub))}}); res.Status != 200 {
		t.Fatalf("mailerlite webhook: %d %s", res.Status, res.Body)
	}
	env.WaitIdle(30*time.Second, "INGEST", mailerlite.IngestDurable)
	env.WaitIdle(30*time.Second, "EVENTS", mailerlite.Name)
	consent := func(email string) string {
		var c *bool
		if err := env.DB.QueryRow(env.Ctx(5*time.Second), `SELECT marketing_consent FROM contacts WHERE email=$1`, email).Scan(&c); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		if c == nil {
			return "null"
		}
		return fmt.Sprint(*c)
	}
	if consent("leave@example.com") != "false" || consent("stay@example.com") != "true" {
		t.Fatalf("before the rebuild: leave %s, stay %s", consent("leave@example.com"), consent("stay@example.com"))
	}
	mlLedger := env.Count(`SELECT count(*) FROM processed WHERE processor='mailerlite' AND event_id NOT LIKE 'mailerlite:%'`)

	r := &replay.Replayer{JS: env.JS, DB: env.DB, Settle: 200 * time.Millisecond, Poll: 20 * time.Millisecond}
	sum, err := r.Rebuild(env.Ctx(90*time.Second), replay.RebuildOptions{Processors: []string{"contacts"}})
	if err != nil {
		t.Fatal(err)
	}
	var redriven bool
	for _, c := range sum.Consumers {
		redriven = redriven || (c.Durable == mailerlite.IngestDurable && c.Events == 1)
	}
	if !redriven {
		t.Errorf("mailerlite-ingest not re-driven: %+v", sum.Consumers)
	}
	idle(env)
	env.WaitIdle(30*time.Second, "EVENTS", mailerlite.Name)
	if consent("leave@example.com") != "false" || consent("stay@example.com") != "true" {
		t.Errorf("after the rebuild: leave %s, stay %s", consent("leave@example.com"), consent("stay@example.com"))
	}
	if n := env.Count(`SELECT count(*) FROM processed WHERE processor='mailerlite' AND event_id NOT LIKE 'mailerlite:%'`); n != mlLedger {
		t.Errorf("mailerlite's ledger for contact events: %d rows, had %d", n, mlLedger)
	}
}

func TestPlan(t *testing.T) {
	cases := []struct {
		names   []string
		resend  bool
		want    [][]string
		skipped []string
		err     bool
	}{
		{nil, false, [][]string{{"contacts"}, {"boards", "payments", "mailerlite-ingest"}}, []string{"crm", "ga4", "mailerlite", "notify"}, false},
		{[]string{"contacts"}, false, [][]string{{"contacts"}, {"boards", "mailerlite-ingest"}}, nil, false},
		{[]string{"boards"}, false, [][]string{{"boards"}}, nil, false},
		{[]string{"payments"}, false, [][]string{{"payments"}}, nil, false},
		{[]string{"payments", "contacts"}, false, [][]string{{"contacts"}, {"boards", "payments", "mailerlite-ingest"}}, nil, false},
		{[]string{"crm"}, false, nil, nil, true},
		{[]string{"crm"}, true, [][]string{{"crm"}}, nil, false},
		{[]string{"mailerlite-ingest"}, false, [][]string{{"mailerlite-ingest"}}, nil, false},
		{[]string{"nope"}, false, nil, nil, true},
		{nil, true, [][]string{{"contacts"}, {"boards", "payments"}, {"crm", "mailerlite", "ga4", "notify"}}, nil, false},
	}
	for _, c := range cases {
		p, err := replay.NewPlan(replay.Registry, c.names, c.resend)
		if c.err {
			if err == nil {
				t.Errorf("%v resend=%v: no error", c.names, c.resend)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.names, err)
			continue
		}
		var got [][]string
		for _, l := range p.Levels {
			var names []string
			for _, s := range l {
				names = append(names, s.Processor)
			}
			got = append(got, names)
		}
		if !reflect.DeepEqual(got, c.want) || !reflect.DeepEqual(p.Skipped, c.skipped) {
			t.Errorf("%v resend=%v: levels %v skipped %v, want %v %v", c.names, c.resend, got, p.Skipped, c.want, c.skipped)
		}
	}
	// A dependency cycle is reported.
	cyc := []replay.Spec{{Processor: "a", Dependents: []string{"b"}}, {Processor: "b", Dependents: []string{"a"}}}
	if _, err := replay.NewPlan(cyc, []string{"a"}, false); err == nil {
		t.Error("cycle not reported")
	}
}
