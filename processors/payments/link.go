package payments

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookstream/hookstream/processors"
	paymentsdb "github.com/hookstream/hookstream/projections/payments"
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
		found, ok, err := paymentsdb.LeadByRef(ctx, tx, ws, l.leadRef)
		switch {
		case err != nil:
			return l, err
		case ok:
			l.leadID, l.contactID = found.LeadID, found.ContactID
			if l.email == "" {
				l.email = found.Email
			}
			return l, nil
		case m.Attempt < h.cfg.LeadWaitAttempts:
			return l, processors.RetryAfter(fmt.Errorf("lead %q is not projected yet (attempt %d of %d before applying unlinked)",
				l.leadRef, m.Attempt, h.cfg.LeadWaitAttempts), h.cfg.LeadWaitDelay)
		}
		l.leadMissing = true
	}
	if l.email != "" {
		var err error
		if l.contactID, err = paymentsdb.ContactByEmail(ctx, tx, ws, l.email); err != nil {
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
