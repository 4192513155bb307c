// Package crm is the crm processor's record of what reached the CRM.
package crm

import "github.com/hookstream/hookstream/projections/schema"

// Spec describes the crm projection's tables.
func Spec() schema.Spec {
	return schema.Spec{
		Name:       "crm",
		Processor:  "crm",
		Migrations: migrations(),
		// A synced row is never sent again: a rebuild keeps it unless asked
		// to send everything again.
		Ledger: []string{"crm_sync"},
		Personal: []schema.Personal{
			// The CRM's error answers may quote the contact's fields.
			{Table: "crm_sync", Where: "contact_id = @contact", Blank: schema.Null("last_error")},
		},
	}
}
