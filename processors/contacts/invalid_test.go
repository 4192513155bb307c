package contacts_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// Input the gateway would refuse, published straight to INGEST: each event
// is rejected once (no retry loop), dead-lettered to dlq.contacts with the
// reason, answers ?wait with success:false, creates nothing, and the events
// behind it keep flowing.
func TestInvalidPayloadRejected(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{NoGateway: true})
	const ws = "ws-invalid"
	startPipeline(t, env)

	cases := []struct {
		id, body, ct string
		wantErr      string
	}{
		{"no-contact", `{"first_name":"Nobody","product":"Bath Remodel"}`, "", "email: required"},
		{"bad-phone", `{"first_name":"Bad","phone":"12345"}`, "", "phone: invalid_phone"},
		{"bad-email", `{"email":"not an email","phone":""}`, "", "email: invalid_email"},
		{"not-json", `{"email":`, "", "JSON"},
		{"bad-form", `phone=%zz`, "application/x-www-form-urlencoded", ""},
	}
	// ?wait listens before the publish, as the gateway does.
	pending, err := env.Waiter.Expect("no-contact")
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Stop()
	for _, c := range cases {
		r := pipelinetest.WebhookRaw("wh_invalid", ws, c.id, []byte(c.body))
		r.ContentType = c.ct
		env.PublishRaw(r)
	}
	env.PublishRaw(pipelinetest.WebhookRaw("wh_invalid", ws, "valid", []byte(`{"email":"valid@example.com"}`)))

	body, err := pending.Wait(env.Ctx(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Success || a.EventID != "no-contact" || a.Message != "invalid contact data" || len(a.Errors) != 2 ||
		a.Errors[0].Code != "required" {
		t.Errorf("?wait answer: %s", body)
	}

	env.WaitOutcome("contacts", "valid", processors.StatusOK)
	for _, c := range cases {
		env.WaitOutcome("contacts", c.id, processors.StatusRejected)
	}
	// A retried delivery stays unacknowledged until it comes back, so once
	// the consumer is idle every attempt has been made.
	env.WaitIdle(10*time.Second, "INGEST", "contacts")

	dlq := env.Messages("DLQ", "dlq.contacts")
	if len(dlq) != len(cases) {
		t.Errorf("%d messages in dlq.contacts, want %d", len(dlq), len(cases))
	}
	byEvent := map[string]pipelinetest.Msg{}
	for _, m := range dlq {
		byEvent[m.Header.Get(streams.HdrDLQEventID)] = m
	}
	for _, c := range cases {
		os := env.Outcomes("contacts", c.id)
		if len(os) != 1 || os[0].Status != processors.StatusRejected || os[0].Attempts != 1 || !strings.Contains(os[0].Error, c.wantErr) {
			t.Errorf("%s: outcomes %+v", c.id, os)
		}
		m, ok := byEvent[c.id]
		if !ok {
			t.Errorf("%s: not dead-lettered", c.id)
			continue
		}
		if string(m.Data) != c.body || m.Header.Get(streams.HdrDLQStatus) != "rejected" ||
			m.Header.Get(streams.HdrDLQAttempts) != "1" || m.Header.Get(streams.HdrDLQSubject) != "ingest.webhook.wh_invalid" ||
			m.Header.Get(streams.HdrDLQError) == "" {
			t.Errorf("%s: dead letter %v %q", c.id, m.Header, m.Data)
		}
		var r answer
		if err := json.Unmarshal(env.Result("contacts", c.id), &r); err != nil || r.Success {
			t.Errorf("%s: stored result %s", c.id, env.Result("contacts", c.id))
		}
		if n := env.Count(`SELECT count(*) FROM processed WHERE event_id=$1`, c.id); n != 0 {
			t.Errorf("%s: in the processed ledger", c.id)
		}
	}
	if n := env.Count(`SELECT count(*) FROM contacts`); n != 1 {
		t.Errorf("%d contacts, want only the valid one", n)
	}
	if n := env.Count(`SELECT count(*) FROM leads`); n != 1 {
		t.Errorf("%d leads", n)
	}
}

// Redelivering an event that was applied never rejects it, even when it
// would not pass validation any more (the webhook's mapping changed since):
// it stays applied, with its answer, and nothing is dead-lettered.
func TestRedeliveryAfterMappingChange(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{NoGateway: true})
	wh := env.CreateWebhook("ws-remap", nil)
	run := env.Start(contactsProc(t, env, nil))
	env.PublishRaw(pipelinetest.WebhookRaw(wh.ID, "ws-remap", "applied", []byte(`{"email":"kept@example.com"}`)))
	env.WaitOutcome("contacts", "applied", processors.StatusOK)
	before := env.Result("contacts", "applied")

	if _, err := env.DB.Exec(ctxT(t), `UPDATE webhooks SET field_mapping='{"contact.email":"email"}' WHERE id=$1`, wh.ID); err != nil {
		t.Fatal(err)
	}
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	env.DeleteConsumer("INGEST", "contacts")
	env.Start(contactsProc(t, env, nil)) // a new process: no cached mapping
	if o := env.WaitOutcomes("contacts", "applied", 2)[1]; o.Status != processors.StatusDuplicate {
		t.Errorf("redelivery: %+v", o)
	}
	if n := len(env.Messages("DLQ", "dlq.>")); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if after := env.Result("contacts", "applied"); string(after) != string(before) {
		t.Errorf("answer replaced:\n%s\n%s", before, after)
	}
}
