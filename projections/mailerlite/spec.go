// Package mailerlite is the MailerLite projection: what MailerLite holds
// for each address, and the API calls made.
package mailerlite

import "github.com/hookstream/hookstream/projections/schema"

// byAddress finds a contact's rows: MailerLite knows an address, not a
// contact.
const byAddress = "@email <> '' AND workspace_id = @workspace AND email = @email"

// Spec describes the mailerlite projection's tables.
func Spec() schema.Spec {
	return schema.Spec{
		Name:       "mailerlite",
		Processor:  "mailerlite",
		Migrations: migrations(),
		// Both record effects on MailerLite; a rebuild that emptied them
		// would call the API again for every event.
		Ledger: []string{"mailerlite_subscribers", "mailerlite_syncs"},
		Personal: []schema.Personal{
			{Table: "mailerlite_subscribers", Where: byAddress, Blank: []schema.Blank{schema.Erased("email")}},
			{Table: "mailerlite_syncs", Where: byAddress, Blank: []schema.Blank{schema.Erased("email")}},
		},
	}
}
