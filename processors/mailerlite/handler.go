package mailerlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	mailerlitedb "github.com/hookstream/hookstream/projections/mailerlite"
	"github.com/hookstream/hookstream/streams"
)

// Kinds of mailerlite_syncs rows.
const (
	KindSubscribe     = "subscribe"      // POST /subscribers for a consenting contact
	KindCustomerGroup = "customer_group" // onboarding group on a successful payment
)

// defaultWorkspace owns events that carry none (the gateway's default).
const defaultWorkspace = "default"

type handler struct {
	store *processors.Store
	cfg   Config
	api   *Client
}

func skip(m *processors.Message, reason string, kv ...string) error {
	d := map[string]string{"reason": reason}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	m.SetOutcome(processors.StatusSkipped, d)
	return nil
}

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func workspaceOf(m *processors.Message, fallback string) string {
	switch {
	case m.Workspace != "":
		return m.Workspace
	case fallback != "":
		return fallback
	}
	return defaultWorkspace
}

func eventTime(at time.Time, m *processors.Message, now func() time.Time) time.Time {
	switch {
	case !at.IsZero():
		return at.UTC()
	case !m.Received.IsZero():
		return m.Received.UTC()
	}
	return now().UTC()
}

// orderKeys handles one person's events one at a time, in stream order, so
// a payment sees the subscriber its contact event created.
func (h *handler) orderKeys(m *processors.Message) []string {
	var v struct {
		Contact struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		} `json:"contact"`
		ContactID string `json:"contact_id"`
		Email     string `json:"email"`
	}
	if json.Unmarshal(m.Data, &v) != nil {
		return nil
	}
	var keys []string
	for _, id := range []string{v.Contact.ID, v.ContactID} {
		if id != "" {
			keys = append(keys, "ct:"+id)
		}
	}
	for _, e := range []string{v.Contact.Email, v.Email} {
		if e = normEmail(e); e != "" {
			keys = append(keys, "em:"+e)
		}
	}
	return keys
}

func (h *handler) handleEvent(ctx context.Context, m *processors.Message) error {
	switch m.Subject {
	case streams.SubjectContactCreated, streams.SubjectContactUpdated:
		return h.handleContact(ctx, m)
	case streams.SubjectPaymentSucceeded:
		return h.handlePayment(ctx, m)
	}
	m.SetOutcome(processors.StatusUnhandled, map[string]string{"subject": m.Subject})
	return nil
}

// consents reports whether a contact event carries marketing consent: the
// contact's consent, or a newsletter signup (consent by itself).
func consents(ev *events.ContactChanged) bool {
	if strings.EqualFold(ev.FormType, NewsletterForm) {
		return true
	}
	return ev.Contact.MarketingConsent != nil && *ev.Contact.MarketingConsent
}

func subscriberFields(c *events.Contact) map[string]string {
	f := map[string]string{}
	for k, v := range map[string]string{"name": c.FirstName, "last_name": c.LastName, "phone": c.Phone, "company": c.Company} {
		if v = strings.TrimSpace(v); v != "" {
			f[k] = v
		}
	}
	if len(f) == 0 {
		return nil
	}
	return f
}

