package faults

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/streams"
)

// checkStreams fails the test unless the running binary's streams keep what
// the README promises: file storage, limits retention (an acknowledged
// message stays for replay), INGEST and EVENTS for maxAge, DLQ until
// discarded, dedup window dup.
func checkStreams(t *testing.T, js jetstream.JetStream, maxAge, dup time.Duration) {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	for _, want := range []struct {
		name   string
		maxAge time.Duration
	}{{streams.StreamIngest, maxAge}, {streams.StreamEvents, 90 * 24 * time.Hour}, {streams.StreamDLQ, 0}} {
		st, err := js.Stream(ctx, want.name)
		if err != nil {
			t.Fatalf("stream %s: %v", want.name, err)
		}
		c := st.CachedInfo().Config
		if c.Storage != jetstream.FileStorage || c.Retention != jetstream.LimitsPolicy || c.MaxAge != want.maxAge ||
			c.Duplicates != dup {
			t.Errorf("stream %s: storage %v, retention %v, max age %v, duplicates %v; want file, limits, %v, %v",
				want.name, c.Storage, c.Retention, c.MaxAge, c.Duplicates, want.maxAge, dup)
		}
	}
}

// TestRetention runs `serve --ingest-max-age 3s --dedup-window 1s` and checks
// the retention promises on the real binary:
//
//   - processed (acknowledged) raw events stay in INGEST until their max age
//     — limits retention, so replay and rebuild can read them — and are
//     removed after it, while the projection keeps its leads;
//   - a sender retry after the dedup window is stored in INGEST again (the
//     window only absorbs quick retries) but not applied twice: contacts'
//     processed ledger answers "duplicate" and no second lead appears.
//
// The defaults (90 days, 10 minutes) are checked on the serve of
// TestCrashRecovery.
func TestRetention(t *testing.T) {
	slow(t)
	t.Parallel()
	const maxAge, dup = 3 * time.Second, time.Second
	dir := newDir(t, "retention")
	dbURL := freshDB(t)
	httpAddr, natsAddr := freeAddr(t), freeAddr(t)
	base := "http://" + httpAddr
	serve := startProc(t, "serve", childEnv("DATABASE_URL="+dbURL), "serve", "--data-dir", filepath.Join(dir, "data"),
		"--http-addr", httpAddr, "--nats-listen", natsAddr, "--ingest-max-age", maxAge.String(), "--dedup-window", dup.String())
	serve.waitReady(base, 60*time.Second)
	pool := openPool(t, dbURL)
	js := connectNATS(t, "nats://"+natsAddr)
	checkStreams(t, js, maxAge, dup)
	h := createHook(t, pool, "retention")
	s := newSender(t, base, h)
	const n = 10
	postedAt := time.Now()
	for i := range n {
		if a := s.post(context.Background(), newLead("retention", i)); !a.ok() {
			t.Fatalf("lead %d: %d %v %s", i, a.Status, a.Err, a.Body)
		}
	}
	ctx := ctxFor(t, time.Minute)
	leads := func() int {
		var c int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM leads WHERE webhook_id=$1`, h.ID).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	eventually(t, 20*time.Second, 20*time.Millisecond, "leads projected", func() error {
		if c := leads(); c != n {
			return fmt.Errorf("%d of %d leads", c, n)
		}
		return pipelinetest.ConsumerIdle(ctx, js, streams.StreamIngest, "contacts")
	})
	// Acknowledged, still there (unless the machine was too slow to look
	// before they aged out).
	if time.Since(postedAt) < maxAge-500*time.Millisecond {
		if got := len(msgIDs(t, js, streams.StreamIngest, "ingest.webhook."+h.ID)); got != n {
			t.Errorf("INGEST holds %d of %d processed events before their max age", got, n)
		}
	} else {
		t.Logf("projection took %v; the before-max-age check is skipped", time.Since(postedAt))
	}
	eventually(t, maxAge+10*time.Second, 100*time.Millisecond, "raw events aged out of INGEST", func() error {
		if got := len(msgIDs(t, js, streams.StreamIngest, "ingest.webhook."+h.ID)); got != 0 {
			return fmt.Errorf("%d raw events still in INGEST", got)
		}
		return nil
	})
	if c := leads(); c != n {
		t.Errorf("%d leads after the raw events aged out, want %d", c, n)
	}

	// A retry of lead 0 after the dedup window: stored again, applied once.
	l := newLead("retention", 0)
	a := s.post(context.Background(), l)
	if !a.ok() || a.Duplicate {
		t.Fatalf("retry after the dedup window: %d duplicate=%v %s; want a new 2xx", a.Status, a.Duplicate, a.Body)
	}
	ev := h.EventID(l)
	eventually(t, 20*time.Second, 50*time.Millisecond, "retry handled", func() error {
		var st string
		err := pool.QueryRow(ctx, `SELECT status FROM event_outcomes WHERE processor='contacts' AND event_id=$1
			ORDER BY id DESC LIMIT 1`, ev).Scan(&st)
		if err != nil {
			return err
		}
		if st != "duplicate" {
			return fmt.Errorf("latest contacts outcome %q", st)
		}
		return pipelinetest.ConsumerIdle(ctx, js, streams.StreamIngest, "contacts")
	})
	if c := leads(); c != n {
		t.Errorf("%d leads after a retry outside the dedup window, want %d", c, n)
	}
}
