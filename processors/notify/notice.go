package notify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/streams"
)

// Event kinds rules match on: the EVENTS subject without "events.", or "dlq"
// for dead letters.
const (
	KindContactCreated = "contact.created"
	KindBoardAssigned  = "board.assigned"
	KindDisputeCreated = "dispute.created"
	KindDLQ            = "dlq"
)

// Priorities.
const (
	PriorityNormal = "normal"
	PriorityHigh   = "high"
)

// Line is one labelled value of a notice ("Email: jane@example.com").
type Line struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Notice is one notification as it travels on events.notification.<channel>
// (and is shown by the live feed). The channels render it; every value may
// come from a sender and is escaped by each renderer.
type Notice struct {
	NotificationID int64     `json:"notification_id"`
	MsgID          string    `json:"msg_id"`
	EventID        string    `json:"event_id"`
	SourceEventID  string    `json:"source_event_id"`
	Workspace      string    `json:"workspace_id"`
	Kind           string    `json:"kind"`
	Channel        string    `json:"channel"`
	Priority       string    `json:"priority"`
	Title          string    `json:"title"`
	Lines          []Line    `json:"lines,omitempty"`
	ContactID      string    `json:"contact_id,omitempty"`
	WebhookID      string    `json:"webhook_id,omitempty"`
	At             time.Time `json:"at"`

	// What rules match on (not rendered).
	board    string
	product  string
	amount   *int64
	currency string
	// failedChannel is set on a dead letter of a notification delivery: the
	// alert goes to the other channels.
	failedChannel string
}

// parseEvent turns a domain event into a notice (without id, channel or
// priority). ok is false for a subject notify does not announce.
func parseEvent(m *processors.Message) (n *Notice, err error) {
	kind := strings.TrimPrefix(m.Subject, "events.")
	n = &Notice{EventID: m.EventID, SourceEventID: processors.SourceEventID(m), Workspace: m.Workspace,
		Kind: kind, WebhookID: m.WebhookID, At: m.Received}
	switch {
	case kind == KindContactCreated:
		var ev events.ContactChanged
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return nil, err
		}
		c := ev.Contact
		n.ContactID, n.product, n.board = c.ID, c.Product, c.BoardName
		n.Title = "New contact: " + displayName(c)
		n.Lines = contactLines(c, ev.Origin)
		if ev.LeadScore > 0 {
			n.Lines = append(n.Lines, Line{"Lead score", strconv.Itoa(ev.LeadScore)})
		}
		if n.Workspace == "" {
			n.Workspace = c.WorkspaceID
		}
		setOrigin(n, ev.Origin)
	case kind == KindBoardAssigned:
		var ev events.BoardAssigned
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return nil, err
		}
		c := ev.Contact
		n.ContactID, n.product, n.board = ev.ContactID, c.Product, ev.BoardName
		n.Title = fmt.Sprintf("New lead on %s: %s", orDash(ev.BoardName), displayName(c))
		n.Lines = append([]Line{{"Board", ev.BoardName}}, contactLines(c, ev.Origin)...)
		if c.Score > 0 {
			n.Lines = append(n.Lines, Line{"Lead score", strconv.Itoa(c.Score)})
		}
		if n.Workspace == "" {
			n.Workspace = c.WorkspaceID
		}
		setOrigin(n, ev.Origin)
	case strings.HasPrefix(kind, "payment."):
		var p events.Payment
		if err := json.Unmarshal(m.Data, &p); err != nil {
			return nil, err
		}
		reason := p.ErrorMessage
		if p.DeclineCode != "" {
			reason = strings.TrimSpace(reason + " (" + p.DeclineCode + ")")
		}
		paymentNotice(n, p.Link, p.AmountMinor, p.Currency, p.ServiceType, p.Description, p.Status, reason, p.TransactionID)
		setOrigin(n, p.Origin)
	case kind == KindDisputeCreated:
		var d events.Dispute
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return nil, err
		}
		paymentNotice(n, d.Link, d.AmountMinor, d.Currency, "", "", d.Status, d.Reason, d.DisputeID)
		if d.EvidenceDueBy != nil {
			n.Lines = append(n.Lines, Line{"Evidence due", d.EvidenceDueBy.UTC().Format("2006-01-02 15:04 MST")})
		}
		setOrigin(n, d.Origin)
	default:
		return nil, nil
	}
	if n.At.IsZero() {
		n.At = time.Now().UTC()
	}
	return n, nil
}

func setOrigin(n *Notice, o events.Origin) {
	if o.SourceEventID != "" {
		n.SourceEventID = o.SourceEventID
	}
	if n.WebhookID == "" {
		n.WebhookID = o.WebhookID
	}
	if n.At.IsZero() {
		n.At = o.ReceivedAt
	}
}

