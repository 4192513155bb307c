package mailerlite

import (
	"context"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	mailerlitedb "github.com/hookstream/hookstream/projections/mailerlite"
)

// withdrawn: MailerLite says this address must not get marketing.
func withdrawn(s *mailerlitedb.Subscriber) bool {
	return s.Status == StatusUnsubscribed || s.Status == StatusBounced || s.Status == StatusJunk
}

func (h *handler) subscriber(ctx context.Context, ws, email string) (*mailerlitedb.Subscriber, error) {
	return mailerlitedb.SubscriberOf(ctx, h.store.DB, ws, email)
}

// synced reports whether an API call was already made for this event.
func (h *handler) synced(ctx context.Context, eventID string) (bool, error) {
	return mailerlitedb.Synced(ctx, h.store.DB, eventID)
}

type contactRow struct {
	events.Contact
}

// contact finds the paying contact by id, else by e-mail in the workspace.
func (h *handler) contact(ctx context.Context, ws, id, email string) (*contactRow, error) {
	if id == "" && email == "" {
		return nil, nil
	}
	c, err := mailerlitedb.ContactOf(ctx, h.store.DB, ws, id, email)
	if c == nil || err != nil {
		return nil, err
	}
	return &contactRow{events.Contact{ID: c.ID, WorkspaceID: c.WorkspaceID, Email: c.Email, Phone: c.Phone,
		FirstName: c.FirstName, LastName: c.LastName, Company: c.Company, MarketingConsent: c.MarketingConsent}}, nil
}

// record commits the sync record (s: the call made for m) and the
// subscriber projection (u) with the processed-ledger row.
func (h *handler) record(ctx context.Context, m *processors.Message, s mailerlitedb.Sync, u mailerlitedb.SubscriberUpdate) error {
	s.EventID, s.SourceEventID, s.SyncedAt = m.EventID, processors.SourceEventID(m), h.cfg.Now().UTC()
	err := h.store.Apply(ctx, Name, m, func(ctx context.Context, tx *processors.Tx) error {
		return mailerlitedb.RecordSync(ctx, tx, &s, &u)
	})
	if err != nil {
		return err
	}
	m.SetOutcome("", map[string]any{"kind": s.Kind, "subscriber_id": s.SubscriberID, "groups": s.Groups, "http_status": s.HTTPStatus})
	return nil
}

// withdrawConsent applies one unsubscribe/bounce/spam report: the contact's
// marketing consent becomes false and the subscriber's status is recorded
// (unless a newer status is already on file). It returns how many contacts
// changed.
func withdrawConsent(ctx context.Context, tx *processors.Tx, ws string, e Inbound, at time.Time) (int64, error) {
	return mailerlitedb.WithdrawConsent(ctx, tx, ws, e.Email, e.SubscriberID, e.Status(), at)
}
