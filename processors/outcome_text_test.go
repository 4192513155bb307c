package processors_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams"
)

// groupSpy is PGOutcomes that remembers the size of every group written.
type groupSpy struct {
	processors.PGOutcomes
	mu     sync.Mutex
	groups []int
}

func (g *groupSpy) RecordBatch(ctx context.Context, os []processors.Outcome) error {
	g.mu.Lock()
	g.groups = append(g.groups, len(os))
	g.mu.Unlock()
	return g.PGOutcomes.RecordBatch(ctx, os)
}

// A CRM answering 422 with a long localized message, for three events
// recorded in one group: the error is cut at a character boundary, so all
// three outcomes are stored, their text valid. (Cut inside a character,
// Postgres refused the row and the COPY lost the whole group.)
func TestLongMultiByteErrorsAllRecorded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	msg := "crm: 422: " + strings.Repeat("Поле «телефон» заполнено неверно. ", 100)
	for utf8.RuneStart(msg[2000]) {
		msg = "x" + msg
	}
	fail := func(ctx context.Context, m *processors.Message) error {
		return processors.Permanent(errors.New(msg))
	}
	ids := []string{"evt-ru-1", "evt-ru-2", "evt-ru-3"}
	for _, id := range ids { // stored before the runner starts: one pull, one batch
		h.publish(subjWebhook, id, "{}")
	}
	spy := &groupSpy{PGOutcomes: processors.PGOutcomes{DB: h.db}}
	r := h.newRunner()
	r.Outcomes = spy
	h.start(r, processors.Processor{
		Name: "crmlike", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
		Handler: fail, Batch: processors.InOrder(fail),
	})
	for _, id := range ids {
		rows := h.waitOutcomes("crmlike", id, "dead/1")
		e := rows[0].Error
		if e == nil || !utf8.ValidString(*e) || len(*e) > 2000 || len(*e) < 1997 || !strings.HasPrefix(msg, *e) {
			t.Errorf("%s: error stored as %d bytes, valid %v; want the message's first ≤2,000 bytes cut at a character",
				id, len(deref(e)), utf8.ValidString(deref(e)))
		}
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.groups) != 1 || spy.groups[0] != 3 {
		t.Errorf("outcomes written in groups %v, want one group of 3", spy.groups)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// A group holding one row Postgres refuses (a detail with a NUL, which jsonb
// cannot store) still stores the group's other rows, and says which row was
// lost.
func TestGroupedOutcomes_RefusedRowLosesOnlyItself(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := ctxT(t, 10*time.Second)
	g := &processors.GroupedOutcomes{DB: db}
	good := func(id string) processors.Outcome {
		return processors.Outcome{Processor: "grouped", EventID: id, Subject: "ingest.webhook.wh",
			Status: processors.StatusRetry, Attempts: 1, Error: "ошибка\x00 " + strings.Repeat("é", 1500)}
	}
	badOutcome := good("ev-bad")
	// What SetOutcome stores for a detail holding an upstream's NUL.
	badOutcome.Detail, _ = json.Marshal(map[string]string{"crm_reply": "name\x00"})
	err := g.RecordBatch(ctx, []processors.Outcome{good("ev-1"), badOutcome, good("ev-2")})
	if err == nil || !strings.Contains(err.Error(), "ev-bad") || strings.Contains(err.Error(), "ev-1") {
		t.Errorf("RecordBatch = %v, want an error naming ev-bad only", err)
	}
	rows, qerr := db.Query(ctx, `SELECT event_id FROM event_outcomes WHERE processor='grouped' ORDER BY event_id`)
	if qerr != nil {
		t.Fatal(qerr)
	}
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if strings.Join(got, ",") != "ev-1,ev-2" {
		t.Errorf("stored %v, want ev-1 and ev-2", got)
	}
}
