package contacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/lead"
	"github.com/hookstream/hookstream/processors/events"
)

// contact is a contacts row.
type contact struct {
	events.Contact
	SourceTime time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

const contactCols = `id, workspace_id, COALESCE(crm_id,''), COALESCE(email,''), COALESCE(phone,''),
	COALESCE(first_name,''), COALESCE(last_name,''), COALESCE(company,''), COALESCE(product,''),
	COALESCE(lead_status,''), COALESCE(service_interest,''), marketing_consent, score,
	COALESCE(board_id,''), COALESCE(board_name,''), custom, source_time, created_at, updated_at`

// scanContact reads contactCols (then extra columns, if any).
func scanContact(row pgx.Row, extra ...any) (*contact, error) {
	var c contact
	err := row.Scan(append([]any{&c.ID, &c.WorkspaceID, &c.CRMID, &c.Email, &c.Phone, &c.FirstName, &c.LastName,
		&c.Company, &c.Product, &c.LeadStatus, &c.ServiceInterest, &c.MarketingConsent, &c.Score,
		&c.BoardID, &c.BoardName, &c.Custom, &c.SourceTime, &c.CreatedAt, &c.UpdatedAt}, extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return &c, err
}

// lockIdentities takes transaction-scoped advisory locks on the identity
// keys (one event's or a whole batch's), in the order of their lock ids, so
// two transactions cannot deadlock on them. With the unique indexes this
// makes concurrent events for one person converge on one contact.
func lockIdentities(ctx context.Context, tx pgx.Tx, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(h) FROM (
		SELECT DISTINCT hashtextextended(k, 7310) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS l`, keys)
	return err
}

// match finds the contact by CRM id, then phone, then e-mail, and locks its
// row: two events that reach one contact through different keys (one by CRM
// id, one by e-mail) hold different advisory locks, and without the row
// lock the second would write back a copy read before the first committed.
// After waiting, Postgres re-checks the key on the committed row, so a
// contact whose key the first event changed is no longer matched by it.
func match(ctx context.Context, tx pgx.Tx, workspace string, f lead.Fields) (*contact, string, error) {
	tries := []struct{ kind, col, val string }{
		{"crm_id", "crm_id", f.CRMID}, {"phone", "phone", f.Phone}, {"email", "email", f.Email},
	}
	for _, t := range tries {
		if t.val == "" {
			continue
		}
		c, err := scanContact(tx.QueryRow(ctx, `SELECT `+contactCols+` FROM contacts
			WHERE workspace_id=$1 AND `+t.col+`=$2 AND erased_at IS NULL FOR NO KEY UPDATE`, workspace, t.val))
		if err != nil || c != nil {
			return c, t.kind, err
		}
	}
	return nil, "new", nil
}

// takenFunc reports whether a contact other than c holds value v in the
// identity column col.
type takenFunc func(c *contact, col, v string) (bool, error)

// takenInDB asks Postgres (the one-event path).
func takenInDB(ctx context.Context, tx pgx.Tx) takenFunc {
	return func(c *contact, col, v string) (bool, error) {
		var taken bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE workspace_id=$1 AND `+col+`=$2 AND id<>$3)`,
			c.WorkspaceID, v, c.ID).Scan(&taken)
		return taken, err
	}
}

// merge applies f to c. A value from an event older than the newest one
// already applied only fills empty fields; a newer event overwrites with its
// non-empty values. Identity values another contact already holds are left
// alone (they would break uniqueness); the conflicts are reported.
func merge(c *contact, f lead.Fields, at time.Time, taken takenFunc) (conflicts []string, err error) {
	newer := !at.Before(c.SourceTime)
	set := func(dst *string, v string) {
		if v != "" && (newer || *dst == "") {
			*dst = v
		}
	}
	setIdentity := func(dst *string, col, v string) error {
		if v == "" || *dst == v || !(newer || *dst == "") {
			return nil
		}
		t, err := taken(c, col, v)
		if err != nil {
			return err
		}
		if t {
			conflicts = append(conflicts, col)
			return nil
		}
		*dst = v
		return nil
	}
	if err := setIdentity(&c.CRMID, "crm_id", f.CRMID); err != nil {
		return nil, err
	}
	if err := setIdentity(&c.Phone, "phone", f.Phone); err != nil {
		return nil, err
	}
	if err := setIdentity(&c.Email, "email", f.Email); err != nil {
		return nil, err
	}
	set(&c.FirstName, f.FirstName)
	set(&c.LastName, f.LastName)
	set(&c.Company, f.Company)
	set(&c.Product, f.Product)
	set(&c.LeadStatus, f.LeadStatus)
	set(&c.ServiceInterest, f.ServiceInterest)
	if f.MarketingConsent != nil && (newer || c.MarketingConsent == nil) {
		v := *f.MarketingConsent
		c.MarketingConsent = &v
	}
	for k, v := range f.Custom {
		if c.Custom == nil {
			c.Custom = map[string]string{}
		}
		if _, ok := c.Custom[k]; newer || !ok {
			c.Custom[k] = v
		}
	}
	if newer {
		c.SourceTime = at
	}
	return conflicts, nil
}

func newContact(workspace, eventID string, f lead.Fields, at, received time.Time) *contact {
	c := &contact{SourceTime: at, CreatedAt: received, UpdatedAt: received}
	c.ID = stableID("ct_", workspace, eventID)
	c.WorkspaceID = workspace
	c.CRMID, c.Email, c.Phone = f.CRMID, f.Email, f.Phone
	c.FirstName, c.LastName, c.Company = f.FirstName, f.LastName, f.Company
	c.Product, c.LeadStatus, c.ServiceInterest = f.Product, f.LeadStatus, f.ServiceInterest
	c.MarketingConsent = f.MarketingConsent
	c.Custom = f.Custom
	return c
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// contactInsertCols are the contacts columns a new contact fills
// (contactRow's order).
var contactInsertCols = []string{"id", "workspace_id", "crm_id", "email", "phone", "first_name", "last_name",
	"company", "product", "lead_status", "service_interest", "marketing_consent", "score", "custom", "source_time",
	"created_event_id", "created_at", "updated_at"}

func contactRow(c *contact, eventID string) []any {
	custom := c.Custom
	if custom == nil {
		custom = map[string]string{}
	}
	return []any{c.ID, c.WorkspaceID, nullable(c.CRMID), nullable(c.Email), nullable(c.Phone), nullable(c.FirstName),
		nullable(c.LastName), nullable(c.Company), nullable(c.Product), nullable(c.LeadStatus),
		nullable(c.ServiceInterest), c.MarketingConsent, c.Score, custom, c.SourceTime, eventID, c.CreatedAt, c.UpdatedAt}
}

func insertContact(ctx context.Context, tx pgx.Tx, c *contact, eventID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO contacts (`+strings.Join(contactInsertCols, ", ")+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`, contactRow(c, eventID)...)
	return err
}

func updateContact(ctx context.Context, tx pgx.Tx, c *contact) error {
	custom := c.Custom
	if custom == nil {
		custom = map[string]string{}
	}
	_, err := tx.Exec(ctx, `UPDATE contacts SET crm_id=$2, email=$3, phone=$4, first_name=$5, last_name=$6,
		company=$7, product=$8, lead_status=$9, service_interest=$10, marketing_consent=$11, score=$12,
		custom=$13, source_time=$14, updated_at=GREATEST(updated_at, $15) WHERE id=$1`,
		c.ID, nullable(c.CRMID), nullable(c.Email), nullable(c.Phone), nullable(c.FirstName), nullable(c.LastName),
		nullable(c.Company), nullable(c.Product), nullable(c.LeadStatus), nullable(c.ServiceInterest),
		c.MarketingConsent, c.Score, custom, c.SourceTime, c.UpdatedAt)
	return err
}

// stableID derives an id from the source event, so a rebuild from the stream
// yields the same ids.
func stableID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil))[:20]
}
