// Package notify is the notify processor: team notifications for new
// contacts, board assignments, payments, disputes and dead letters.
//
// Flow. The `notify` consumer (EVENTS: events.contact.created,
// events.board.assigned, events.payment.>, events.dispute.created) and the
// `notify-dlq` consumer (DLQ: dlq.>) evaluate the workspace's rules and, in
// one transaction with the processed ledger, write a `notifications` row per
// channel and recipient and emit its delivery message on
// events.notification.<channel> through the outbox. Nothing is lost across
// a restart: the rows and messages exist exactly when the ledger row does.
//
// Channels. `live` needs no delivery: the live feed (GET /api/events/live)
// reads events.notification.live from the stream, so a reconnecting browser
// resumes from its Last-Event-ID. `email` (SMTP), `slack` (incoming webhook)
// and `sms` (Twilio-compatible API) each have their own durable consumer
// (notify-email, notify-slack, notify-sms), so a failing channel never holds
// up the others. A delivery consumer groups up to BatchSize notifications per
// recipient arriving within BatchWindow into one message (5 per 10 s by
// default, like the original queue), tries each delivery MaxAttempts times
// (1 + 2 retries) with backoff and then dead-letters it to dlq.notify-<channel>,
// which notify-dlq announces on the other channels. A notification whose row
// says "sent" is never sent again (redelivery, replay); only a crash between
// a destination's acceptance and the row update can repeat one.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/outbound"
	notifydb "github.com/hookstream/hookstream/projections/notify"
	"github.com/hookstream/hookstream/streams"
)

// Names of the processors (and their durable consumers).
const (
	Name           = "notify"     // EVENTS
	NameDLQ        = "notify-dlq" // DLQ
	deliveryPrefix = "notify-"    // notify-email, notify-slack, notify-sms on EVENTS
)

// SubjectPrefix is the root of the delivery subjects in EVENTS:
// events.notification.<channel>.
const SubjectPrefix = "events.notification"

// Subject is the delivery subject of a channel.
func Subject(channel string) string { return SubjectPrefix + "." + channel }

// LiveSubject carries the live feed.
var LiveSubject = Subject(ChannelLive)

// Subjects the notify consumer reads.
var Subjects = []string{streams.SubjectContactCreated, streams.SubjectBoardAssigned, "events.payment.>", streams.SubjectDisputeCreated}

// Notification statuses (notifications.status).
const (
	StatusPending = "pending"
	StatusSent    = "sent"
	StatusDead    = "dead"
	StatusSkipped = "skipped"
)

// Config holds the channels' settings; a channel without its settings is
// skipped. Zero durations take the defaults.
type Config struct {
	SMTP      *SMTPConfig
	EmailFrom string   // NOTIFY_EMAIL_FROM
	EmailTo   []string // NOTIFY_EMAIL_TO
	SlackURL  string   // SLACK_WEBHOOK_URL
	Twilio    *TwilioConfig
	SMSTo     []string // NOTIFY_SMS_TO

	BatchSize    int           // per message; default 5
	BatchWindow  time.Duration // longest a notification waits for company; default 10s
	MaxAttempts  int           // per delivery (1 + retries); default 3
	RetryBackoff time.Duration // first retry delay, doubling; default 5s
	// MaxAge: events older than this (by receive time) are not announced, so
	// a replay or a consumer catching up on old history does not page anyone.
	// Default 24h; negative disables.
	MaxAge      time.Duration
	HTTPTimeout time.Duration // Slack and Twilio requests; default 10s
	Now         func() time.Time
}

// DefaultConfig returns the defaults (no channel has its settings).
func DefaultConfig() Config { return Config{}.withDefaults() }

// Validate checks the configuration (zero values take the defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxAttempts < 1:
		return errors.New("notify: MaxAttempts must be at least 1")
	case c.Twilio != nil && c.Twilio.APIURL == "":
		return errors.New("notify: TWILIO_API_URL must not be empty")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = 5
	}
	if c.BatchWindow <= 0 {
		c.BatchWindow = 10 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 5 * time.Second
	}
	if c.MaxAge == 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Notifier builds the notify processors.
