package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/processors/notify"
	"github.com/hookstream/hookstream/streams"
)

const (
	teamEmail = "sales-team@example.com"
	teamPhone = "+15551230001"
)

func jane(id string) events.Contact {
	return events.Contact{ID: id, FirstName: "Jane <script>alert(1)</script>", LastName: "O'Neil & Sons",
		Email: "jane.doe@example.com", Phone: "+16266633444", Product: "Bath Remodel", Score: 40}
}

// Every channel against a server speaking its real protocol: e-mail over
// SMTP with STARTTLS and AUTH, Slack's incoming webhook, Twilio's Messages
// API; SMS only for the high-priority board.
func TestChannelsRealProtocols(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ms := newSMTPServer(t)
	sl := newSlackServer(t)
	tw := newTwilioServer(t)
	e.addRule(notify.Rule{WorkspaceID: "ws1", Event: notify.KindContactCreated, Channels: []string{notify.ChannelLive, notify.ChannelEmail, notify.ChannelSlack}})
	e.addRule(notify.Rule{WorkspaceID: "ws1", Event: notify.KindBoardAssigned, Board: "hot leads", Channels: []string{notify.ChannelSMS, notify.ChannelEmail}, HighPriority: true})
	e.start(notify.Config{SMTP: ms.config(), EmailFrom: "Hookstream <alerts@example.com>", EmailTo: []string{teamEmail},
		SlackURL: sl.URL(), Twilio: tw.config(), SMSTo: []string{teamPhone}, BatchWindow: 300 * time.Millisecond})

	c := jane("ct_1")
	e.publishContact("ws1", "wh:wh_test:1", c)
	c.BoardName = "Hot Leads"
	e.publish(streams.SubjectBoardAssigned, "board:wh:wh_test:1", "wh:wh_test:1", "ws1", events.BoardAssigned{
		Origin:    events.Origin{SourceEventID: "wh:wh_test:1", Source: "webhook", ReceivedAt: time.Now()},
		ContactID: "ct_1", BoardID: "bd_1", BoardName: "Hot Leads", Contact: c})

	testutil.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if n := len(ms.messages()); n < 1 {
			return fmt.Errorf("%d mails", n)
		}
		if n := len(sl.messages()); n < 1 {
			return fmt.Errorf("%d slack messages", n)
		}
		if n := len(tw.messages()); n < 1 {
			return fmt.Errorf("%d sms", n)
		}
		if n := e.count(`SELECT count(*) FROM notifications WHERE status='sent'`); n != 5 {
			return fmt.Errorf("%d sent notifications, want 5 (live, email, slack; sms, email)", n)
		}
		return nil
	})

	// E-mail: STARTTLS was used, AUTH succeeded, both parts, values escaped.
	mails := ms.messages()
	var all strings.Builder
	for _, m := range mails {
		if !m.TLS || m.User != "mailer" {
			t.Errorf("mail sent without STARTTLS/AUTH: tls=%v user=%q", m.TLS, m.User)
		}
		if m.From != "alerts@example.com" || len(m.To) != 1 || m.To[0] != teamEmail {
			t.Errorf("envelope from %q to %v", m.From, m.To)
		}
		if !strings.HasPrefix(m.Subject, "[Hookstream] ") {
			t.Errorf("subject %q", m.Subject)
		}
		if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") {
			t.Errorf("HTML part does not escape the sender's values:\n%s", m.HTML)
		}
		if !strings.Contains(m.Text, "Jane <script>alert(1)</script>") {
			t.Errorf("text part:\n%s", m.Text)
		}
		all.WriteString(m.Subject + "\n" + m.Text)
	}
	if !strings.Contains(all.String(), "New contact: Jane") || !strings.Contains(all.String(), "HIGH PRIORITY") {
		t.Errorf("mails do not announce the contact and the high-priority lead:\n%s", all.String())
	}

	// Slack: mrkdwn with <, >, & escaped.
	st := sl.messages()[0]
	if !strings.Contains(st, "New contact: Jane &lt;script&gt;") || !strings.Contains(st, "O'Neil &amp; Sons") {
		t.Errorf("slack text not escaped: %s", st)
	}

	// SMS: one, to the configured number, from the configured sender.
	sm := tw.messages()
	if len(sm) != 1 || sm[0].To != teamPhone || sm[0].From != testFrom || !strings.Contains(sm[0].Body, "HIGH PRIORITY") ||
		!strings.Contains(sm[0].Body, "Hot Leads") {
		t.Errorf("sms: %+v", sm)
	}

	// Rows: attempts and sent_at recorded; the outcomes name the batch.
	if n := e.count(`SELECT count(*) FROM notifications WHERE sent_at IS NOT NULL AND (attempts=1 OR channel='live')`); n != 5 {
		t.Errorf("%d rows with sent_at and one attempt", n)
	}
	testutil.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n := e.count(`SELECT count(*) FROM event_outcomes WHERE processor='notify-email' AND status='ok' AND detail ? 'batch_id'`); n < 1 {
			return fmt.Errorf("no notify-email outcome with its batch")
		}
		return nil
	})
}