func requestHash(r *SubscriberRequest) string {
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func (h *handler) groups(extra ...string) []string {
	var gs []string
	for _, g := range append([]string{h.cfg.GroupID}, extra...) {
		if g != "" && !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	return gs
}

func (h *handler) handleContact(ctx context.Context, m *processors.Message) error {
	var ev events.ContactChanged
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		return processors.Reject(fmt.Errorf("contact event: %w", err))
	}
	if ev.Contact.ID == "" {
		return processors.Reject(errors.New("contact event without contact id"))
	}
	if !h.cfg.Configured() {
		return skip(m, "MailerLite not configured (MAILERLITE_API_KEY)")
	}
	email := normEmail(ev.Contact.Email)
	if email == "" {
		return skip(m, "contact has no e-mail address")
	}
	if !consents(&ev) {
		return skip(m, "no marketing consent")
	}
	if done, err := h.synced(ctx, m.EventID); err != nil || done {
		if err != nil {
			return err
		}
		return skip(m, "already synced")
	}
	ws := workspaceOf(m, ev.Contact.WorkspaceID)
	at := eventTime(ev.ReceivedAt, m, h.cfg.Now)
	sub, err := h.subscriber(ctx, ws, email)
	if err != nil {
		return err
	}
	if sub != nil && withdrawn(sub) && !sub.StatusAt.Before(at) {
		// The consent this event carries is older than the unsubscribe.
		return skip(m, "subscriber "+sub.Status+" in MailerLite after this event", "status", sub.Status)
	}
	req := &SubscriberRequest{Email: email, Fields: subscriberFields(&ev.Contact), Groups: h.groups(), Status: h.cfg.SubscriberStatus}
	hash := requestHash(req)
	if sub != nil && sub.ID != "" && sub.Status == StatusActive && sub.RequestHash == hash {
		return skip(m, "subscriber unchanged since the last sync", "subscriber_id", sub.ID)
	}
	res, err := h.api.Upsert(ctx, req)
	if err != nil {
		return err
	}
	return h.record(ctx, m, mailerlitedb.Sync{Kind: KindSubscribe, WorkspaceID: ws, Email: email, SubscriberID: res.ID,
		Groups: req.Groups, HTTPStatus: res.HTTPStatus}, mailerlitedb.SubscriberUpdate{Status: orDefault(res.Status, req.Status),
		StatusAt: at, Groups: union(req.Groups, res.Groups), RequestHash: hash})
}

func (h *handler) handlePayment(ctx context.Context, m *processors.Message) error {
	var pm events.Payment
	if err := json.Unmarshal(m.Data, &pm); err != nil {
		return processors.Reject(fmt.Errorf("payment event: %w", err))
	}
	if !h.cfg.Configured() {
		return skip(m, "MailerLite not configured (MAILERLITE_API_KEY)")
	}
	if h.cfg.CustomerGroupID == "" {
		return skip(m, "no onboarding group configured (MAILERLITE_CUSTOMER_GROUP_ID)")
	}
	if done, err := h.synced(ctx, m.EventID); err != nil || done {
		if err != nil {
			return err
		}
		return skip(m, "already synced")
	}
	ws := workspaceOf(m, pm.WorkspaceID)
	ct, err := h.contact(ctx, ws, pm.ContactID, normEmail(pm.Email))
	if err != nil {
		return err
	}
	email := normEmail(pm.Email)
	if ct != nil && ct.Email != "" {
		email = normEmail(ct.Email)
	}
	if email == "" {
		return skip(m, "customer has no e-mail address")
	}
	sub, err := h.subscriber(ctx, ws, email)
	if err != nil {
		return err
	}
	if sub != nil && withdrawn(sub) {
		return skip(m, "subscriber "+sub.Status+" in MailerLite", "status", sub.Status)
	}
	consent := ct != nil && ct.MarketingConsent != nil && *ct.MarketingConsent
	if !consent && (sub == nil || sub.Status != StatusActive) {
		return skip(m, "no marketing consent")
	}
	if sub != nil && slices.Contains(sub.Groups, h.cfg.CustomerGroupID) {
		return skip(m, "already in the onboarding group", "subscriber_id", sub.ID)
	}
	at := eventTime(pm.ReceivedAt, m, h.cfg.Now)
	if sub != nil && sub.ID != "" {
		status, err := h.api.AddToGroup(ctx, sub.ID, h.cfg.CustomerGroupID)
		switch {
		case err == nil:
			return h.record(ctx, m, mailerlitedb.Sync{Kind: KindCustomerGroup, WorkspaceID: ws, Email: email, SubscriberID: sub.ID,
				Groups: []string{h.cfg.CustomerGroupID}, HTTPStatus: status},
				mailerlitedb.SubscriberUpdate{Status: sub.Status, StatusAt: sub.StatusAt, Groups: []string{h.cfg.CustomerGroupID}})
		case !IsNotFound(err):
			return err
		}
		// Deleted in MailerLite since: upsert it again below.
	}
	req := &SubscriberRequest{Email: email, Groups: h.groups(h.cfg.CustomerGroupID), Status: h.cfg.SubscriberStatus}
	if ct != nil {
		req.Fields = subscriberFields(&ct.Contact)
	}
	res, err := h.api.Upsert(ctx, req)
	if err != nil {
		return err
	}
	return h.record(ctx, m, mailerlitedb.Sync{Kind: KindCustomerGroup, WorkspaceID: ws, Email: email, SubscriberID: res.ID,
		Groups: req.Groups, HTTPStatus: res.HTTPStatus}, mailerlitedb.SubscriberUpdate{Status: orDefault(res.Status, req.Status),
		StatusAt: at, Groups: union(req.Groups, res.Groups), RequestHash: requestHash(req)})
}

func (h *handler) handleWebhook(ctx context.Context, m *processors.Message) error {
	evs, err := ParseWebhook(m.Data, streams.SubjectTail(m.Subject, streams.SubjectIngestMailerLite))
	if err != nil {
		return processors.Reject(err)
	}
	ws := workspaceOf(m, "")
	var withdrawn []Inbound
	var other []string
	// The status takes the time the gateway received the webhook, the clock
	// contact events are compared on (MailerLite's own timestamps come from
	// another clock and arrive up to a minute late in batches).
	at := eventTime(time.Time{}, m, h.cfg.Now)
	for _, e := range evs {
		if e.Status() != "" && e.Email != "" {
			withdrawn = append(withdrawn, e)
		} else {
			other = append(other, e.Type)
		}
	}
	if len(withdrawn) == 0 {
		m.SetOutcome(processors.StatusUnhandled, map[string]any{"types": other})
		return nil
	}
	var contacts int64
	err = h.store.Apply(ctx, Name, m, func(ctx context.Context, tx *processors.Tx) error {
		contacts = 0
		for _, e := range withdrawn {
			n, err := withdrawConsent(ctx, tx, ws, e, at)
			if err != nil {
				return err
			}
			contacts += n
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.SetOutcome("", map[string]any{"withdrawn": len(withdrawn), "contacts_updated": contacts, "ignored_types": other})
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, g := range b {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}
