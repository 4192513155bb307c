package payments

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/processors"
)

// link is who a Stripe object belongs to.
type link struct {
	leadID, leadRef, contactID, email string
	leadMissing                       bool // metadata.lead_id named no lead
}

// resolve links an object by metadata.lead_id (a leads.id, external_lead_id
// or submission_id in the workspace), else by the first e-mail among emails
// (contacts of the workspace). A lead reference that names no lead yet is
// retried while m.Attempt < cfg.LeadWaitAttempts.
func (h *handler) resolve(ctx context.Context, tx *processors.Tx, m *processors.Message, ws string,
	meta map[string]string, emails ...string) (link, error) {
	var l link
	l.leadRef = strings.TrimSpace(meta["lead_id"])
	for _, e := range append([]string{meta["email"]}, emails...) {
		if e = normEmail(e); e != "" {
			l.email = e
			break
		}
	}
	if l.leadRef != "" {
		var contactEmail *string
		err := tx.QueryRow(ctx, `SELECT l.id, l.contact_id, c.email FROM leads l JOIN contacts c ON c.id = l.contact_id
			WHERE l.workspace_id=$1 AND (l.id=$2 OR l.external_lead_id=$2 OR l.submission_id=$2)
			ORDER BY (l.id=$2) DESC, l.created_at DESC LIMIT 1`, ws, l.leadRef).Scan(&l.leadID, &l.contactID, &contactEmail)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if m.Attempt < h.cfg.LeadWaitAttempts {
				return l, processors.RetryAfter(fmt.Errorf("lead %q is not projected yet (attempt %d of %d before applying unlinked)",
					l.leadRef, m.Attempt, h.cfg.LeadWaitAttempts), h.cfg.LeadWaitDelay)
			}
			l.leadMissing = true
		case err != nil:
			return l, err
		default:
			if l.email == "" && contactEmail != nil {
				l.email = *contactEmail
			}
			return l, nil
		}
	}
	if l.email != "" {
		err := tx.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id=$1 AND email=$2 AND erased_at IS NULL`,
			ws, l.email).Scan(&l.contactID)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return l, err
		}
	}
	return l, nil
}

// normEmail trims and lower-cases an address the way the contacts
// processor stores it; anything without an @ is ignored.
func normEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.Contains(s, "@") {
		return ""
	}
	return s
}
