package mailerlite

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
)

// subRow is a mailerlite_subscribers row.
type subRow struct {
	id, status, requestHash string
	groups                  []string
	statusAt                time.Time
}

// withdrawn: MailerLite says this address must not get marketing.
func (s *subRow) withdrawn() bool {
	return s.status == StatusUnsubscribed || s.status == StatusBounced || s.status == StatusJunk
}

func (h *handler) subscriber(ctx context.Context, ws, email string) (*subRow, error) {
	var s subRow
	var statusAt *time.Time
	err := h.store.DB.QueryRow(ctx, `SELECT COALESCE(subscriber_id,''), status, COALESCE(request_hash,''), groups, status_at
		FROM mailerlite_subscribers WHERE workspace_id=$1 AND email=$2`, ws, email).
		Scan(&s.id, &s.status, &s.requestHash, &s.groups, &statusAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if statusAt != nil {
		s.statusAt = *statusAt
	}
	return &s, nil
}

// synced reports whether an API call was already made for this event.
func (h *handler) synced(ctx context.Context, eventID string) (bool, error) {
	var ok bool
	err := h.store.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mailerlite_syncs WHERE event_id=$1)`, eventID).Scan(&ok)
	return ok, err
}

type contactRow struct {
	events.Contact
}

// contact finds the paying contact by id, else by e-mail in the workspace.
func (h *handler) contact(ctx context.Context, ws, id, email string) (*contactRow, error) {
	if id == "" && email == "" {
		return nil, nil
	}
	var c contactRow
	err := h.store.DB.QueryRow(ctx, `SELECT id, workspace_id, COALESCE(email,''), COALESCE(phone,''),
			COALESCE(first_name,''), COALESCE(last_name,''), COALESCE(company,''), marketing_consent
		FROM contacts
		WHERE ((id=$2 AND $2<>'') OR ($3<>'' AND workspace_id=$1 AND email=$3)) AND erased_at IS NULL
		ORDER BY (id=$2) DESC LIMIT 1`, ws, id, email).
		Scan(&c.ID, &c.WorkspaceID, &c.Email, &c.Phone, &c.FirstName, &c.LastName, &c.Company, &c.MarketingConsent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// syncRow is a mailerlite_syncs row: one API call made for a source event.
type syncRow struct {
	kind, workspace, email, subscriberID string
	groups                               []string
	httpStatus                           int
}

// subUpdate is what a successful call tells about the subscriber.
type subUpdate struct {
	status      string
	statusAt    time.Time
	groups      []string // joined (added to the known ones)
	requestHash string   // "" keeps the stored one
}

// record commits the sync record and the subscriber projection with the
// processed-ledger row.
func (h *handler) record(ctx context.Context, m *processors.Message, s syncRow, u subUpdate) error {
	now := h.cfg.Now().UTC()
	err := h.store.Apply(ctx, Name, m, func(ctx context.Context, tx *processors.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO mailerlite_syncs (event_id, source_event_id, kind, workspace_id, email,
				subscriber_id, group_ids, http_status, synced_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (event_id) DO NOTHING`,
			m.EventID, processors.SourceEventID(m), s.kind, s.workspace, s.email, s.subscriberID, nonNil(s.groups),
			s.httpStatus, now); err != nil {
			return err
		}
		var statusAt any
		if !u.statusAt.IsZero() {
			statusAt = u.statusAt
		}
		_, err := tx.Exec(ctx, `INSERT INTO mailerlite_subscribers (workspace_id, email, subscriber_id, groups, status,
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
			s.workspace, s.email, s.subscriberID, nonNil(u.groups), u.status, statusAt, u.requestHash, now)
		return err
	})
	if err != nil {
		return err
	}
	m.SetOutcome("", map[string]any{"kind": s.kind, "subscriber_id": s.subscriberID, "groups": s.groups, "http_status": s.httpStatus})
	return nil
}

// withdrawConsent applies one unsubscribe/bounce/spam report: the contact's
// marketing consent becomes false and the subscriber's status is recorded
// (unless a newer status is already on file). It returns how many contacts
// changed.
func withdrawConsent(ctx context.Context, tx *processors.Tx, ws string, e Inbound, at time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE contacts SET marketing_consent=false, updated_at=now()
		WHERE workspace_id=$1 AND email=$2 AND marketing_consent IS DISTINCT FROM false`, ws, e.Email)
	if err != nil {
		return 0, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO mailerlite_subscribers (workspace_id, email, subscriber_id, status, status_at)
		VALUES ($1,$2,NULLIF($3,''),$4,$5)
		ON CONFLICT (workspace_id, email) DO UPDATE SET
			subscriber_id = COALESCE(EXCLUDED.subscriber_id, mailerlite_subscribers.subscriber_id),
			status = EXCLUDED.status, status_at = EXCLUDED.status_at, updated_at = now()
		WHERE mailerlite_subscribers.status_at IS NULL OR mailerlite_subscribers.status_at <= EXCLUDED.status_at`,
		ws, e.Email, e.SubscriberID, e.Status(), at)
	return tag.RowsAffected(), err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
