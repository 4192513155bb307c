package admin

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

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

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

// piiTable says where a projection keeps personal data about a contact.
// Missing tables and columns are skipped (a processor not built in yet).
type piiTable struct {
	table   string
	where   string   // named args: @contact, @email, @phone, @workspace, @events
	columns []string // blanked: NULL, or a placeholder when NOT NULL
	delete  bool
	// extra SET clauses (contacts: custom, erased_at)
	extra string
}

var piiTables = []piiTable{
	{table: "contacts", where: "id = @contact", columns: []string{"email", "phone", "first_name", "last_name", "company", "crm_id"},
		extra: "custom = '{}', erased_at = now(), updated_at = now()"},
	{table: "leads", where: "contact_id = @contact", columns: []string{"message", "page_url", "referrer"}},
	{table: "facebook_leads", where: "leadgen_id IN (SELECT external_lead_id FROM leads WHERE contact_id = @contact AND external_lead_id IS NOT NULL)", delete: true},
	{table: "payments", where: "contact_id = @contact OR (@email <> '' AND lower(email) = @email)", columns: []string{"email", "name", "customer_name", "billing_name", "phone", "metadata", "description"}},
	{table: "disputes", where: "contact_id = @contact OR (@email <> '' AND lower(email) = @email)", columns: []string{"email", "name", "customer_name"}},
	{table: "invoices", where: "contact_id = @contact OR (@email <> '' AND lower(email) = @email)", columns: []string{"email", "name", "customer_name", "metadata"}},
	{table: "subscriptions", where: "contact_id = @contact OR (@email <> '' AND lower(email) = @email)", columns: []string{"email", "name", "customer_name", "metadata"}},
	{table: "mailerlite_subscribers", where: "@email <> '' AND workspace_id = @workspace AND email = @email", columns: []string{"email"}},
	{table: "mailerlite_syncs", where: "@email <> '' AND workspace_id = @workspace AND email = @email", columns: []string{"email"}},
	{table: "crm_sync", where: "contact_id = @contact", columns: []string{"last_error"}},
	{table: "notifications", where: "contact_id = @contact OR source_event_id = ANY(@events)", columns: []string{"body", "error"},
		extra: "title = '[erased]', updated_at = now()"},
	{table: "outbox", where: "event_id = ANY(@events) OR substr(event_id, strpos(event_id, ':') + 1) = ANY(@events)", delete: true},
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
		var email, phone, createdEvent string
		var erasedAt *time.Time
		err := tx.QueryRow(ctx, `SELECT workspace_id, COALESCE(lower(email), ''), COALESCE(phone, ''), created_event_id, erased_at
			FROM contacts WHERE id = $1 FOR UPDATE`, contactID).Scan(&e.Workspace, &email, &phone, &createdEvent, &erasedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		e.AlreadyErased = erasedAt != nil
		ids := map[string]bool{createdEvent: true}
		rows, err := tx.Query(ctx, `SELECT event_id FROM leads WHERE contact_id = $1`, contactID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Stripe events about the contact's payments.
		pc, err := columnsOf(ctx, tx, "payments")
		if err != nil {
			return err
		}
		sc, err := columnsOf(ctx, tx, "stripe_events")
		if err != nil {
			return err
		}
		if pc != nil && sc != nil {
			if err := collect(ctx, tx, ids, `SELECT se.source_event_id FROM stripe_events se
				JOIN payments p ON se.object_id = p.transaction_id WHERE p.contact_id = $1`, contactID); err != nil {
				return err
			}
		}
		for id := range ids {
			if id != "" {
				e.EventIDs = append(e.EventIDs, id)
			}
		}
		sort.Strings(e.EventIDs)
		args := pgx.NamedArgs{"contact": contactID, "email": email, "phone": phone, "workspace": e.Workspace, "events": e.EventIDs}
		for _, t := range piiTables {
			cols, err := columnsOf(ctx, tx, t.table)
			if err != nil {
				return err
			}
			if cols == nil {
				continue
			}
			var q string
			if t.delete {
				q = "DELETE FROM " + pgx.Identifier{t.table}.Sanitize() + " WHERE " + t.where
			} else {
				var sets []string
				for _, c := range t.columns {
					ci, ok := cols[c]
					if !ok {
						continue
					}
					sets = append(sets, pgx.Identifier{c}.Sanitize()+" = "+blank(c, ci))
				}
				if t.extra != "" {
					sets = append(sets, t.extra)
				}
				if len(sets) == 0 {
					continue
				}
				q = "UPDATE " + pgx.Identifier{t.table}.Sanitize() + " SET " + strings.Join(sets, ", ") + " WHERE " + t.where
			}
			tag, err := tx.Exec(ctx, q, args)
			if err != nil {
				return fmt.Errorf("erasing %s: %w", t.table, err)
			}
			if n := tag.RowsAffected(); n > 0 {
				e.Tables[t.table] = n
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

type colInfo struct {
	name     string
	nullable bool
	typ      string
}

// columnsOf returns a table's columns, nil when it does not exist.
func columnsOf(ctx context.Context, tx pgx.Tx, table string) (map[string]colInfo, error) {
	rows, err := tx.Query(ctx, `SELECT column_name, is_nullable = 'YES', data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out map[string]colInfo
	for rows.Next() {
		var c colInfo
		if err := rows.Scan(&c.name, &c.nullable, &c.typ); err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]colInfo{}
		}
		out[c.name] = c
	}
	return out, rows.Err()
}

// blank is what replaces a personal value: NULL, else an empty value of
// the column's type; e-mail keys get a unique placeholder (they are keys).
func blank(name string, c colInfo) string {
	col := pgx.Identifier{name}.Sanitize()
	switch {
	case c.nullable && c.typ != "jsonb":
		return "NULL"
	case c.typ == "jsonb":
		return "'{}'::jsonb"
	case name == "email":
		return "'erased+' || md5(" + col + ") || '@erased.invalid'"
	case c.typ == "text" || strings.HasPrefix(c.typ, "character"):
		return "''"
	}
	return col
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
		if m, err := findIngest(ctx, js, id, 0); err == nil {
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
			if want[h.Get(processors.HdrDLQEventID)] || want[h.Get(streams.HdrCausationID)] {
				out = append(out, md.Sequence.Stream)
			}
		}
		if got == 0 {
			break
		}
	}
	return out, nil
}
