package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	notifydb "github.com/hookstream/hookstream/projections/notify"
)

// Channels.
const (
	ChannelLive  = "live"
	ChannelEmail = "email"
	ChannelSlack = "slack"
	ChannelSMS   = "sms"
)

// Channels lists every channel in the order notices are fanned out.
var Channels = []string{ChannelLive, ChannelEmail, ChannelSlack, ChannelSMS}

// Rule sends events of one kind, optionally narrowed by board, product or
// payment amount, to channels. Every condition that is set must hold.
type Rule struct {
	ID           string    `json:"id"`
	WorkspaceID  string    `json:"workspace_id"`
	Event        string    `json:"event"` // contact.created | board.assigned | payment.succeeded | payment.* | dispute.created | dlq | *
	Channels     []string  `json:"channels"`
	Board        string    `json:"board,omitempty"`
	Product      string    `json:"product,omitempty"`
	MinAmount    *int64    `json:"min_amount,omitempty"` // minor units (cents)
	Currency     string    `json:"currency,omitempty"`
	HighPriority bool      `json:"high_priority"`
	EmailTo      []string  `json:"email_to,omitempty"`
	SMSTo        []string  `json:"sms_to,omitempty"`
	Active       bool      `json:"active"`
	Default      bool      `json:"default,omitempty"` // a built-in rule (the workspace has none of its own)
	CreatedAt    time.Time `json:"created_at,omitzero"`
}

// DefaultRules apply to a workspace without active rules of its own: every
// new contact and board assignment to the live feed, e-mail and Slack;
// payments to the live feed and Slack; disputes everywhere, SMS included, as
// high priority; dead letters to the live feed, e-mail and Slack. SMS for
// leads is opt-in (a rule naming a board, product or minimum amount).
func DefaultRules() []Rule {
	all := []string{ChannelLive, ChannelEmail, ChannelSlack}
	return []Rule{
		{ID: "default-contact", Event: KindContactCreated, Channels: all, Active: true, Default: true},
		{ID: "default-board", Event: KindBoardAssigned, Channels: all, Active: true, Default: true},
		{ID: "default-payment", Event: "payment.*", Channels: []string{ChannelLive, ChannelSlack}, Active: true, Default: true},
		{ID: "default-dispute", Event: KindDisputeCreated, Channels: []string{ChannelLive, ChannelEmail, ChannelSlack, ChannelSMS},
			HighPriority: true, Active: true, Default: true},
		{ID: "default-dlq", Event: KindDLQ, Channels: all, Active: true, Default: true},
	}
}

// Validate checks a rule before it is stored.
func (r *Rule) Validate() error {
	if r.WorkspaceID == "" {
		return errors.New("workspace required")
	}
	if !validEvent(r.Event) {
		return fmt.Errorf("event %q: want contact.created, board.assigned, payment.succeeded, payment.failed, payment.*, dispute.created, dlq or *", r.Event)
	}
	if len(r.Channels) == 0 {
		return errors.New("at least one channel required")
	}
	for _, c := range r.Channels {
		if !slices.Contains(Channels, c) {
			return fmt.Errorf("channel %q: want live, email, slack or sms", c)
		}
	}
	if r.MinAmount != nil && *r.MinAmount < 0 {
		return errors.New("min amount must not be negative")
	}
	for _, a := range r.EmailTo {
		if !strings.Contains(a, "@") {
			return fmt.Errorf("e-mail recipient %q is not an address", a)
		}
	}
	for _, p := range r.SMSTo {
		if !strings.HasPrefix(p, "+") || len(p) < 8 {
			return fmt.Errorf("SMS recipient %q: want E.164 (+15551234567)", p)
		}
	}
	return nil
}

func validEvent(e string) bool {
	switch e {
	case "*", KindContactCreated, KindBoardAssigned, KindDisputeCreated, KindDLQ, "payment.*":
		return true
	}
	rest, ok := strings.CutPrefix(e, "payment.")
	return ok && rest != "" && !strings.ContainsAny(rest, " .*>")
}

// matches reports whether the rule applies to n.
func (r *Rule) matches(n *Notice) bool {
	if !r.Active || n.Kind == "" {
		return false
	}
	switch {
	case r.Event == "*":
	case strings.HasSuffix(r.Event, ".*"):
		if !strings.HasPrefix(n.Kind, strings.TrimSuffix(r.Event, "*")) {
			return false
		}
	case r.Event != n.Kind:
		return false
	}
	if r.Board != "" && !strings.EqualFold(strings.TrimSpace(r.Board), strings.TrimSpace(n.board)) {
		return false
	}
	if r.Product != "" && !strings.EqualFold(strings.TrimSpace(r.Product), strings.TrimSpace(n.product)) {
		return false
	}
	if r.MinAmount != nil && (n.amount == nil || *n.amount < *r.MinAmount) {
		return false
	}
	if r.Currency != "" && !strings.EqualFold(r.Currency, n.currency) {
		return false
	}
	return true
}

