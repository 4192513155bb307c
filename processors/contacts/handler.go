package contacts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookstream/hookstream/lead"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	contactsdb "github.com/hookstream/hookstream/projections/contacts"
	"github.com/hookstream/hookstream/projections/ledger"
	"github.com/hookstream/hookstream/streams"
)

type handler struct {
	store    *processors.Store
	cfg      Config
	mappings *mappingCache
	weights  *weightsCache
}

// Result is the answer ?wait returns, in the original system's shape.
type Result struct {
	Success        bool              `json:"success"`
	Message        string            `json:"message"`
	ContactID      string            `json:"contact_id,omitempty"`
	LeadID         string            `json:"lead_id,omitempty"`
	WebhookID      string            `json:"webhook_id,omitempty"`
	RuleApplied    bool              `json:"rule_applied"`
	MatchType      string            `json:"match_type,omitempty"`
	IsNewContact   bool              `json:"is_new_contact"`
	Score          int               `json:"score"`
	ProcessingTime string            `json:"processing_time"`
	RequestID      string            `json:"request_id,omitempty"`
	EventID        string            `json:"event_id"`
	Conflicts      []string          `json:"conflicts,omitempty"`
	Errors         []lead.FieldError `json:"errors,omitempty"`
}

func (h *handler) handle(ctx context.Context, m *processors.Message) error {
	start := time.Now()
	c, _ := m.Scratch.(*candidate)
	var pe *lead.ParseError
	if c == nil || (c.parseErr != nil && !errors.As(c.parseErr, &pe)) {
		if m.Header.Get(streams.HdrSource) == streams.SourceFacebook {
			// The Graph API is called outside the transaction.
			vals, err := h.fetchFacebook(ctx, m)
			if err != nil {
				return err // rejections (deleted lead) are dead-lettered by the runner
			}
			c = &candidate{source: streams.SourceFacebook, steps: map[string]float64{"fetch_ms": ms(time.Since(start))}}
			t := time.Now()
			c.normalize(lead.Apply(vals, nil), h.cfg.DefaultRegion)
			c.steps["validation_ms"] = ms(time.Since(t))
		} else {
			c = h.extract(ctx, m)
		}
	}
	if c.parseErr != nil {
		if errors.As(c.parseErr, &pe) {
			return h.reject(ctx, m, c.parseErr.Error(), nil, start)
		}
		return c.parseErr // e.g. database unavailable: retry
	}
	if len(c.invalid) > 0 && !salvageable(c) {
		return h.reject(ctx, m, "invalid contact data", c.invalid, start)
	}
	w, err := h.weights.get(ctx, m.Workspace)
	if err != nil {
		return err
	}
	return h.applyOne(ctx, &item{m: m, c: c, w: w, start: start})
}

// eventTimes are when the gateway received the event and the time its
// values are from (the sender's timestamp, else receipt). An event without
// a receipt time (published by hand) counts as received when the stream
// stored it: never the clock, which a rebuild would not reproduce.
func (h *handler) eventTimes(m *processors.Message, c *candidate) (received, at time.Time) {
	received = m.Received
	if received.IsZero() {
		received = m.Published.UTC()
	}
	at = c.fields.SourceTime
	if at.IsZero() {
		at = received
	}
	return received, at
}

// outputs are what applying one event announces: the contact event, the
// lead event and the ?wait answer.
type outputs struct {
	subject string // events.contact.created or .updated
	changed events.ContactChanged
	lead    events.Lead
	result  Result
}

