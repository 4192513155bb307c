// Package contacts is the SQL of the contacts projection: the contacts and
// leads tables, the scoring weights of each workspace and the Facebook leads
// fetched from the Graph API. The contacts processor decides what to write
// (matching, merging, scoring); this package only reads and writes rows.
// Callers import it with an alias (contactsdb): the processor has the same
// name.
package contacts

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier runs statements: a pool or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Column names an identity column of contacts: a value in one of them
// identifies a person within a workspace (each has a unique index).
type Column string

// The identity columns.
const (
	CRMID Column = "crm_id"
	Phone Column = "phone"
	Email Column = "email"
)

// Identity is one identity value of a person in a workspace.
type Identity struct {
	Workspace string
	Column    Column
	Value     string
}

// Contact is a contacts row.
type Contact struct {
	ID, WorkspaceID                      string
	CRMID, Email, Phone                  string
	FirstName, LastName, Company         string
	Product, LeadStatus, ServiceInterest string
	MarketingConsent                     *bool
	Score                                int
	BoardID, BoardName                   string
	Custom                               map[string]string
	SourceTime                           time.Time // of the newest event applied
	CreatedEventID                       string
	CreatedAt, UpdatedAt                 time.Time
	Erased                               bool // erased on request: never matched again
}

// LockIdentities takes transaction-scoped advisory locks on keys (strings
// naming identity values), in the order of their lock ids, so two
// transactions cannot deadlock on them. With the unique indexes this makes
// concurrent events for one person converge on one contact.
func LockIdentities(ctx context.Context, tx pgx.Tx, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(h) FROM (
		SELECT DISTINCT hashtextextended(k, 7310) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS l`, keys)
	return err
}

// LockContacts reads and row-locks every contact, erased ones included
// (their values still hold the unique indexes), that holds one of ids, in id
// order so two transactions lock rows alike. One statement for any number of
// identities.
//
// Two events that reach one contact through different keys hold different
// advisory locks; the row lock makes the second wait for the first's commit
// and then read the row as the first left it.
func LockContacts(ctx context.Context, tx pgx.Tx, ids []Identity) ([]*Contact, error) {
	var ws, vals [3][]string // per column: crm_id, phone, email
	for _, id := range ids {
		var j int
		switch id.Column {
		case CRMID:
			j = 0
		case Phone:
			j = 1
		case Email:
			j = 2
		default:
			continue
		}
		if id.Value != "" {
			ws[j], vals[j] = append(ws[j], id.Workspace), append(vals[j], id.Value)
		}
	}
	// One index probe per key (LATERAL ... LIMIT 1: each value is unique in
	// its workspace); a plain join let the generic plan scan a whole
	// identity index per batch. NO KEY UPDATE: the rows are updated, never
	// their ids, so this does not wait for the key-share locks of leads'
	// foreign key.
	rows, err := tx.Query(ctx, `SELECT `+contactCols+` FROM contacts WHERE id IN (
		SELECT c.id FROM unnest($1::text[], $2::text[]) AS k(w, v),
			LATERAL (SELECT id FROM contacts WHERE workspace_id = k.w AND crm_id = k.v LIMIT 1) c
		UNION ALL SELECT c.id FROM unnest($3::text[], $4::text[]) AS k(w, v),
			LATERAL (SELECT id FROM contacts WHERE workspace_id = k.w AND phone = k.v LIMIT 1) c
		UNION ALL SELECT c.id FROM unnest($5::text[], $6::text[]) AS k(w, v),
			LATERAL (SELECT id FROM contacts WHERE workspace_id = k.w AND email = k.v LIMIT 1) c)
		ORDER BY id FOR NO KEY UPDATE`, ws[0], vals[0], ws[1], vals[1], ws[2], vals[2])
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Contact, error) { return scanContact(row) })
}

const contactCols = `id, workspace_id, COALESCE(crm_id,''), COALESCE(email,''), COALESCE(phone,''),
	COALESCE(first_name,''), COALESCE(last_name,''), COALESCE(company,''), COALESCE(product,''),
	COALESCE(lead_status,''), COALESCE(service_interest,''), marketing_consent, score,
	COALESCE(board_id,''), COALESCE(board_name,''), custom, source_time, created_event_id, created_at,
	updated_at, erased_at IS NOT NULL`

func scanContact(row pgx.Row) (*Contact, error) {
	var c Contact
	err := row.Scan(&c.ID, &c.WorkspaceID, &c.CRMID, &c.Email, &c.Phone, &c.FirstName, &c.LastName,
		&c.Company, &c.Product, &c.LeadStatus, &c.ServiceInterest, &c.MarketingConsent, &c.Score,
		&c.BoardID, &c.BoardName, &c.Custom, &c.SourceTime, &c.CreatedEventID, &c.CreatedAt, &c.UpdatedAt, &c.Erased)
	return &c, err
}

// contactInsertCols are the columns a new contact fills (contactRow's order).
func contactInsertCols() []string {
	return []string{"id", "workspace_id", "crm_id", "email", "phone", "first_name", "last_name", "company",
		"product", "lead_status", "service_interest", "marketing_consent", "score", "custom", "source_time",
		"created_event_id", "created_at", "updated_at"}
}

func contactRow(c *Contact) []any {
	return []any{c.ID, c.WorkspaceID, nullable(c.CRMID), nullable(c.Email), nullable(c.Phone), nullable(c.FirstName),
		nullable(c.LastName), nullable(c.Company), nullable(c.Product), nullable(c.LeadStatus),
		nullable(c.ServiceInterest), c.MarketingConsent, c.Score, custom(c.Custom), c.SourceTime, c.CreatedEventID,
		c.CreatedAt, c.UpdatedAt}
}

// InsertContacts writes new contacts (COPY: one round trip for any number).
func InsertContacts(ctx context.Context, tx pgx.Tx, cs []*Contact) error {
	if len(cs) == 0 {
		return nil
	}
	rows := make([][]any, len(cs))
	for i, c := range cs {
		rows[i] = contactRow(c)
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"contacts"}, contactInsertCols(), pgx.CopyFromRows(rows))
	return err
}

// UpdateContacts writes the values the contacts projection owns back to
// existing contacts, in one statement. Board and erasure columns belong to
// others and are left alone.
func UpdateContacts(ctx context.Context, q Querier, cs []*Contact) error {
	if len(cs) == 0 {
		return nil
	}
	n := len(cs)
	ids := make([]string, n)
	var text [9][]*string
	for k := range text {
		text[k] = make([]*string, n)
	}
	consent := make([]*bool, n)
	score := make([]int32, n)
	customs := make([]string, n)
	sourceTime := make([]time.Time, n)
	updated := make([]time.Time, n)
	for i, c := range cs {
		ids[i] = c.ID
		for k, v := range []string{c.CRMID, c.Email, c.Phone, c.FirstName, c.LastName, c.Company, c.Product,
			c.LeadStatus, c.ServiceInterest} {
			if v != "" {
				text[k][i] = &v
			}
		}
		consent[i] = c.MarketingConsent
		score[i] = int32(c.Score)
		b, err := json.Marshal(custom(c.Custom))
		if err != nil {
			return err
		}
		customs[i] = string(b)
		sourceTime[i], updated[i] = c.SourceTime, c.UpdatedAt
	}
	_, err := q.Exec(ctx, `UPDATE contacts AS c SET crm_id=u.crm_id, email=u.email, phone=u.phone,
		first_name=u.first_name, last_name=u.last_name, company=u.company, product=u.product,
		lead_status=u.lead_status, service_interest=u.service_interest, marketing_consent=u.consent,
		score=u.score, custom=u.custom::jsonb, source_time=u.source_time, updated_at=u.updated_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::boolean[], $12::int[], $13::text[], $14::timestamptz[],
			$15::timestamptz[]) AS u(id, crm_id, email, phone, first_name, last_name, company, product,
			lead_status, service_interest, consent, score, custom, source_time, updated_at)
		WHERE c.id = u.id`,
		ids, text[0], text[1], text[2], text[3], text[4], text[5], text[6], text[7], text[8], consent, score,
		customs, sourceTime, updated)
	return err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// custom is never NULL in the table.
func custom(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
