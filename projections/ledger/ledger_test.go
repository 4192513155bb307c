package ledger_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/hookstream/hookstream/projections/ledger"
	"github.com/hookstream/hookstream/projections/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// An event is new to the ledger once per processor; a batch reports the
// ids it added, a repeated id once.
func TestMarkProcessed(t *testing.T) {
	ctx, db := context.Background(), pgtest.New(t)
	steps := []struct {
		processor, event string
		want             bool
	}{
		{"contacts", "e1", true},
		{"contacts", "e1", false},
		{"boards", "e1", true},
	}
	for _, s := range steps {
		got, err := ledger.MarkProcessed(ctx, db, s.processor, s.event, 7)
		if err != nil || got != s.want {
			t.Fatalf("MarkProcessed(%s, %s) = %v, %v; want %v", s.processor, s.event, got, err, s.want)
		}
	}
	fresh, err := ledger.MarkProcessedBatch(ctx, db, "contacts", []string{"e1", "e2", "e2", "e3"}, []int64{1, 2, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(fresh)); !slices.Equal(got, []string{"e2", "e3"}) {
		t.Errorf("batch added %v, want [e2 e3]", got)
	}
	if _, err := ledger.MarkProcessedBatch(ctx, db, "contacts", []string{"e4"}, nil); err == nil {
		t.Error("a batch with fewer sequences than ids was accepted")
	}
	for _, c := range []struct {
		processor, event string
		want             bool
	}{{"contacts", "e3", true}, {"boards", "e2", false}} {
		if got, err := ledger.Processed(ctx, db, c.processor, c.event); err != nil || got != c.want {
			t.Errorf("Processed(%s, %s) = %v, %v; want %v", c.processor, c.event, got, err, c.want)
		}
	}
}

// Rows inserted one by one or copied are read back in order with their
// headers, and deleted by id or by event.
func TestOutbox(t *testing.T) {
	ctx, db := context.Background(), pgtest.New(t)
	one := ledger.Emitted{EventID: "e1", Subject: "events.a", MsgID: "m1", Headers: map[string]string{"H": "1"}, Body: []byte(`{"n":1}`)}
	if err := ledger.InsertOutbox(ctx, db, "p", &one); err != nil || one.ID == 0 {
		t.Fatalf("InsertOutbox: id %d, %v", one.ID, err)
	}
	copied := []ledger.Emitted{
		{EventID: "e2", Subject: "events.b", MsgID: "m2", Headers: map[string]string{"H": "2"}, Body: []byte(`{"n":2}`)},
		{EventID: "e3", Subject: "events.c", MsgID: "m3", Body: []byte(`{"n":3}`)},
	}
	if err := ledger.CopyOutbox(ctx, db, "p", copied); err != nil {
		t.Fatal(err)
	}
	pending := func(ids ...string) []string {
		t.Helper()
		rs, err := ledger.PendingOutbox(ctx, db, "p", ids)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.MsgID+" "+r.Subject+" "+r.Headers["H"]+" "+string(r.Body))
		}
		return out
	}
	want := []string{`m1 events.a 1 {"n":1}`, `m2 events.b 2 {"n":2}`, `m3 events.c  {"n":3}`}
	if got := pending("e1", "e2", "e3"); !slices.Equal(got, want) {
		t.Fatalf("pending = %q, want %q", got, want)
	}
	if err := ledger.DeleteOutbox(ctx, db, []int64{one.ID}); err != nil {
		t.Fatal(err)
	}
	if err := ledger.DeleteOutboxOf(ctx, db, "p", []string{"e2"}); err != nil {
		t.Fatal(err)
	}
	if got := pending("e1", "e2", "e3"); !slices.Equal(got, want[2:]) {
		t.Errorf("after deletes pending = %q, want %q", got, want[2:])
	}
}

// A result replaces the processor's earlier one for the source event; the
// read returns every processor's.
func TestResults(t *testing.T) {
	ctx, db := context.Background(), pgtest.New(t)
	if err := ledger.PutResult(ctx, db, "src", "contacts", []byte(`{"ok":false}`)); err != nil {
		t.Fatal(err)
	}
	if err := ledger.PutResults(ctx, db, "contacts", []string{"src", "other"}, []string{`{"ok":true}`, `{}`}); err != nil {
		t.Fatal(err)
	}
	if err := ledger.PutResult(ctx, db, "src", "boards", []byte(`{"board":"b"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := ledger.Results(ctx, db, "src")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"contacts": `{"ok": true}`, "boards": `{"board": "b"}`}
	if len(got) != len(want) {
		t.Fatalf("results = %q, want %q", got, want)
	}
	for p, w := range want {
		if string(got[p]) != w {
			t.Errorf("result of %s = %s, want %s", p, got[p], w)
		}
	}
}