type Notifier struct {
	store   *processors.Store
	cfg     Config
	rules   *ruleCache
	senders map[string]sender
	log     *slog.Logger
}

// New checks the settings and builds the channels that have them.
func New(deps processors.Deps, cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Notifier{store: deps.Store(), cfg: cfg, senders: map[string]sender{}, log: deps.Logger(),
		rules: &ruleCache{rules: &Rules{DB: deps.DB}, ttl: 5 * time.Second}}
	var secrets scrubber
	if cfg.SMTP != nil {
		secrets = append(secrets, cfg.SMTP.Password)
	}
	if cfg.SlackURL != "" {
		secrets = append(secrets, cfg.SlackURL)
		if i := strings.Index(cfg.SlackURL, "://"); i >= 0 {
			if j := strings.Index(cfg.SlackURL[i+3:], "/"); j >= 0 {
				secrets = append(secrets, cfg.SlackURL[i+3+j:])
			}
		}
	}
	if cfg.Twilio != nil {
		secrets = append(secrets, cfg.Twilio.AuthToken)
	}
	if cfg.SMTP != nil && cfg.EmailFrom != "" {
		n.senders[ChannelEmail] = &emailSender{cfg: cfg.SMTP, from: cfg.EmailFrom, scrubber: secrets}
	}
	if cfg.SlackURL != "" {
		n.senders[ChannelSlack] = &slackSender{url: cfg.SlackURL, client: outbound.New("slack", cfg.HTTPTimeout, nil), scrubber: secrets}
	}
	if t := cfg.Twilio; t != nil && t.AccountSID != "" && t.AuthToken != "" && t.From != "" {
		n.senders[ChannelSMS] = &smsSender{cfg: *t, client: outbound.New("sms", cfg.HTTPTimeout, nil), scrubber: secrets}
	}
	return n, nil
}

// Configured lists the channels that have their settings (live always).
func (n *Notifier) Configured() []string {
	out := []string{ChannelLive}
	for _, c := range Channels[1:] {
		if n.senders[c] != nil {
			out = append(out, c)
		}
	}
	return out
}

// Processors returns notify, notify-dlq and one delivery consumer per
// configured outbound channel.
func (n *Notifier) Processors() []processors.Processor {
	ps := []processors.Processor{
		// Its database work is all in Apply: batches share a transaction.
		{Name: Name, Stream: streams.StreamEvents, Subjects: Subjects, Handler: n.handleEvent, Concurrency: 16,
			Batch: n.store.Batched(n.handleEvent), BatchLinger: 20 * time.Millisecond},
		{Name: NameDLQ, Stream: streams.StreamDLQ, Subjects: []string{streams.SubjectDLQAll}, Handler: n.handleDLQ, Concurrency: 4},
	}
	for _, c := range Channels[1:] {
		s := n.senders[c]
		if s == nil {
			continue
		}
		d := &delivery{n: n, channel: c, sender: s, log: n.log.With("processor", deliveryPrefix+c)}
		d.batcher = &batcher{size: n.cfg.BatchSize, window: n.cfg.BatchWindow, send: d.sendBatch, open: map[string]*batch{}}
		ps = append(ps, processors.Processor{
			Name: deliveryPrefix + c, Stream: streams.StreamEvents, Subjects: []string{Subject(c)},
			Handler: d.handle, Concurrency: max(64, 4*n.cfg.BatchSize), MaxDeliver: n.cfg.MaxAttempts,
			// Held while the batch fills: the runner signals progress.
			AckWait:        30 * time.Second,
			BackoffInitial: n.cfg.RetryBackoff, BackoffMax: 4 * n.cfg.RetryBackoff,
		})
	}
	return ps
}

