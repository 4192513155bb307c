// Package mailerlite holds the MailerLite projection's queries:
// mailerlite_subscribers (what MailerLite knows of an address),
// mailerlite_syncs (the ledger of API calls made) and the consent it
// withdraws on contacts.
package mailerlite

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// Subscriber is a mailerlite_subscribers row.
type Subscriber struct {
	ID, Status, RequestHash string
	Groups                  []string
	StatusAt                time.Time // zero when unknown
}

// SubscriberOf reads the workspace's subscriber of an address; nil when
// there is none.
func SubscriberOf(ctx context.Context, db dbtx.DB, workspace, email string) (*Subscriber, error) {
	var s Subscriber
	var statusAt *time.Time
	err := db.QueryRow(ctx, `SELECT COALESCE(subscriber_id,''), status, COALESCE(request_hash,''), groups, status_at
		FROM mailerlite_subscribers WHERE workspace_id=$1 AND email=$2`, workspace, email).
		Scan(&s.ID, &s.Status, &s.RequestHash, &s.Groups, &statusAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if statusAt != nil {
		s.StatusAt = *statusAt
	}
	return &s, nil
}

// Synced reports whether an API call was already made for this event.
func Synced(ctx context.Context, db dbtx.DB, eventID string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mailerlite_syncs WHERE event_id=$1)`, eventID).Scan(&ok)
	return ok, err
}

// Contact is what MailerLite is told of a contact (a contacts row).
type Contact struct {
	ID, WorkspaceID, Email, Phone, FirstName, LastName, Company string
	MarketingConsent                                            *bool
}

// ContactOf finds a contact that is not erased by id, else by e-mail in the
// workspace; nil when there is none.
func ContactOf(ctx context.Context, db dbtx.DB, workspace, id, email string) (*Contact, error) {
	var c Contact
	err := db.QueryRow(ctx, `SELECT id, workspace_id, COALESCE(email,''), COALESCE(phone,''),
			COALESCE(first_name,''), COALESCE(last_name,''), COALESCE(company,''), marketing_consent
		FROM contacts
		WHERE ((id=$2 AND $2<>'') OR ($3<>'' AND workspace_id=$1 AND email=$3)) AND erased_at IS NULL
		ORDER BY (id=$2) DESC LIMIT 1`, workspace, id, email).
		Scan(&c.ID, &c.WorkspaceID, &c.Email, &c.Phone, &c.FirstName, &c.LastName, &c.Company, &c.MarketingConsent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Sync is a mailerlite_syncs row: one API call made for an event.
type Sync struct {
	EventID, SourceEventID, Kind, WorkspaceID, Email, SubscriberID string
	Groups                                                         []string
	HTTPStatus                                                     int
	SyncedAt                                                       time.Time
}

// SubscriberUpdate is what a successful call tells about the subscriber.
type SubscriberUpdate struct {
	Status      string
	StatusAt    time.Time // zero keeps the stored one
	Groups      []string  // joined (added to the known ones)
	RequestHash string    // "" keeps the stored one
}

// RecordSync records a call (once per event) and what it told about the
// subscriber.
func RecordSync(ctx context.Context, db dbtx.DB, s *Sync, u *SubscriberUpdate) error {
	if _, err := db.Exec(ctx, `INSERT INTO mailerlite_syncs (event_id, source_event_id, kind, workspace_id, email,
			subscriber_id, group_ids, http_status, synced_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (event_id) DO NOTHING`,
		s.EventID, s.SourceEventID, s.Kind, s.WorkspaceID, s.Email, s.SubscriberID, nonNil(s.Groups),
		s.HTTPStatus, s.SyncedAt); err != nil {
		return err
	}
	var statusAt any
	if !u.StatusAt.IsZero() {
		statusAt = u.StatusAt
	}
	_, err := db.Exec(ctx, `INSERT INTO mailerlite_subscribers (workspace_id, email, subscriber_id, groups, status,
			status_at, request_hash, synced_at)
		VALUES ($1,$2,NULLIF($3,''),$4,$5,$6,NULLIF($7,''),$8)
		ON CONFLICT (workspace_id, email) DO UPDATE SET
			subscriber_id = COALESCE(EXCLUDED.subscriber_id, mailerlite_subscribers.subscriber_id),
			groups = ARRAY(SELECT DISTINCT g FROM unnest(mailerlite_subscribers.groups || EXCLUDED.groups) g ORDER BY g),
			status = EXCLUDED.status,
			status_at = COALESCE(EXCLUDED.status_at, mailerlite_subscribers.status_at),
			request_hash = COALESCE(EXCLUDED.request_hash, mailerlite_subscribers.request_hash),
			synced_at = EXCLUDED.synced_at,
			updated_at = now()`,
		s.WorkspaceID, s.Email, s.SubscriberID, nonNil(u.Groups), u.Status, statusAt, u.RequestHash, s.SyncedAt)
	return err
}

// WithdrawConsent applies an unsubscribe, bounce or spam report: the
// workspace's contacts with this address lose their marketing consent, and
// the subscriber's status becomes status unless a newer one is on file. It
// returns how many contacts changed.
//
// marketing_consent lives on contacts; MailerLite writes it only to
// withdraw consent, the one thing it knows better than the forms.
func WithdrawConsent(ctx context.Context, db dbtx.DB, workspace, email, subscriberID, status string, at time.Time) (int64, error) {
	tag, err := db.Exec(ctx, `UPDATE contacts SET marketing_consent=false, updated_at=now()
		WHERE workspace_id=$1 AND email=$2 AND marketing_consent IS DISTINCT FROM false`, workspace, email)
	if err != nil {
		return 0, err
	}
	_, err = db.Exec(ctx, `INSERT INTO mailerlite_subscribers (workspace_id, email, subscriber_id, status, status_at)
		VALUES ($1,$2,NULLIF($3,''),$4,$5)
		ON CONFLICT (workspace_id, email) DO UPDATE SET
			subscriber_id = COALESCE(EXCLUDED.subscriber_id, mailerlite_subscribers.subscriber_id),
			status = EXCLUDED.status, status_at = EXCLUDED.status_at, updated_at = now()
		WHERE mailerlite_subscribers.status_at IS NULL OR mailerlite_subscribers.status_at <= EXCLUDED.status_at`,
		workspace, email, subscriberID, status, at)
	return tag.RowsAffected(), err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
