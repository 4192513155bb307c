// Package contacts is the contacts projection: contacts, their leads, the
// lead scoring weights and the Facebook leads fetched from the Graph API.
package contacts

import "github.com/hookstream/hookstream/projections/schema"

// Spec describes the contacts projection's tables.
func Spec() schema.Spec {
	return schema.Spec{
		Name:       "contacts",
		Processor:  "contacts",
		Migrations: migrations(),
		Rebuild:    []string{"leads", "contacts"},
		// The Graph API may no longer have a lead a replay would fetch.
		Keep:   []string{"facebook_leads"},
		Config: []string{"scoring_weights"},
		Personal: []schema.Personal{
			{
				Table: "contacts", Where: "id = @contact",
				Blank: append(schema.Null("email", "phone", "first_name", "last_name", "company", "crm_id"),
					schema.Blank{Column: "custom", To: "'{}'"}),
				Also: []string{"erased_at = now()", "updated_at = now()"},
			},
			{Table: "leads", Where: "contact_id = @contact", Blank: schema.Null("message", "page_url", "referrer")},
			{
				Table:  "facebook_leads",
				Where:  "leadgen_id IN (SELECT external_lead_id FROM leads WHERE contact_id = @contact AND external_lead_id IS NOT NULL)",
				Delete: true,
			},
		},
		Events: []string{
			"SELECT created_event_id FROM contacts WHERE id = @contact",
			"SELECT event_id FROM leads WHERE contact_id = @contact",
		},
		NotPersonal: map[string]string{
			"contacts.board_name": "the name of the sales board the contact is on",
			"scoring_weights":     "per-workspace configuration",
		},
	}
}