func (n *Notifier) handleEvent(ctx context.Context, m *processors.Message) error {
	nt, err := parseEvent(m)
	if err != nil {
		return processors.Reject(fmt.Errorf("decoding %s: %w", m.Subject, err))
	}
	if nt == nil {
		m.SetOutcome(processors.StatusSkipped, map[string]any{"reason": "not announced"})
		return nil
	}
	return n.enqueue(ctx, Name, m, nt, strings.ReplaceAll(nt.Kind, ".", "-"))
}

func (n *Notifier) handleDLQ(ctx context.Context, m *processors.Message) error {
	nt := dlqNotice(m)
	if nt.Kind == "" {
		m.SetOutcome(processors.StatusSkipped, map[string]any{"reason": "dead letter of an alert"})
		return nil
	}
	return n.enqueue(ctx, NameDLQ, m, nt, "dlq-"+strconv.FormatUint(m.StreamSeq, 10))
}

type target struct{ channel, recipient string }

// enqueue writes the notifications of one event and emits their delivery
// messages, exactly once per event.
func (n *Notifier) enqueue(ctx context.Context, ledger string, m *processors.Message, nt *Notice, tag string) error {
	if nt.Workspace == "" {
		nt.Workspace = "default"
	}
	if n.cfg.MaxAge > 0 && !nt.At.IsZero() && n.cfg.Now().Sub(nt.At) > n.cfg.MaxAge {
		m.SetOutcome(processors.StatusSkipped, map[string]any{"reason": "older than NOTIFY_MAX_AGE"})
		return nil
	}
	rules, err := n.rules.get(ctx, nt.Workspace)
	if err != nil {
		return err
	}
	rt := match(rules, nt)
	if nt.failedChannel != "" {
		delete(rt.channels, nt.failedChannel)
	}
	var targets []target
	var skipped []string
	for _, ch := range Channels {
		if !rt.channels[ch] {
			continue
		}
		if ch != ChannelLive && n.senders[ch] == nil {
			skipped = append(skipped, ch)
			continue
		}
		switch ch {
		case ChannelLive:
			targets = append(targets, target{ch, "feed"})
		case ChannelSlack:
			targets = append(targets, target{ch, "webhook"})
		case ChannelEmail:
			to := rt.emailTo
			if len(to) == 0 {
				to = n.cfg.EmailTo
			}
			if len(to) == 0 {
				skipped = append(skipped, ch)
				continue
			}
			targets = append(targets, target{ch, strings.Join(to, ",")})
		case ChannelSMS:
			to := rt.smsTo
			if len(to) == 0 {
				to = n.cfg.SMSTo
			}
			if len(to) == 0 {
				skipped = append(skipped, ch)
				continue
			}
			for _, p := range to {
				targets = append(targets, target{ch, p})
			}
		}
	}
	detail := map[string]any{"kind": nt.Kind, "rules": rt.rules}
	if len(skipped) > 0 {
		detail["skipped_channels"] = skipped
	}
	if len(targets) == 0 {
		detail["reason"] = "no channel"
		m.SetOutcome(processors.StatusSkipped, detail)
		return nil
	}
	prio := PriorityNormal
	if rt.high {
		prio = PriorityHigh
	}
	lines, _ := json.Marshal(map[string]any{"lines": nt.Lines})
	var channels []string
	err = n.store.Apply(ctx, ledger, m, func(ctx context.Context, tx *processors.Tx) error {
		channels = channels[:0]
		for i, t := range targets {
			no := *nt
			no.Channel, no.Priority = t.channel, prio
			no.MsgID = fmt.Sprintf("ntf.%s.%s.%d:%s", tag, t.channel, i, nt.SourceEventID)
			status := StatusPending
			var sentAt *time.Time
			if t.channel == ChannelLive {
				// The stream is the feed: the row is sent when it commits.
				now := n.cfg.Now().UTC()
				status, sentAt = StatusSent, &now
			}
			id, ok, err := notifydb.InsertNotification(ctx, tx, &notifydb.Notification{MsgID: no.MsgID,
				EventID: nt.EventID, SourceEventID: nt.SourceEventID, WorkspaceID: nt.Workspace, Kind: nt.Kind,
				Channel: t.channel, Recipient: t.recipient, ContactID: nt.ContactID, Priority: prio, Title: nt.Title,
				Body: lines, Status: status, SentAt: sentAt})
			if err != nil {
				return err
			}
			if !ok {
				continue // kept across a rebuild: already announced
			}
			no.NotificationID = id
			if err := tx.Emit(ctx, Subject(t.channel), no.MsgID, no); err != nil {
				return err
			}
			channels = append(channels, t.channel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	detail["channels"] = channels
	detail["priority"] = prio
	m.SetOutcome("", detail)
	return nil
}

// --- delivery -------------------------------------------------------------

type delivery struct {
	n       *Notifier
	channel string
	sender  sender
	batcher *batcher
	log     *slog.Logger
}

func (d *delivery) handle(ctx context.Context, m *processors.Message) error {
	var nt Notice
	if err := json.Unmarshal(m.Data, &nt); err != nil || nt.NotificationID == 0 {
		return processors.Reject(errors.New("not a notification"))
	}
	status, recipient, ok, err := notifydb.DeliveryState(ctx, d.n.store.DB, nt.NotificationID, nt.MsgID)
	if err != nil {
		return err
	}
	if !ok {
		m.SetOutcome(processors.StatusSkipped, map[string]any{"notification_id": nt.NotificationID, "reason": "no notification row"})
		return nil
	}
	// A dead letter handed back by `hookstream dlq retry` carries the
	// Hs-Dlq-* headers: a dead notification then gets one more attempt, on
	// its own (no batching).
	redrive := m.Header.Get(streams.HdrDLQProcessor) != ""
	switch {
	case status == StatusSent:
		return processors.ErrAlreadyProcessed
	case status == StatusSkipped || (status == StatusDead && !redrive):
		m.SetOutcome(processors.StatusSkipped, map[string]any{"notification_id": nt.NotificationID, "reason": "notification is " + status})
		return nil
	}
	var b *batch
	if redrive {
		b = &batch{recipient: recipient, items: []*item{{n: &nt, attempt: m.Attempt}}}
		b.id, b.err = d.sendBatch(recipient, b.items)
	} else {
		b = d.batcher.add(recipient, &item{n: &nt, attempt: m.Attempt})
		<-b.done
	}
	detail := map[string]any{"notification_id": nt.NotificationID, "channel": d.channel, "batch_id": b.id, "batch_size": len(b.items)}
	if b.err == nil {
		m.SetOutcome("", detail)
		return nil
	}
	var de *deliveryError
	if !errors.As(b.err, &de) {
		de = &deliveryError{msg: Scrub(b.err.Error())}
	}
	last := de.permanent || m.Attempt >= d.n.cfg.MaxAttempts || redrive
	st := StatusPending
	if last {
		st = StatusDead
	}
	uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := notifydb.RecordFailure(uctx, d.n.store.DB, nt.NotificationID, st, m.Attempt, de.msg, b.id); err != nil {
		d.log.Warn("recording a failed delivery", "notification_id", nt.NotificationID, "err", err)
	}
	m.SetOutcome("", detail)
	if de.permanent {
		return processors.Permanent(errors.New(de.msg))
	}
	return processors.RetryAfter(errors.New(de.msg), max(de.retryAfter, d.retryDelay(m.Attempt)))
}

// retryDelay is the same for every notification of a failed batch (no
// jitter: just above the runner's jittered backoff), so they come back
// together and are retried as one message again: RetryBackoff×1.25 after
// the first attempt, ×2.5 after the second, doubling up to ×5.
func (d *delivery) retryDelay(attempt int) time.Duration {
	f := time.Duration(1) << min(max(attempt-1, 0), 2)
	return d.n.cfg.RetryBackoff * 5 / 4 * f
}

// sendBatch sends one batch and records the rows as sent. A row update that
// fails after the destination accepted is logged, not retried through the
// stream: that would send the message again.
func (d *delivery) sendBatch(recipient string, items []*item) (string, error) {
	id := newBatchID()
	sort.Slice(items, func(i, j int) bool { return items[i].n.NotificationID < items[j].n.NotificationID })
	ns := make([]*Notice, len(items))
	ids := make([]int64, len(items))
	atts := make([]int32, len(items))
	for i, it := range items {
		ns[i], ids[i], atts[i] = it.n, it.n.NotificationID, int32(it.attempt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	start := time.Now()
	err := d.sender.send(ctx, recipient, ns, id)
	if err != nil {
		d.log.Warn("notification batch failed", "channel", d.channel, "batch_id", id, "size", len(items), "err", err.Error())
		return id, err
	}
	for try := 0; try < 5; try++ {
		uerr := notifydb.RecordSent(ctx, d.n.store.DB, id, ids, atts)
		if uerr == nil {
			break
		}
		d.log.Warn("recording a sent batch", "batch_id", id, "err", uerr)
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	d.log.Info("notification batch sent", "channel", d.channel, "batch_id", id, "size", len(items), "took", time.Since(start))
	return id, nil
}

// --- batching -------------------------------------------------------------

type item struct {
	n       *Notice
	attempt int
}

// batcher groups deliveries to one recipient: a batch is sent when it holds
// size items or window after its first item arrived, whichever comes first.
type batcher struct {
	size   int
	window time.Duration
	send   func(recipient string, items []*item) (string, error)

	mu   sync.Mutex
	open map[string]*batch
}

type batch struct {
	recipient string
	items     []*item
	timer     *time.Timer
	once      sync.Once
	done      chan struct{}
	id        string
	err       error
}

// add puts it in the recipient's open batch and returns the batch; wait on
// its done channel.
func (b *batcher) add(recipient string, it *item) *batch {
	b.mu.Lock()
	bt := b.open[recipient]
	if bt == nil {
		bt = &batch{recipient: recipient, done: make(chan struct{})}
		b.open[recipient] = bt
		bt.timer = time.AfterFunc(b.window, func() { b.flush(bt) })
	}
	bt.items = append(bt.items, it)
	full := len(bt.items) >= b.size
	if full {
		delete(b.open, recipient) // sealed: later items start a new batch
	}
	b.mu.Unlock()
	if full {
		b.flush(bt)
	}
	return bt
}

func (b *batcher) flush(bt *batch) {
	bt.once.Do(func() {
		b.mu.Lock()
		if b.open[bt.recipient] == bt {
			delete(b.open, bt.recipient)
		}
		items := bt.items
		b.mu.Unlock()
		bt.timer.Stop()
		bt.id, bt.err = b.send(bt.recipient, items)
		close(bt.done)
	})
}

// SendTest sends one test notification on a channel, directly (no stream,
// no row): `hookstream notify test` checks the settings with it. An empty
// recipient means the configured default.
func (n *Notifier) SendTest(ctx context.Context, channel, recipient string) error {
	s := n.senders[channel]
	if s == nil {
		return fmt.Errorf("channel %q has no settings (configured: %s)", channel, strings.Join(n.Configured(), ", "))
	}
	if recipient == "" {
		switch channel {
		case ChannelEmail:
			recipient = strings.Join(n.cfg.EmailTo, ",")
		case ChannelSMS:
			if len(n.cfg.SMSTo) > 0 {
				recipient = n.cfg.SMSTo[0]
			}
		case ChannelSlack:
			recipient = "webhook"
		}
	}
	if recipient == "" {
		return fmt.Errorf("no recipient: pass --to or set NOTIFY_%s_TO", strings.ToUpper(channel))
	}
	nt := &Notice{Kind: "test", Channel: channel, Priority: PriorityNormal, Title: "Test notification from Hookstream",
		SourceEventID: "test", At: n.cfg.Now().UTC(),
		Lines: []Line{{"Channel", channel}, {"Sent", n.cfg.Now().UTC().Format(time.RFC3339)}}}
	return s.send(ctx, recipient, []*Notice{nt}, newBatchID())
}
