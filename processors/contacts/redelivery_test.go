package contacts_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// A sender retrying outside the stream's dedup window, and a consumer reset
// that redelivers everything, apply nothing twice: the processed ledger
// keys on the event id, not the stream sequence.
func TestRedeliveryAndSenderRetry(t *testing.T) {
	t.Parallel()
	sc := streams.DefaultConfig()
	sc.Duplicates = 150 * time.Millisecond
	env := pipelinetest.New(t, pipelinetest.Options{Streams: &sc})
	const ws = "ws-retry"
	wh := env.CreateWebhook(ws, nil)
	run := startPipeline(t, env)
	body := string(fixture(t, "lead-vendor.json"))
	eventID := pipelinetest.EventID(wh, "vendor-42")

	first := postWith(t, env, wh, body, pipelinetest.WebhookPost{Query: "wait=5s", ID: "vendor-42"})
	if !first.IsNewContact {
		t.Fatalf("%+v", first)
	}

	// The sender retries the same delivery until it is past the dedup
	// window: the stream takes it as a new message, the ledger does not.
	env.Eventually(5*time.Second, func() error {
		res := env.PostWebhook(wh, []byte(body), pipelinetest.WebhookPost{ID: "vendor-42"})
		if res.Status != 200 || res.Map(t)["duplicate"] != false {
			return fmt.Errorf("retry not stored as a new message: %d %s", res.Status, res.Body)
		}
		return nil
	})
	if n := len(env.MessagesWithID("INGEST", "ingest.>", eventID)); n != 2 {
		t.Fatalf("%d copies of the event in INGEST, want 2", n)
	}
	env.WaitOutcome("contacts", eventID, processors.StatusDuplicate)
	// ?wait on a further retry, once the stream takes it as a third
	// message, answers from the stored result.
	var again answer
	env.Eventually(5*time.Second, func() error {
		again = postWith(t, env, wh, body, pipelinetest.WebhookPost{Query: "wait=5s", ID: "vendor-42"})
		if n := len(env.MessagesWithID("INGEST", "ingest.>", eventID)); n != 3 {
			return fmt.Errorf("%d copies of the event in INGEST, want 3", n)
		}
		return nil
	})
	if again.ContactID != first.ContactID || again.LeadID != first.LeadID || !again.IsNewContact {
		t.Errorf("answer to the retry: %+v, first %+v", again, first)
	}
	waitIdle(env)

	// Reset: both durables from sequence 1 (a replay without dropping the
	// projections) — every message is redelivered and is a no-op.
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	env.DeleteConsumer("INGEST", "contacts")
	env.DeleteConsumer("EVENTS", "boards")
	startPipeline(t, env)
	waitIdle(env)

	if n := env.Count(`SELECT count(*) FROM leads`); n != 1 {
		t.Errorf("%d leads, want 1", n)
	}
	if n := env.Count(`SELECT count(*) FROM contacts`); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}
	if n := env.Count(`SELECT count(*) FROM board_assignments`); n != 1 {
		t.Errorf("%d board assignments, want 1", n)
	}
	oks, dups := 0, 0
	for _, o := range env.WaitOutcomes("contacts", eventID, 6) {
		switch o.Status {
		case processors.StatusOK:
			oks++
		case processors.StatusDuplicate:
			dups++
		default:
			t.Errorf("outcome %+v", o)
		}
	}
	if oks != 1 || dups != 5 { // 3 messages, the 2nd and 3rd retry; all 3 again after the reset
		t.Errorf("%d ok, %d duplicate outcomes, want 1 and 5", oks, dups)
	}
	if os := env.WaitOutcomes("boards", "contact:"+eventID, 2); len(os) != 2 || os[1].Status != processors.StatusDuplicate {
		t.Errorf("boards outcomes after the reset: %+v", os)
	}
	for _, subj := range []string{"events.contact.>", "events.lead.created"} {
		if n := len(env.Messages("EVENTS", subj)); n != 1 {
			t.Errorf("%d %s events, want 1", n, subj)
		}
	}
}