func (h *handler) outputs(it *item, ct *contact, l contactsdb.Lead, conflicts []string) outputs {
	m, f := it.m, it.c.fields
	origin := events.Origin{SourceEventID: m.EventID, Source: it.c.source, WebhookID: m.WebhookID,
		FormType: it.c.formType, ReceivedAt: l.CreatedAt}
	ec := eventContact(ct)
	changed := events.ContactChanged{Origin: origin, Contact: ec, MatchType: l.MatchType,
		IsNewContact: l.IsNewContact, LeadID: l.ID, UTMSource: f.UTM["utm_source"],
		UTMMedium: f.UTM["utm_medium"], UTMCampaign: f.UTM["utm_campaign"], LeadScore: l.Score}
	subject := streams.SubjectContactUpdated
	if l.IsNewContact {
		subject = streams.SubjectContactCreated
	}
	ld := events.Lead{Origin: origin, LeadID: l.ID, ExternalLeadID: f.LeadID,
		SubmissionID: f.SubmissionID, Contact: ec, IsNewContact: l.IsNewContact, MatchType: l.MatchType,
		LeadStatus: f.LeadStatus, ProductInterest: f.Product, ServiceInterest: f.ServiceInterest,
		Message: f.Message, MarketingConsent: f.MarketingConsent, UTM: f.UTM,
		PageURL: f.PageURL, Referrer: f.Referrer, Score: l.Score, CreatedAt: l.CreatedAt}
	res := Result{Success: true, Message: message(l.MatchType, l.IsNewContact), ContactID: ct.ID, LeadID: l.ID,
		WebhookID: m.WebhookID, MatchType: l.MatchType, IsNewContact: l.IsNewContact, Score: l.Score,
		ProcessingTime: processingTime(h.cfg.Now(), l.CreatedAt, it.start), RequestID: m.Header.Get(streams.HdrRequestID),
		EventID: m.EventID, Conflicts: conflicts}
	return outputs{subject: subject, changed: changed, lead: ld, result: res}
}

// salvageable: a Facebook lead cannot be sent again, so one with a usable
// e-mail or phone is kept even when another field is invalid (Normalize has
// already cleared the invalid ones). Other senders get a 400 at the gateway
// and can correct and resend.
func salvageable(c *candidate) bool {
	return c.source == streams.SourceFacebook && (c.fields.Email != "" || c.fields.Phone != "")
}

func message(matchType string, isNew bool) string {
	if isNew {
		return "New contact created"
	}
	return "Contact updated via " + matchType + " match"
}

// processingTime is measured from the request's arrival at the gateway to
// the commit, the way a sender experiences it.
func processingTime(now, received, start time.Time) string {
	d := now.Sub(received)
	if d < 0 || d > time.Hour { // replayed or skewed clocks: report our own work
		d = now.Sub(start)
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// reject records the answer for ?wait and dead-letters the event as invalid:
// an operator can fix the mapping and retry it from the DLQ.
func (h *handler) reject(ctx context.Context, m *processors.Message, msg string, ferrs []lead.FieldError, start time.Time) error {
	// An event applied before (a sender retry, a redelivery after the
	// webhook's mapping changed) stays applied: no rejection, no DLQ.
	if done, err := processors.Processed(ctx, h.store.DB, Name, m.EventID); err != nil {
		return err
	} else if done {
		return processors.ErrAlreadyProcessed
	}
	res := Result{Success: false, Message: msg, WebhookID: m.WebhookID, EventID: m.EventID,
		ProcessingTime: processingTime(h.cfg.Now(), m.Received, start), RequestID: m.Header.Get(streams.HdrRequestID), Errors: ferrs}
	b, err := jsonMarshal(res)
	if err != nil {
		return err
	}
	// The answer is stored before the dead letter, so ?wait reports the
	// field errors; a failed write is retried with the delivery.
	if err := ledger.PutResult(ctx, h.store.DB, m.EventID, Name, b); err != nil {
		return err
	}
	h.store.AnnounceResult(m.EventID, Name, b)
	m.SetOutcome("", map[string]any{"result": res})
	var parts []string
	for _, f := range ferrs {
		parts = append(parts, f.Field+": "+f.Code)
	}
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, ", ") + ")"
	}
	return processors.Reject(errors.New(msg))
}
