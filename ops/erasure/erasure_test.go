package erasure_test

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/hookstream/hookstream/ops/erasure"
	"github.com/hookstream/hookstream/projections/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestForget_BlanksWhatTheSpecsDeclare: a contact with data in every
// projection that keeps personal data is erased there, someone else's
// rows are not touched, and the erasure is recorded.
func TestForget_BlanksWhatTheSpecsDeclare(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	seed := []string{
		`INSERT INTO contacts (id, workspace_id, crm_id, email, phone, first_name, last_name, company, custom,
			source_time, created_event_id, created_at, updated_at)
		VALUES ('ct_1', 'ws', 'crm1', 'Ann@Example.com', '+15550100', 'Ann', 'Lee', 'Acme', '{"x":1}', now(), 'wh:1', now(), now()),
			('ct_2', 'ws', NULL, 'bob@example.com', NULL, 'Bob', NULL, NULL, '{}', now(), 'wh:2', now(), now())`,
		`INSERT INTO leads (id, event_id, contact_id, workspace_id, source, match_type, is_new_contact, message, page_url,
			referrer, external_lead_id, created_at)
		VALUES ('ld_1', 'fb:9', 'ct_1', 'ws', 'facebook', 'new', true, 'call me', 'https://x', 'https://y', '9', now()),
			('ld_2', 'wh:2', 'ct_2', 'ws', 'form', 'new', true, 'hi', NULL, NULL, NULL, now())`,
		`INSERT INTO facebook_leads (leadgen_id, body) VALUES ('9', '{"name":"Ann"}')`,
		`INSERT INTO payments (transaction_id, workspace_id, amount_minor, amount, currency, status, status_rank,
			contact_id, email, description, livemode, metadata, stripe_created, stripe_event_id)
		VALUES ('pi_1', 'ws', 100, 1, 'USD', 'succeeded', 1, NULL, 'ann@example.com', 'for Ann', false, '{"n":"Ann"}', now(), 'evt_1')`,
		`INSERT INTO stripe_events (id, type, workspace_id, object_id, handled, stripe_created, source_event_id)
		VALUES ('evt_1', 'payment_intent.succeeded', 'ws', 'pi_1', true, now(), 'stripe:evt_1')`,
		`INSERT INTO mailerlite_subscribers (workspace_id, email, status) VALUES ('ws', 'ann@example.com', 'active'),
			('ws', 'bob@example.com', 'active')`,
		`INSERT INTO crm_sync (kind, source_event_id, contact_id, status, last_error) VALUES ('lead', 'wh:1', 'ct_1', 'failed', 'Ann exists')`,
		`INSERT INTO notifications (msg_id, event_id, source_event_id, workspace_id, kind, channel, recipient, title, body)
		VALUES ('n1', 'contact:wh:1', 'wh:1', 'ws', 'contact.created', 'email', 'team@x', 'Ann Lee', '{"l":["Ann"]}')`,
		`INSERT INTO outbox (processor, event_id, subject, msg_id, body) VALUES ('contacts', 'wh:1', 'events.contact.created', 'contact:wh:1', '\x00')`,
	}
	for _, q := range seed {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// The payment is found by e-mail (lower-cased), so its Stripe event is
	// not one of the contact's events: only contacts and leads give those.
	e, err := erasure.Forget(ctx, pool, nil, "ct_1", erasure.ForgetOptions{Reason: "asked", RequestedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"contacts": 1, "leads": 1, "facebook_leads": 1, "payments": 1,
		"mailerlite_subscribers": 1, "crm_sync": 1, "notifications": 1, "outbox": 1}
	if !maps.Equal(e.Tables, want) {
		t.Errorf("tables %v, want %v", e.Tables, want)
	}
	if len(e.EventIDs) != 2 || e.EventIDs[0] != "fb:9" || e.EventIDs[1] != "wh:1" {
		t.Errorf("event ids %v, want [fb:9 wh:1]", e.EventIDs)
	}
	checks := []struct {
		name, q string
	}{
		{"contact blanked", `SELECT email IS NULL AND phone IS NULL AND first_name IS NULL AND last_name IS NULL
			AND company IS NULL AND crm_id IS NULL AND custom = '{}' AND erased_at IS NOT NULL FROM contacts WHERE id = 'ct_1'`},
		{"other contact kept", `SELECT email = 'bob@example.com' AND first_name = 'Bob' FROM contacts WHERE id = 'ct_2'`},
		{"lead blanked", `SELECT message IS NULL AND page_url IS NULL AND referrer IS NULL FROM leads WHERE id = 'ld_1'`},
		{"other lead kept", `SELECT message = 'hi' FROM leads WHERE id = 'ld_2'`},
		{"facebook lead deleted", `SELECT count(*) = 0 FROM facebook_leads`},
		{"payment blanked", `SELECT email IS NULL AND description IS NULL AND metadata = '{}' FROM payments`},
		{"mailerlite address replaced", `SELECT email LIKE 'erased+%@erased.invalid' FROM mailerlite_subscribers WHERE email <> 'bob@example.com'`},
		{"crm error blanked", `SELECT last_error IS NULL FROM crm_sync`},
		{"notification blanked", `SELECT title = '[erased]' AND body = '{}' FROM notifications`},
		{"outbox row deleted", `SELECT count(*) = 0 FROM outbox`},
		{"erasure recorded", `SELECT count(*) = 1 FROM erasures WHERE contact_id = 'ct_1' AND reason = 'asked' AND requested_by = 'test'`},
	}
	for _, c := range checks {
		var ok bool
		if err := pool.QueryRow(ctx, c.q).Scan(&ok); err != nil || !ok {
			t.Errorf("%s: %v (err %v)", c.name, ok, err)
		}
	}

	again, err := erasure.Forget(ctx, pool, nil, "ct_1", erasure.ForgetOptions{})
	if err != nil || !again.AlreadyErased {
		t.Errorf("second erasure: %+v, %v", again, err)
	}
	if _, err := erasure.Forget(ctx, pool, nil, "ct_nobody", erasure.ForgetOptions{}); !errors.Is(err, erasure.ErrNotFound) {
		t.Errorf("unknown contact: %v, want ErrNotFound", err)
	}
}