// 12 events arriving one after the other within the batch window on one
// channel become 3 messages: 5 + 5 + 2.
func TestBatching(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sl := newSlackServer(t)
	ms := newSMTPServer(t)
	e.addRule(notify.Rule{WorkspaceID: "ws1", Event: notify.KindContactCreated, Channels: []string{notify.ChannelSlack, notify.ChannelEmail}})
	_, stop := e.start(notify.Config{SlackURL: sl.URL(), SMTP: ms.config(), EmailFrom: "alerts@example.com", EmailTo: []string{teamEmail},
		BatchWindow: 2 * time.Second})
	for i := range 12 {
		src := fmt.Sprintf("wh:wh_test:%d", i)
		e.publishContact("ws1", src, jane(fmt.Sprintf("ct_%d", i)))
		// The next event once this one's notifications are queued: the
		// batches fill one item at a time.
		testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
			if n := e.count(`SELECT count(*) FROM notifications WHERE source_event_id=$1`, src); n != 2 {
				return fmt.Errorf("%d of 2 notifications of %s", n, src)
			}
			return nil
		})
	}
	testutil.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if n := e.count(`SELECT count(*) FROM notifications WHERE status='sent'`); n != 24 {
			return fmt.Errorf("%d of 24 notifications sent", n)
		}
		return nil
	})
	// Every delivery message handled, then the runner stopped: nothing
	// more can reach the servers.
	testutil.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if n := e.count(`SELECT count(*) FROM event_outcomes WHERE processor LIKE 'notify-%' AND status='ok'`); n != 24 {
			return fmt.Errorf("%d of 24 deliveries handled", n)
		}
		return nil
	})
	stop()
	for name, n := range map[string]int{"slack": len(sl.messages()), "email": len(ms.messages())} {
		if n != 3 {
			t.Errorf("%s: %d messages, want 3", name, n)
		}
	}
	sizes := map[int]int{}
	rows, err := e.db.Query(context.Background(), `SELECT count(*) FROM notifications WHERE channel='slack' GROUP BY batch_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n int
		rows.Scan(&n)
		sizes[n]++
	}
	rows.Close()
	if sizes[5] != 2 || sizes[2] != 1 {
		t.Errorf("slack batch sizes %v, want two of 5 and one of 2", sizes)
	}
	if texts := sl.messages(); !strings.Contains(texts[0], "*5 notifications*") {
		t.Errorf("first slack message: %s", texts[0])
	}
}

// Slack fails: each delivery is tried three times (1 + 2 retries), then
// dead-lettered; e-mail and SMS are delivered meanwhile, and the dead letters
// are announced on the other channels (never on Slack itself).
func TestFailingChannelRetriedThenDeadLettered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sl := newSlackServer(t)
	sl.setStatus(500)
	ms := newSMTPServer(t)
	tw := newTwilioServer(t)
	e.addRule(notify.Rule{WorkspaceID: "ws1", Event: notify.KindContactCreated, Channels: []string{notify.ChannelSlack, notify.ChannelEmail, notify.ChannelSMS}})
	e.addRule(notify.Rule{WorkspaceID: "ws1", Event: notify.KindDLQ, Channels: []string{notify.ChannelLive, notify.ChannelSlack, notify.ChannelEmail}})
	start := time.Now()
	e.start(notify.Config{SlackURL: sl.URL(), SMTP: ms.config(), EmailFrom: "alerts@example.com", EmailTo: []string{teamEmail},
		Twilio: tw.config(), SMSTo: []string{teamPhone}, BatchWindow: 200 * time.Millisecond, RetryBackoff: 300 * time.Millisecond})
	e.publishContact("ws1", "wh:wh_test:1", jane("ct_1"))
	e.publishContact("ws1", "wh:wh_test:2", jane("ct_2"))

	// The healthy channels deliver at once, before Slack has given up.
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if len(ms.messages()) < 1 || len(tw.messages()) < 1 {
			return fmt.Errorf("%d mails, %d sms", len(ms.messages()), len(tw.messages()))
		}
		return nil
	})
	if n := e.count(`SELECT count(*) FROM notifications WHERE channel='slack' AND status='dead'`); n != 0 {
		t.Errorf("slack already dead (%d) when the other channels delivered", n)
	}
	healthy := time.Since(start)

	testutil.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if n := e.count(`SELECT count(*) FROM notifications WHERE channel='slack' AND status='dead' AND attempts=3`); n != 2 {
			return fmt.Errorf("%d dead slack notifications with 3 attempts", n)
		}
		return nil
	})
	info, err := e.js.Stream(context.Background(), streams.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(context.Background(), jetstream.WithSubjectFilter("dlq.>"))
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Subjects["dlq.notify-slack"] != 2 {
		t.Errorf("DLQ subjects %v, want 2 on dlq.notify-slack", si.State.Subjects)
	}
	testutil.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n := e.count(`SELECT count(*) FROM event_outcomes WHERE processor='notify-slack' AND status='dead' AND attempts=3`); n != 2 {
			return fmt.Errorf("%d dead notify-slack outcomes", n)
		}
		return nil
	})
	// The dead letters are announced by e-mail and in the live feed, not on
	// Slack; the error names no secret path.
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n := e.count(`SELECT count(*) FROM notifications WHERE kind='dlq' AND channel='email' AND status='sent'`); n != 2 {
			return fmt.Errorf("%d dlq e-mails", n)
		}
		return nil
	})
	if n := e.count(`SELECT count(*) FROM notifications WHERE kind='dlq' AND channel='slack'`); n != 0 {
		t.Errorf("%d dead-letter alerts sent to the failing channel", n)
	}
	var errText string
	e.db.QueryRow(context.Background(), `SELECT error FROM notifications WHERE channel='slack' LIMIT 1`).Scan(&errText)
	if !strings.Contains(errText, "500") || strings.Contains(errText, "XXXXsecretXXXX") {
		t.Errorf("recorded error %q", errText)
	}
	if strings.Contains(e.logs.String(), "XXXXsecretXXXX") {
		t.Errorf("the Slack webhook's secret path is in the logs")
	}
	// 3 calls per notification (batched together: 3 calls in all, or more
	// if the retries did not line up) — never more than 3 per notification.
	if n := sl.callCount(); n > 6 {
		t.Errorf("slack called %d times for 2 notifications", n)
	}
	t.Logf("healthy channels delivered after %v", healthy)
}

// Notifications written while no delivery consumer runs are sent after a
// restart; re-delivering everything (a replay) sends nothing twice.
func TestRestartLosesNothingAndSendsNothingTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ms := newSMTPServer(t)
	e.addRule(notify.Rule{WorkspaceID: "ws1", Event: notify.KindContactCreated, Channels: []string{notify.ChannelEmail}})
	cfg := notify.Config{SMTP: ms.config(), EmailFrom: "alerts@example.com", EmailTo: []string{teamEmail}, BatchWindow: time.Second}

	// The SMTP server is down (451) while events arrive: deliveries wait
	// for their retry. Then the process stops.
	ms.setFail(&smtp.SMTPError{Code: 451, Message: "try later"})
	_, stop := e.start(notify.Config{SMTP: cfg.SMTP, EmailFrom: cfg.EmailFrom, EmailTo: cfg.EmailTo, BatchWindow: cfg.BatchWindow,
		RetryBackoff: 2 * time.Second})
	for i := range 3 {
		e.publishContact("ws1", fmt.Sprintf("wh:wh_test:%d", i), jane(fmt.Sprintf("ct_%d", i)))
	}
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := e.count(`SELECT count(*) FROM notifications WHERE attempts=1 AND status='pending'`); n != 3 {
			return fmt.Errorf("%d notifications failed once", n)
		}
		return nil
	})
	stop()

	// Restart with the server back: all three go out, once.
	ms.setFail(nil)
	_, stop = e.start(notify.Config{SMTP: cfg.SMTP, EmailFrom: cfg.EmailFrom, EmailTo: cfg.EmailTo, BatchWindow: cfg.BatchWindow,
		RetryBackoff: 100 * time.Millisecond})
	testutil.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if n := e.count(`SELECT count(*) FROM notifications WHERE status='sent' AND attempts=2`); n != 3 {
			return fmt.Errorf("%d sent on the second attempt", n)
		}
		return nil
	})
	stop()
	if got := len(ms.messages()); got != 1 {
		t.Errorf("%d mails after restart, want 1 (one batch of 3)", got)
	}

	// A replay: the delivery consumer starts over from sequence 1.
	if err := e.js.DeleteConsumer(context.Background(), streams.StreamEvents, "notify-email"); err != nil {
		t.Fatal(err)
	}
	if err := e.js.DeleteConsumer(context.Background(), streams.StreamEvents, "notify"); err != nil {
		t.Fatal(err)
	}
	_, stop = e.start(cfg)
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n := e.count(`SELECT count(*) FROM event_outcomes WHERE processor='notify-email' AND status='duplicate'`); n != 3 {
			return fmt.Errorf("%d duplicate deliveries seen", n)
		}
		return nil
	})
	stop() // the three replayed deliveries are handled: nothing more is in flight
	if got := len(ms.messages()); got != 1 {
		t.Errorf("%d mails after the replay, want still 1", got)
	}
}

// Dead letters of other processors are announced; a payment above the
// configured amount pages by SMS; a channel without settings is skipped.
func TestDeadLetterAndPaymentRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tw := newTwilioServer(t)
	min := int64(100000)
	e.addRule(notify.Rule{WorkspaceID: "default", Event: "payment.succeeded", MinAmount: &min, Currency: "usd", Channels: []string{notify.ChannelSMS}, HighPriority: true})
	e.addRule(notify.Rule{WorkspaceID: "default", Event: "payment.*", Channels: []string{notify.ChannelLive, notify.ChannelEmail}})
	e.addRule(notify.Rule{WorkspaceID: "default", Event: notify.KindDLQ, Channels: []string{notify.ChannelLive, notify.ChannelSMS}})
	e.start(notify.Config{Twilio: tw.config(), SMSTo: []string{teamPhone}, BatchWindow: 100 * time.Millisecond})

	pay := func(id string, amount int64) events.Payment {
		return events.Payment{Origin: events.Origin{SourceEventID: "stripe:" + id, Source: "stripe", ReceivedAt: time.Now()},
			StripeRef:     events.StripeRef{StripeEventID: id, StripeEventType: "payment_intent.succeeded"},
			Link:          events.Link{WorkspaceID: "default", Email: "buyer@example.com"},
			TransactionID: "pi_" + id, AmountMinor: amount, Amount: json.Number(fmt.Sprintf("%d.%02d", amount/100, amount%100)), Currency: "USD",
			Status: "succeeded", ServiceType: "Bath Remodel"}
	}
	e.publish(streams.SubjectPaymentSucceeded, "payment:stripe:evt_big", "stripe:evt_big", "default", pay("big", 149900))
	e.publish(streams.SubjectPaymentSucceeded, "payment:stripe:evt_small", "stripe:evt_small", "default", pay("small", 5000))

	dm := nats.NewMsg("dlq.contacts")
	dm.Data = []byte(`{"email":"not-an-email"}`)
	dm.Header.Set(streams.HdrMsgID, "dlq:contacts:INGEST:7")
	dm.Header.Set(streams.HdrWorkspaceID, "default")
	dm.Header.Set(streams.HdrDLQEventID, "wh:wh_test:9")
	dm.Header.Set(streams.HdrDLQProcessor, "contacts")
	dm.Header.Set(streams.HdrDLQSubject, "ingest.webhook.wh_test")
	dm.Header.Set(streams.HdrDLQStatus, "rejected")
	dm.Header.Set(streams.HdrDLQAttempts, "1")
	dm.Header.Set(streams.HdrDLQError, "invalid contact data (email: invalid) for jane.doe@example.com")
	dm.Header.Set(streams.HdrDLQAt, time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := e.js.PublishMsg(context.Background(), dm); err != nil {
		t.Fatal(err)
	}

	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n := e.count(`SELECT count(*) FROM notifications WHERE channel='sms' AND status='sent'`); n != 2 {
			return fmt.Errorf("%d sms notifications sent, want 2 (the big payment, the dead letter)", n)
		}
		return nil
	})
	var bodies []string
	for _, m := range tw.messages() {
		bodies = append(bodies, m.Body)
	}
	joined := strings.Join(bodies, "\n")
	if !strings.Contains(joined, "Payment received: 1,499.00 USD") || !strings.Contains(joined, "contacts rejected an event") {
		t.Errorf("sms bodies:\n%s", joined)
	}
	if strings.Contains(joined, "jane.doe@example.com") {
		t.Errorf("dead-letter error not scrubbed: %s", joined)
	}
	// Small payment: live only (e-mail is not configured: skipped).
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		var detail string
		e.db.QueryRow(context.Background(), `SELECT detail::text FROM event_outcomes WHERE processor='notify' AND event_id='payment:stripe:evt_small'`).Scan(&detail)
		if !strings.Contains(detail, `"skipped_channels": ["email"]`) || !strings.Contains(detail, `"channels": ["live"]`) {
			return fmt.Errorf("small payment outcome detail: %s", detail)
		}
		return nil
	})
}

// The live feed is the stream: every live notification is a message on
// events.notification.live, in order, with the notice as its body.
func TestLiveFeedOnTheStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(notify.Config{})
	for i := range 3 {
		e.publishContact("ws1", fmt.Sprintf("wh:wh_test:%d", i), jane(fmt.Sprintf("ct_%d", i)))
	}
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		s, err := e.js.Stream(context.Background(), streams.StreamEvents)
		if err != nil {
			return err
		}
		si, err := s.Info(context.Background(), jetstream.WithSubjectFilter(notify.LiveSubject))
		if err != nil {
			return err
		}
		if si.State.Subjects[notify.LiveSubject] != 3 {
			return fmt.Errorf("%v", si.State.Subjects)
		}
		return nil
	})
	// Defaults: live, e-mail and Slack for contacts; e-mail and Slack are not
	// configured here, so only the live rows exist.
	if n := e.count(`SELECT count(*) FROM notifications WHERE channel='live' AND status='sent'`); n != 3 {
		t.Errorf("%d live rows", n)
	}
	if n := e.count(`SELECT count(*) FROM notifications WHERE channel<>'live'`); n != 0 {
		t.Errorf("%d rows for unconfigured channels", n)
	}
}
