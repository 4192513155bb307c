// Package erasure carries out `hookstream contacts forget` (and the admin
// API's DELETE of a contact): it removes a contact's personal data from the
// projections, records the erasure, and can delete the contact's messages
// from the streams. Where the data is, and how it is found, comes from the
// projections' specs (projections.Specs), so a projection that keeps
// personal data declares it there and is erased with the rest.
package erasure

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/ops/audit"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/streams"
)

// ErrNotFound: no such contact. It is ops.ErrNotFound, so the CLI and the
// admin API answer it as every other operation's not-found.
var ErrNotFound = ops.ErrNotFound

// ForgetOptions shape an erasure.
type ForgetOptions struct {
	Reason      string
	RequestedBy string
	// PurgeStreams also deletes the contact's raw requests from INGEST, the
	// domain events derived from them from EVENTS and their dead letters
	// from DLQ (a replay then no longer brings the data back — nor the
	// contact). Needs JetStream.
	PurgeStreams bool
}

// Erasure is the record of one `contacts forget`.
type Erasure struct {
	ID                    int64            `json:"id"`
	ContactID             string           `json:"contact_id"`
	Workspace             string           `json:"workspace_id"`
	Reason                string           `json:"reason,omitempty"`
	RequestedBy           string           `json:"requested_by,omitempty"`
	Tables                map[string]int64 `json:"tables"`
	EventIDs              []string         `json:"event_ids"`
	StreamMessagesDeleted int              `json:"stream_messages_deleted"`
	ErasedAt              time.Time        `json:"erased_at"`
	AlreadyErased         bool             `json:"already_erased,omitempty"`
	Note                  string           `json:"note,omitempty"`
}

// Forget removes a contact's personal data from the projections (blanks the
// columns, sets contacts.erased_at) and records the erasure; the audit trail
// no longer shows the raw requests of its events. Running it again is safe.
func Forget(ctx context.Context, db *pgxpool.Pool, js jetstream.JetStream, contactID string, opts ForgetOptions) (*Erasure, error) {
	if contactID == "" {
		return nil, ErrNotFound
	}
	if opts.PurgeStreams && js == nil {
		return nil, errors.New("purging the streams needs a NATS connection")
	}
	e := &Erasure{ContactID: contactID, Reason: opts.Reason, RequestedBy: opts.RequestedBy, Tables: map[string]int64{}}
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var email, phone string
		var erasedAt *time.Time
		err := tx.QueryRow(ctx, `SELECT workspace_id, COALESCE(lower(email), ''), COALESCE(phone, ''), erased_at
			FROM contacts WHERE id = $1 FOR UPDATE`, contactID).Scan(&e.Workspace, &email, &phone, &erasedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		e.AlreadyErased = erasedAt != nil
		specs := projections.Specs()
		args := pgx.NamedArgs{"contact": contactID, "email": email, "phone": phone, "workspace": e.Workspace}
		ids := map[string]bool{}
		for _, s := range specs {
			for _, q := range s.Events {
				if err := collect(ctx, tx, ids, q, args); err != nil {
					return fmt.Errorf("%s: finding the contact's events: %w", s.Name, err)
				}
			}
		}
		for id := range ids {
			if id != "" {
				e.EventIDs = append(e.EventIDs, id)
			}
		}
		sort.Strings(e.EventIDs)
		args["events"] = e.EventIDs
		for _, s := range specs {
			for _, p := range s.Personal {
				tag, err := tx.Exec(ctx, p.SQL(), args)
				if err != nil {
					return fmt.Errorf("erasing %s: %w", p.Table, err)
				}
				if n := tag.RowsAffected(); n > 0 {
					e.Tables[p.Table] = n
				}
			}
		}
		return tx.QueryRow(ctx, `INSERT INTO erasures (contact_id, workspace_id, reason, requested_by, tables, event_ids)
			VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), $5, $6) RETURNING id, erased_at`,
			contactID, e.Workspace, opts.Reason, opts.RequestedBy, e.Tables, e.EventIDs).Scan(&e.ID, &e.ErasedAt)
	})
	if err != nil {
		return nil, err
	}
	if e.EventIDs == nil {
		e.EventIDs = []string{}
	}
	if !opts.PurgeStreams {
		e.Note = "the raw requests stay in INGEST until its retention ends (the audit trail no longer shows them); --purge-streams deletes them now"
		return e, nil
	}
	n, perr := purgeStreams(ctx, db, js, e.EventIDs)
	e.StreamMessagesDeleted = n
	if _, err := db.Exec(ctx, `UPDATE erasures SET stream_messages_deleted = $2 WHERE id = $1`, e.ID, n); err != nil {
		return e, err
	}
	if perr != nil {
		return e, fmt.Errorf("projections erased (erasure %d), but purging the streams failed after %d messages: %w", e.ID, n, perr)
	}
	return e, nil
}