// route is what the matching rules ask for: channels, recipients and
// priority.
type route struct {
	channels map[string]bool
	emailTo  []string // from rules; empty = the configured default
	smsTo    []string
	high     bool
	rules    []string
}

func match(rules []Rule, n *Notice) route {
	rt := route{channels: map[string]bool{}}
	for i := range rules {
		r := &rules[i]
		if !r.matches(n) {
			continue
		}
		rt.rules = append(rt.rules, r.ID)
		for _, c := range r.Channels {
			rt.channels[c] = true
		}
		rt.high = rt.high || r.HighPriority
		if slices.Contains(r.Channels, ChannelEmail) {
			rt.emailTo = append(rt.emailTo, r.EmailTo...)
		}
		if slices.Contains(r.Channels, ChannelSMS) {
			rt.smsTo = append(rt.smsTo, r.SMSTo...)
		}
	}
	rt.emailTo = uniq(rt.emailTo)
	rt.smsTo = uniq(rt.smsTo)
	return rt
}

func uniq(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// SplitList splits a comma-separated setting.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Rules stores notification rules.
type Rules struct{ DB *pgxpool.Pool }

// ruleOf is a stored rule as the notifier uses it.
func ruleOf(row *notifydb.Rule) Rule {
	return Rule{ID: row.ID, WorkspaceID: row.WorkspaceID, Event: row.Event, Channels: row.Channels, Board: row.Board,
		Product: row.Product, MinAmount: row.MinAmount, Currency: row.Currency, HighPriority: row.HighPriority,
		EmailTo: SplitList(row.EmailTo), SMSTo: SplitList(row.SMSTo), Active: row.Active, CreatedAt: row.CreatedAt}
}

// List returns a workspace's stored rules (active or not).
func (s *Rules) List(ctx context.Context, workspace string) ([]Rule, error) {
	rows, err := notifydb.Rules(ctx, s.DB, workspace)
	if err != nil {
		return nil, err
	}
	var out []Rule
	for i := range rows {
		out = append(out, ruleOf(&rows[i]))
	}
	return out, nil
}

// Effective returns the rules that apply to a workspace: its active rules,
// or the defaults when it has none.
func (s *Rules) Effective(ctx context.Context, workspace string) ([]Rule, error) {
	rs, err := s.List(ctx, workspace)
	if err != nil {
		return nil, err
	}
	active := rs[:0]
	for _, r := range rs {
		if r.Active {
			active = append(active, r)
		}
	}
	if len(active) == 0 {
		d := DefaultRules()
		for i := range d {
			d[i].WorkspaceID = workspace
		}
		return d, nil
	}
	return active, nil
}

// Add stores a rule and returns it with its id.
func (s *Rules) Add(ctx context.Context, r Rule) (*Rule, error) {
	r.Active = true
	r.Currency = strings.ToLower(r.Currency)
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.ID == "" {
		b := make([]byte, 8)
		rand.Read(b)
		r.ID = "nr_" + hex.EncodeToString(b)
	}
	row, err := notifydb.InsertRule(ctx, s.DB, &notifydb.Rule{ID: r.ID, WorkspaceID: r.WorkspaceID, Event: r.Event,
		Channels: r.Channels, Board: r.Board, Product: r.Product, MinAmount: r.MinAmount, Currency: r.Currency,
		HighPriority: r.HighPriority, EmailTo: strings.Join(r.EmailTo, ","), SMSTo: strings.Join(r.SMSTo, ",")})
	if err != nil {
		return nil, err
	}
	added := ruleOf(row)
	return &added, nil
}

// Remove deletes a rule.
func (s *Rules) Remove(ctx context.Context, id string) error {
	return notifydb.DeleteRule(ctx, s.DB, id)
}

// Init stores the default rules as the workspace's own, to edit from there.
// It refuses when the workspace already has rules.
func (s *Rules) Init(ctx context.Context, workspace string) ([]Rule, error) {
	rs, err := s.List(ctx, workspace)
	if err != nil {
		return nil, err
	}
	if len(rs) > 0 {
		return nil, fmt.Errorf("workspace %q already has %d notification rules", workspace, len(rs))
	}
	var out []Rule
	for _, d := range DefaultRules() {
		d.ID, d.Default, d.WorkspaceID = "", false, workspace
		r, err := s.Add(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// ruleCache keeps each workspace's effective rules for a few seconds.
type ruleCache struct {
	rules *Rules
	ttl   time.Duration
	mu    sync.Mutex
	m     map[string]cachedRules
}

type cachedRules struct {
	rs []Rule
	at time.Time
}

func (c *ruleCache) get(ctx context.Context, ws string) ([]Rule, error) {
	c.mu.Lock()
	e, ok := c.m[ws]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.rs, nil
	}
	rs, err := c.rules.Effective(ctx, ws)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedRules{}
	}
	c.m[ws] = cachedRules{rs, time.Now()}
	c.mu.Unlock()
	return rs, nil
}
