// Package payments holds the payments projection's queries: stripe_events,
// payments, disputes, invoices, subscriptions and stripe_payment_methods,
// and the lookups of leads and contacts that link a Stripe object to them.
package payments

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// StripeEvent is a stripe_events row: one Stripe event, applied once.
type StripeEvent struct {
	ID, Type, WorkspaceID, APIVersion string
	Livemode                          bool
	ObjectID                          string
	Handled                           bool
	StripeCreated                     time.Time
	SourceEventID                     string
	StreamSeq                         int64
}

// InsertStripeEvent records a Stripe event; it reports false when the event
// was already recorded (the same Stripe event under another message id).
func InsertStripeEvent(ctx context.Context, db dbtx.DB, e *StripeEvent) (bool, error) {
	tag, err := db.Exec(ctx, `INSERT INTO stripe_events (id, type, workspace_id, api_version, livemode, object_id,
		handled, stripe_created, source_event_id, stream_seq) VALUES ($1,$2,$3,NULLIF($4,''),$5,NULLIF($6,''),$7,$8,$9,$10)
		ON CONFLICT (id) DO NOTHING`, e.ID, e.Type, e.WorkspaceID, e.APIVersion, e.Livemode, e.ObjectID,
		e.Handled, e.StripeCreated, e.SourceEventID, e.StreamSeq)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// Link is who a Stripe object belongs to; empty fields are unknown.
type Link struct {
	LeadID, ContactID, Email string
}

// LeadByRef finds the newest lead of the workspace whose id,
// external_lead_id or submission_id is ref (its own id first), with its
// contact and the contact's e-mail. ok is false when no lead matches.
func LeadByRef(ctx context.Context, db dbtx.DB, workspace, ref string) (l Link, ok bool, err error) {
	var email *string
	err = db.QueryRow(ctx, `SELECT l.id, l.contact_id, c.email FROM leads l JOIN contacts c ON c.id = l.contact_id
		WHERE l.workspace_id=$1 AND (l.id=$2 OR l.external_lead_id=$2 OR l.submission_id=$2)
		ORDER BY (l.id=$2) DESC, l.created_at DESC LIMIT 1`, workspace, ref).Scan(&l.LeadID, &l.ContactID, &email)
	if errors.Is(err, pgx.ErrNoRows) {
		return Link{}, false, nil
	}
	if err != nil {
		return Link{}, false, err
	}
	if email != nil {
		l.Email = *email
	}
	return l, true, nil
}

// ContactByEmail is the id of the workspace's (not erased) contact with
// this e-mail, "" when there is none.
func ContactByEmail(ctx context.Context, db dbtx.DB, workspace, email string) (string, error) {
	var id string
	err := db.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id=$1 AND email=$2 AND erased_at IS NULL`,
		workspace, email).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// PaymentLink is the link of a PaymentIntent's payments row; ok is false
// when the payment is not projected.
func PaymentLink(ctx context.Context, db dbtx.DB, transactionID string) (l Link, ok bool, err error) {
	var lead, contact, email *string
	err = db.QueryRow(ctx, `SELECT lead_id, contact_id, email FROM payments WHERE transaction_id=$1`, transactionID).
		Scan(&lead, &contact, &email)
	if errors.Is(err, pgx.ErrNoRows) {
		return Link{}, false, nil
	}
	if err != nil {
		return Link{}, false, err
	}
	return Link{LeadID: deref(lead), ContactID: deref(contact), Email: deref(email)}, true, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// PaymentMethodType is the cached type of a Stripe PaymentMethod, "" when
// it is not cached.
func PaymentMethodType(ctx context.Context, db dbtx.DB, id string) (string, error) {
	var typ string
	err := db.QueryRow(ctx, `SELECT type FROM stripe_payment_methods WHERE id=$1`, id).Scan(&typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return typ, err
}

// SavePaymentMethodType caches a PaymentMethod's type.
func SavePaymentMethodType(ctx context.Context, db dbtx.DB, id, typ string) error {
	_, err := db.Exec(ctx, `INSERT INTO stripe_payment_methods (id, type) VALUES ($1,$2)
		ON CONFLICT (id) DO UPDATE SET type=EXCLUDED.type, fetched_at=now()`, id, typ)
	return err
}
