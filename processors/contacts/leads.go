package contacts

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// leadCols are the leads columns a lead row fills (leadRow's order).
var leadCols = []string{"id", "event_id", "contact_id", "workspace_id", "webhook_id", "form_type",
	"source", "match_type", "is_new_contact", "lead_status", "product_interest", "service_interest", "message",
	"marketing_consent", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "page_url", "referrer",
	"submission_id", "external_lead_id", "score", "created_at"}

// leadRow is one source event's leads row (dual write with the contact).
func leadRow(id string, m *processors.Message, c *candidate, ct *contact, matchType string, isNew bool,
	score int, at time.Time) []any {
	f := c.fields
	return []any{id, m.EventID, ct.ID, m.Workspace, nullable(m.WebhookID), nullable(c.formType), c.source, matchType, isNew,
		nullable(f.LeadStatus), nullable(f.Product), nullable(f.ServiceInterest), nullable(f.Message),
		f.MarketingConsent, nullable(f.UTM["utm_source"]), nullable(f.UTM["utm_medium"]),
		nullable(f.UTM["utm_campaign"]), nullable(f.UTM["utm_term"]), nullable(f.UTM["utm_content"]),
		nullable(f.PageURL), nullable(f.Referrer), nullable(f.SubmissionID), nullable(f.LeadID), score, at}
}

// insertLead writes one leads row; the unique event_id makes a second
// insert impossible.
func insertLead(ctx context.Context, tx *processors.Tx, id string, m *processors.Message, c *candidate,
	ct *contact, matchType string, isNew bool, score int, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO leads (`+strings.Join(leadCols, ", ")+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25)`,
		leadRow(id, m, c, ct, matchType, isNew, score, at)...)
	return err
}