func paymentNotice(n *Notice, l events.Link, minor int64, currency, product, description, status, reason, ref string) {
	n.product = product
	n.amount, n.currency = &minor, strings.ToLower(currency)
	n.ContactID = l.ContactID
	if n.Workspace == "" {
		n.Workspace = l.WorkspaceID
	}
	amount := FormatAmount(minor, currency)
	switch n.Kind {
	case "payment.succeeded":
		n.Title = "Payment received: " + amount
	case "payment.failed":
		n.Title = "Payment failed: " + amount
	case KindDisputeCreated:
		n.Title = "Dispute opened: " + amount
	default:
		n.Title = "Payment event " + n.Kind + ": " + amount
	}
	add := func(label, v string) {
		if v = strings.TrimSpace(v); v != "" {
			n.Lines = append(n.Lines, Line{label, v})
		}
	}
	add("Amount", amount)
	add("Customer", l.Email)
	add("Product", product)
	add("Description", description)
	add("Status", status)
	add("Reason", reason)
	add("Payment", ref)
	add("Contact", l.ContactID)
}

// zeroDecimal are currencies Stripe counts in whole units.
var zeroDecimal = map[string]bool{"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true,
	"krw": true, "mga": true, "pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true,
	"xof": true, "xpf": true}

// FormatAmount renders minor units: 149900 usd → "1,499.00 USD".
func FormatAmount(minor int64, currency string) string {
	cur := strings.ToUpper(strings.TrimSpace(currency))
	neg := minor < 0
	if neg {
		minor = -minor
	}
	var whole, frac int64
	decimals := !zeroDecimal[strings.ToLower(cur)]
	if decimals {
		whole, frac = minor/100, minor%100
	} else {
		whole = minor
	}
	s := strconv.FormatInt(whole, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String()
	if decimals {
		out += fmt.Sprintf(".%02d", frac)
	}
	if neg {
		out = "-" + out
	}
	if cur != "" {
		out += " " + cur
	}
	return out
}

// ParseAmount reads "1499", "1,499.50" or "1499.5" in major units as minor
// units (cents) for a currency.
func ParseAmount(s, currency string) (int64, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	if s == "" {
		return 0, fmt.Errorf("empty amount")
	}
	if zeroDecimal[strings.ToLower(currency)] {
		return strconv.ParseInt(s, 10, 64)
	}
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, fmt.Errorf("amount %q: at most two decimals", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || w < 0 {
		return 0, fmt.Errorf("amount %q: not a number", s)
	}
	return w*100 + f, nil
}

func displayName(c events.Contact) string {
	name := strings.TrimSpace(strings.TrimSpace(c.FirstName) + " " + strings.TrimSpace(c.LastName))
	switch {
	case name != "":
		return name
	case c.Company != "":
		return c.Company
	case c.Email != "":
		return c.Email
	case c.Phone != "":
		return c.Phone
	}
	return "contact " + c.ID
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func contactLines(c events.Contact, o events.Origin) []Line {
	var ls []Line
	add := func(label, v string) {
		if v = strings.TrimSpace(v); v != "" {
			ls = append(ls, Line{label, v})
		}
	}
	add("Name", strings.TrimSpace(c.FirstName+" "+c.LastName))
	add("Email", c.Email)
	add("Phone", c.Phone)
	add("Company", c.Company)
	add("Product", c.Product)
	add("Service", c.ServiceInterest)
	src := o.Source
	switch {
	case o.WebhookID != "":
		src += " " + o.WebhookID
	case o.FormType != "":
		src += " " + o.FormType
	}
	add("Source", src)
	add("Contact", c.ID)
	return ls
}

// dlqNotice describes a dead letter.
func dlqNotice(m *processors.Message) *Notice {
	h := m.Header
	proc := h.Get(streams.HdrDLQProcessor)
	if proc == "" {
		proc = strings.TrimPrefix(m.Subject, "dlq.")
	}
	src := h.Get(streams.HdrDLQEventID)
	if c := h.Get(streams.HdrCausationID); c != "" {
		src = c
	}
	if src == "" {
		src = m.EventID
	}
	n := &Notice{EventID: m.EventID, SourceEventID: src, Workspace: m.Workspace, Kind: KindDLQ,
		WebhookID: m.WebhookID}
	if t, err := time.Parse(time.RFC3339Nano, h.Get(streams.HdrDLQAt)); err == nil {
		n.At = t
	} else {
		n.At = time.Now().UTC()
	}
	status := h.Get(streams.HdrDLQStatus)
	verb := "gave up on"
	if status == processors.StatusRejected {
		verb = "rejected"
	}
	n.Title = fmt.Sprintf("%s %s an event", proc, verb)
	add := func(label, v string) {
		if v != "" {
			n.Lines = append(n.Lines, Line{label, v})
		}
	}
	add("Processor", proc)
	add("Event", h.Get(streams.HdrDLQEventID))
	add("Source event", src)
	add("Subject", h.Get(streams.HdrDLQSubject))
	add("Status", status)
	add("Attempts", h.Get(streams.HdrDLQAttempts))
	add("Error", Scrub(h.Get(streams.HdrDLQError)))
	add("Dead letter", m.Subject+" #"+strconv.FormatUint(m.StreamSeq, 10))
	if strings.HasPrefix(proc, deliveryPrefix) {
		var failed Notice
		if json.Unmarshal(m.Data, &failed) == nil {
			n.failedChannel = failed.Channel
			n.ContactID = failed.ContactID
			if failed.Kind == KindDLQ {
				n.Kind = "" // an alert about an alert: never announced (no loops)
			}
			add("Notification", failed.Title)
		}
	}
	return n
}