func collect(ctx context.Context, tx pgx.Tx, into map[string]bool, q string, args ...any) error {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		into[id] = true
	}
	return rows.Err()
}

// purgeStreams deletes the raw requests (INGEST), the domain events derived
// from them (EVENTS) and their dead letters (DLQ). The stream sequences come
// from the recorded outcomes; dead letters are found by their
// Hs-Dlq-Event-Id header.
func purgeStreams(ctx context.Context, db *pgxpool.Pool, js jetstream.JetStream, eventIDs []string) (int, error) {
	if len(eventIDs) == 0 {
		return 0, nil
	}
	type loc struct {
		stream string
		seq    uint64
	}
	seen := map[loc]bool{}
	var locs []loc
	rows, err := db.Query(ctx, `SELECT DISTINCT subject, stream_seq FROM event_outcomes
		WHERE stream_seq IS NOT NULL AND (event_id = ANY($1)
			OR (subject LIKE 'events.%' AND substr(event_id, strpos(event_id, ':') + 1) = ANY($1)))`, eventIDs)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var subj string
		var seq int64
		if err := rows.Scan(&subj, &seq); err != nil {
			rows.Close()
			return 0, err
		}
		var l loc
		switch {
		case strings.HasPrefix(subj, "ingest."):
			l = loc{streams.StreamIngest, uint64(seq)}
		case strings.HasPrefix(subj, "events."):
			l = loc{streams.StreamEvents, uint64(seq)}
		default:
			continue
		}
		if !seen[l] {
			seen[l] = true
			locs = append(locs, l)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	// Raw requests never processed have no outcome: find them by id.
	for _, id := range eventIDs {
		if m, err := audit.FindRequest(ctx, js, id); err == nil {
			l := loc{streams.StreamIngest, m.Sequence}
			if !seen[l] {
				seen[l] = true
				locs = append(locs, l)
			}
		}
	}
	want := map[string]bool{}
	for _, id := range eventIDs {
		want[id] = true
	}
	dlq, err := dlqSeqs(ctx, js, want)
	if err != nil {
		return 0, err
	}
	for _, s := range dlq {
		locs = append(locs, loc{streams.StreamDLQ, s})
	}
	n := 0
	for _, l := range locs {
		s, err := js.Stream(ctx, l.stream)
		if err != nil {
			return n, err
		}
		if err := s.SecureDeleteMsg(ctx, l.seq); err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) || strings.Contains(err.Error(), "no message found") {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// dlqSeqs finds dead letters of the given source events.
func dlqSeqs(ctx context.Context, js jetstream.JetStream, want map[string]bool) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, streams.StreamDLQ, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{streams.SubjectDLQAll}, HeadersOnly: true})
	if err != nil {
		return nil, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []uint64
	remaining := info.NumPending
	for remaining > 0 {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			remaining = md.NumPending
			h := m.Headers()
			if want[h.Get(streams.HdrDLQEventID)] || want[h.Get(streams.HdrCausationID)] {
				out = append(out, md.Sequence.Stream)
			}
		}
		if got == 0 {
			break
		}
	}
	return out, nil
}
