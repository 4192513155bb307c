package pipelinetest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A toy processor on the real pipeline: the gateway stores the post, the
// processor answers ?wait, a poison message is dead-lettered, and a reset
// durable replays from sequence 1.
func TestEnv(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{WaitPrimary: "echo"})
	var calls atomic.Int64
	echo := processors.Processor{
		Name: "echo", Stream: "INGEST", Subjects: []string{"ingest.webhook.>", "ingest.form.>"},
		BackoffInitial: 20 * time.Millisecond, MaxDeliver: 2,
		Handler: func(ctx context.Context, m *processors.Message) error {
			calls.Add(1)
			if string(m.Data) == `{"email":"poison@example.com"}` {
				return errors.New("always fails")
			}
			return env.Store.Apply(ctx, "echo", m, func(ctx context.Context, tx *processors.Tx) error {
				return tx.Result(ctx, map[string]any{"success": true, "echo": string(m.Data)})
			})
		},
	}
	run := env.Start(echo)

	wh := env.CreateWebhook("ws-env", nil)
	res := env.PostWebhook(wh, []byte(`{"email":"a@example.com"}`), pipelinetest.WebhookPost{Query: "wait=5s", ID: "one"})
	if got := res.Map(t); res.Status != 200 || got["echo"] != `{"email":"a@example.com"}` {
		t.Fatalf("?wait: %d %s", res.Status, res.Body)
	}
	id := pipelinetest.EventID(wh, "one")
	if o := env.WaitOutcome("echo", id); o.Status != processors.StatusOK || o.WebhookID != wh.ID {
		t.Errorf("outcome %+v", o)
	}
	if ms := env.MessagesWithID("INGEST", "ingest.webhook.*", id); len(ms) != 1 || ms[0].Header.Get("Hs-Workspace-Id") != "ws-env" {
		t.Errorf("stored: %+v", ms)
	}
	if res := env.PostForm("contact", "", []byte(`{"data":{"email":"form@example.com","first_name":"F","message":"hi"}}`)); res.Status != 200 {
		t.Errorf("form: %d %s", res.Status, res.Body)
	}
	if res := env.PostFacebook([]byte(`{"object":"page","entry":[]}`)); res.Status != 200 {
		t.Errorf("facebook: %d %s", res.Status, res.Body)
	}

	env.PublishRaw(pipelinetest.WebhookRaw(wh.ID, "ws-env", "poison", []byte(`{"email":"poison@example.com"}`)))
	if os := env.WaitOutcomes("echo", "poison", 2); os[1].Status != processors.StatusDead {
		t.Errorf("poison: %+v", os)
	}
	env.WaitIdle(10*time.Second, "INGEST", "echo")
	if dl := env.Messages("DLQ", "dlq.echo"); len(dl) != 1 || dl[0].Header.Get(streams.HdrDLQEventID) != "poison" {
		t.Errorf("dlq: %+v", dl)
	}

	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	env.DeleteConsumer("INGEST", "echo")
	env.Start(echo)
	env.WaitOutcomes("echo", id, 2)
	env.WaitIdle(10*time.Second, "INGEST", "echo")
	if o := env.Outcomes("echo", id); o[1].Status != processors.StatusDuplicate {
		t.Errorf("replay: %+v", o)
	}
	if calls.Load() <= before {
		t.Error("nothing replayed")
	}
}
