package faults

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/projections"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

// connectNATS connects a test client to url (closed at test end).
func connectNATS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name("faults-test"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("nats connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// openPool opens Postgres at url (closed at test end).
func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := projections.Open(ctxFor(t, 30*time.Second), url)
	if err != nil {
		t.Fatalf("postgres %s: %v", url, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// readStream returns every message of stream matching filter, in order.
func readStream(t *testing.T, js jetstream.JetStream, stream, filter string) []pipelinetest.Msg {
	t.Helper()
	ms, err := pipelinetest.ReadStream(ctxFor(t, 20*time.Second), js, stream, filter)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// msgIDs counts the messages of stream matching filter by Nats-Msg-Id.
func msgIDs(t *testing.T, js jetstream.JetStream, stream, filter string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range readStream(t, js, stream, filter) {
		out[m.Header.Get(streams.HdrMsgID)]++
	}
	return out
}

// checkInIngest fails the test unless every accepted event is in INGEST
// exactly once (present: nothing acknowledged is lost; once: the sender's
// retries were deduplicated). It returns the event ids INGEST holds for the
// webhook.
func checkInIngest(t *testing.T, js jetstream.JetStream, h hook, accepted map[string]string) map[string]int {
	t.Helper()
	ingest := msgIDs(t, js, streams.StreamIngest, "ingest.webhook."+h.ID)
	var lost, doubled []string
	for _, ev := range accepted {
		if ingest[ev] == 0 {
			lost = append(lost, ev)
		}
	}
	for ev, n := range ingest {
		if n > 1 {
			doubled = append(doubled, fmt.Sprintf("%s×%d", ev, n))
		}
	}
	sort.Strings(lost)
	sort.Strings(doubled)
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged events are not in INGEST: %s", len(lost), len(accepted), first(lost, 10))
	}
	if len(doubled) > 0 {
		t.Errorf("%d events are in INGEST more than once: %s", len(doubled), first(doubled, 10))
	}
	return ingest
}

// checkProjectedOnce waits (at most total) until the contacts processor has
// projected every event INGEST holds for the webhook, then checks the
// exactly-once effect: one lead per event and no other, one contact per lead
// (each lead is a distinct person), at most one "ok" contacts outcome per
// event, one events.lead.created per event, nothing dead-lettered.
func checkProjectedOnce(t *testing.T, js jetstream.JetStream, pool *pgxpool.Pool, h hook, workspace string,
	ingest map[string]int, total time.Duration) {
	t.Helper()
	ctx := ctxFor(t, total+30*time.Second)
	eventually(t, total, 200*time.Millisecond, "contacts projection caught up", func() error {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM leads WHERE webhook_id=$1`, h.ID).Scan(&n); err != nil {
			return err
		}
		if n < len(ingest) {
			return fmt.Errorf("%d of %d leads projected; %w", n, len(ingest),
				pipelinetest.ConsumerIdle(ctx, js, streams.StreamIngest, "contacts"))
		}
		return pipelinetest.ConsumerIdle(ctx, js, streams.StreamIngest, "contacts")
	})

	rows, err := pool.Query(ctx, `SELECT event_id FROM leads WHERE webhook_id=$1`, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	leads, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var extra, doubled, missing []string
	for _, ev := range leads {
		seen[ev]++
		if seen[ev] == 2 {
			doubled = append(doubled, ev)
		}
		if ingest[ev] == 0 {
			extra = append(extra, ev)
		}
	}
	for ev := range ingest {
		if seen[ev] == 0 {
			missing = append(missing, ev)
		}
	}
	sort.Strings(missing)
	if len(missing)+len(doubled)+len(extra) > 0 {
		t.Errorf("leads vs INGEST (%d events): %d missing %s, %d doubled %s, %d not from INGEST %s",
			len(ingest), len(missing), first(missing, 10), len(doubled), first(doubled, 10), len(extra), first(extra, 10))
	}

	var contacts int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE workspace_id=$1`, workspace).Scan(&contacts); err != nil {
		t.Fatal(err)
	}
	if contacts != len(leads) {
		t.Errorf("%d contacts for %d leads of distinct people", contacts, len(leads))
	}

	var twice int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT event_id FROM event_outcomes
		WHERE processor='contacts' AND status='ok' AND webhook_id=$1 GROUP BY event_id HAVING count(*) > 1) d`,
		h.ID).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if twice > 0 {
		t.Errorf("%d events were applied (outcome ok) by contacts more than once", twice)
	}

	// Every lead announced once: EVENTS deduplicates on "lead:<event id>".
	ids := msgIDs(t, js, streams.StreamEvents, streams.SubjectLeadCreated)
	var notAnnounced, announcedTwice []string
	for ev := range ingest {
		switch n := ids["lead:"+ev]; {
		case n == 0:
			notAnnounced = append(notAnnounced, ev)
		case n > 1:
			announcedTwice = append(announcedTwice, ev)
		}
	}
	if len(notAnnounced)+len(announcedTwice) > 0 {
		// The outbox relays after the commit: give it a moment before judging.
		eventually(t, 15*time.Second, 200*time.Millisecond, "events.lead.created for every lead", func() error {
			ids = msgIDs(t, js, streams.StreamEvents, streams.SubjectLeadCreated)
			notAnnounced, announcedTwice = nil, nil
			for ev := range ingest {
				switch n := ids["lead:"+ev]; {
				case n == 0:
					notAnnounced = append(notAnnounced, ev)
				case n > 1:
					announcedTwice = append(announcedTwice, ev)
				}
			}
			if len(notAnnounced) > 0 {
				return fmt.Errorf("%d leads not announced: %s", len(notAnnounced), first(notAnnounced, 5))
			}
			return nil
		})
		if len(announcedTwice) > 0 {
			t.Errorf("%d leads announced more than once on EVENTS: %s", len(announcedTwice), first(announcedTwice, 5))
		}
	}

	if dead := readStream(t, js, streams.StreamDLQ, streams.DLQSubject("contacts")); len(dead) > 0 {
		t.Errorf("%d messages dead-lettered by contacts; first error: %s", len(dead),
			dead[0].Header.Get(streams.HdrDLQError))
	}
}

func first(ss []string, n int) string {
	if len(ss) > n {
		return strings.Join(ss[:n], ", ") + ", …"
	}
	return strings.Join(ss, ", ")
}

// createHook stores an active Standard Webhooks webhook of workspace.
func createHook(t *testing.T, pool *pgxpool.Pool, workspace string) hook {
	t.Helper()
	w, err := (&webhooksdb.Webhooks{DB: pool}).Create(ctxFor(t, 10*time.Second),
		&webhooksdb.Webhook{WorkspaceID: workspace, Name: "faults " + workspace, AuthScheme: "standard"})
	if err != nil {
		t.Fatalf("create webhook: %v", err)
	}
	if len(w.Secrets) == 0 {
		t.Fatal("webhook created without a secret")
	}
	return hook{ID: w.ID, Secret: w.Secrets[0].Value}
}
