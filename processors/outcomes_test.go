package processors_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/projections/pgtest"
)

// GroupedOutcomes: concurrent Record calls each return only once their own
// row is committed, with every field stored, whoever's COPY carried it.
func TestGroupedOutcomes_ConcurrentRecords(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	g := &processors.GroupedOutcomes{DB: db}
	recv := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := ctxT(t, 10*time.Second)
			id := fmt.Sprintf("ev-%02d", i)
			o := processors.Outcome{Processor: "grouped", EventID: id, WebhookID: "wh", Workspace: "ws",
				Subject: "ingest.webhook.wh", StreamSeq: uint64(i + 1), Status: processors.StatusOK, Attempts: 1,
				Duration: 1500 * time.Microsecond, Received: recv}
			if i%2 == 0 {
				o.Status, o.Error = processors.StatusRetry, "boom"
			}
			if err := g.Record(ctx, o); err != nil {
				errs <- err
				return
			}
			var status, errText string
			var seq int64
			var dur float64
			if err := db.QueryRow(ctx, `SELECT status, COALESCE(error,''), stream_seq, duration_ms FROM event_outcomes
				WHERE processor='grouped' AND event_id=$1 AND received_at=$2 AND webhook_id='wh' AND workspace_id='ws'`,
				id, recv).Scan(&status, &errText, &seq, &dur); err != nil {
				errs <- fmt.Errorf("%s not visible after Record returned: %w", id, err)
				return
			}
			if status != o.Status || errText != o.Error || seq != int64(i+1) || dur != 1.5 {
				errs <- fmt.Errorf("%s stored as %s/%q/%d/%v", id, status, errText, seq, dur)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var rows int
	if err := db.QueryRow(ctxT(t, 5*time.Second), `SELECT count(*) FROM event_outcomes WHERE processor='grouped'`).Scan(&rows); err != nil || rows != n {
		t.Errorf("%d rows (%v), want %d", rows, err, n)
	}
}
