package contacts

import (
	"encoding/json"
	"time"

	"github.com/hookstream/hookstream/processors"
	contactsdb "github.com/hookstream/hookstream/projections/contacts"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// leadRow is one source event's leads row (written with the contact).
func leadRow(m *processors.Message, c *candidate, ct *contact, matchType string, isNew bool,
	score int, received time.Time) contactsdb.Lead {
	f := c.fields
	return contactsdb.Lead{ID: stableID("ld_", m.EventID), EventID: m.EventID, ContactID: ct.ID,
		WorkspaceID: m.Workspace, WebhookID: m.WebhookID, FormType: c.formType, Source: c.source,
		MatchType: matchType, IsNewContact: isNew, LeadStatus: f.LeadStatus, ProductInterest: f.Product,
		ServiceInterest: f.ServiceInterest, Message: f.Message, MarketingConsent: f.MarketingConsent,
		UTMSource: f.UTM["utm_source"], UTMMedium: f.UTM["utm_medium"], UTMCampaign: f.UTM["utm_campaign"],
		UTMTerm: f.UTM["utm_term"], UTMContent: f.UTM["utm_content"], PageURL: f.PageURL, Referrer: f.Referrer,
		SubmissionID: f.SubmissionID, ExternalLeadID: f.LeadID, Score: score, CreatedAt: received}
}
