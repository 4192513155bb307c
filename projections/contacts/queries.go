package contacts

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lead is a leads row: one source event about a contact.
type Lead struct {
	ID, EventID, ContactID, WorkspaceID    string
	WebhookID, FormType, Source, MatchType string
	IsNewContact                           bool
	LeadStatus, ProductInterest            string
	ServiceInterest, Message               string
	MarketingConsent                       *bool
	UTMSource, UTMMedium, UTMCampaign      string
	UTMTerm, UTMContent, PageURL, Referrer string
	SubmissionID, ExternalLeadID           string
	Score                                  int
	CreatedAt                              time.Time
}

// InsertLeads writes leads (COPY: one round trip for any number). The
// unique event_id makes a second lead for one event impossible.
func InsertLeads(ctx context.Context, tx pgx.Tx, ls []Lead) error {
	if len(ls) == 0 {
		return nil
	}
	rows := make([][]any, len(ls))
	for i, l := range ls {
		rows[i] = []any{l.ID, l.EventID, l.ContactID, l.WorkspaceID, nullable(l.WebhookID), nullable(l.FormType),
			l.Source, l.MatchType, l.IsNewContact, nullable(l.LeadStatus), nullable(l.ProductInterest),
			nullable(l.ServiceInterest), nullable(l.Message), l.MarketingConsent, nullable(l.UTMSource),
			nullable(l.UTMMedium), nullable(l.UTMCampaign), nullable(l.UTMTerm), nullable(l.UTMContent),
			nullable(l.PageURL), nullable(l.Referrer), nullable(l.SubmissionID), nullable(l.ExternalLeadID),
			l.Score, l.CreatedAt}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"leads"}, []string{"id", "event_id", "contact_id", "workspace_id",
		"webhook_id", "form_type", "source", "match_type", "is_new_contact", "lead_status", "product_interest",
		"service_interest", "message", "marketing_consent", "utm_source", "utm_medium", "utm_campaign", "utm_term",
		"utm_content", "page_url", "referrer", "submission_id", "external_lead_id", "score", "created_at"},
		pgx.CopyFromRows(rows))
	return err
}

// FacebookLead returns the Graph API answer stored for a lead, and whether
// there is one (a replay must not fetch a lead again).
func FacebookLead(ctx context.Context, q Querier, leadgenID string) ([]byte, bool, error) {
	var body []byte
	err := q.QueryRow(ctx, `SELECT body FROM facebook_leads WHERE leadgen_id=$1`, leadgenID).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	return body, err == nil, err
}

// SaveFacebookLead stores a Graph API answer; the first one stored stays.
func SaveFacebookLead(ctx context.Context, q Querier, leadgenID string, body []byte) error {
	_, err := q.Exec(ctx, `INSERT INTO facebook_leads (leadgen_id, body) VALUES ($1,$2)
		ON CONFLICT (leadgen_id) DO NOTHING`, leadgenID, body)
	return err
}

// Weights returns a workspace's scoring weights as stored (JSON), nil when
// it has none.
func Weights(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, workspace string) ([]byte, error) {
	var b []byte
	err := q.QueryRow(ctx, `SELECT weights FROM scoring_weights WHERE workspace_id=$1`, workspace).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return b, err
}

// SaveWeights stores a workspace's scoring weights (JSON).
func SaveWeights(ctx context.Context, q Querier, workspace string, weights []byte) error {
	_, err := q.Exec(ctx, `INSERT INTO scoring_weights (workspace_id, weights) VALUES ($1,$2)
		ON CONFLICT (workspace_id) DO UPDATE SET weights=EXCLUDED.weights, updated_at=now()`, workspace, weights)
	return err
}
