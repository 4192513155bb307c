// Package crm holds the CRM projection's queries: crm_sync, the ledger of
// calls made to the CRM.
package crm

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// LeadSync is the state of a lead's sync: Status "" when the lead was never
// sent; LastStatus is the HTTP status of the last answer, if any.
type LeadSync struct {
	Status     string
	LastStatus *int
}

// LeadSyncOf is the most telling sync of a lead: a synced one, else the
// latest.
func LeadSyncOf(ctx context.Context, db dbtx.DB, leadID string) (LeadSync, error) {
	var s LeadSync
	err := db.QueryRow(ctx, `SELECT status, last_status FROM crm_sync WHERE kind='lead' AND lead_id=$1
		ORDER BY (status='synced') DESC, id DESC LIMIT 1`, leadID).Scan(&s.Status, &s.LastStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return LeadSync{}, nil
	}
	return s, err
}

// LeadProjected reports whether the contacts projection has the lead.
func LeadProjected(ctx context.Context, db dbtx.DB, leadID string) (bool, error) {
	var known bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM leads WHERE id=$1)`, leadID).Scan(&known)
	return known, err
}

// Sync is one crm_sync row: the calls made for one source event and kind.
type Sync struct {
	Kind, SourceEventID, WorkspaceID, LeadID, ContactID, TransactionID string
	RemoteID                                                           string
	Status                                                             string // synced | failed
	Attempts                                                           int
	LastStatus                                                         *int
	LastError                                                          string
}

// SyncOf reads the sync of a call; ok is false when none was made.
func SyncOf(ctx context.Context, db dbtx.DB, kind, sourceEventID string) (s Sync, ok bool, err error) {
	s.Kind, s.SourceEventID = kind, sourceEventID
	err = db.QueryRow(ctx, `SELECT status, COALESCE(remote_id,''), attempts FROM crm_sync
		WHERE kind=$1 AND source_event_id=$2`, kind, sourceEventID).Scan(&s.Status, &s.RemoteID, &s.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil
	}
	return s, err == nil, err
}

// RecordAttempt records one call's answer (s.Status "synced": synced now;
// else LastError says why) and returns the call's attempts so far. A
// remote id already on file is kept when the answer has none.
func RecordAttempt(ctx context.Context, db dbtx.DB, s *Sync) (attempts int, err error) {
	syncedAt, lastErr := "now()", any(nil)
	if s.Status != "synced" {
		syncedAt, lastErr = "NULL", s.LastError
	}
	err = db.QueryRow(ctx, `INSERT INTO crm_sync (kind, source_event_id, workspace_id, lead_id, contact_id,
		transaction_id, remote_id, status, attempts, last_status, last_error, synced_at)
		VALUES ($1,$2,NULLIF($3,''),NULLIF($4,''),NULLIF($5,''),NULLIF($6,''),NULLIF($7,''),$8,1,$9,$10,`+syncedAt+`)
		ON CONFLICT (kind, source_event_id) DO UPDATE SET attempts=crm_sync.attempts+1, status=EXCLUDED.status,
			remote_id=COALESCE(EXCLUDED.remote_id, crm_sync.remote_id), last_status=EXCLUDED.last_status,
			last_error=EXCLUDED.last_error, last_attempt_at=now(), synced_at=EXCLUDED.synced_at
		RETURNING attempts`, s.Kind, s.SourceEventID, s.WorkspaceID, s.LeadID, s.ContactID, s.TransactionID,
		s.RemoteID, s.Status, s.LastStatus, lastErr).Scan(&attempts)
	return attempts, err
}
