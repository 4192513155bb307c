// Package notify is the notifications projection: per-workspace rules and
// the notifications sent to the team.
package notify

import "github.com/hookstream/hookstream/projections/schema"

// Spec describes the notify projection's tables.
func Spec() schema.Spec {
	return schema.Spec{
		Name:       "notify",
		Processor:  "notify",
		Migrations: migrations(),
		Config:     []string{"notify_rules"},
		// A row that says sent is never sent again.
		Ledger: []string{"notifications"},
		Personal: []schema.Personal{{
			Table: "notifications", Where: "contact_id = @contact OR source_event_id = ANY(@events)",
			Blank: []schema.Blank{{Column: "body", To: "'{}'"}, {Column: "error"}, {Column: "title", To: "'[erased]'"}},
			Also:  []string{"updated_at = now()"},
		}},
		NotPersonal: map[string]string{
			"notify_rules":            "configuration",
			"notify_rules.email_to":   "the team's addresses, set by an operator",
			"notify_rules.sms_to":     "the team's numbers, set by an operator",
			"notifications.recipient": "the team's addresses or channel the notice went to",
		},
	}
}
