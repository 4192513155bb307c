// Package payments is the Stripe projection: the Stripe events applied and
// the payments, disputes, invoices and subscriptions they describe.
package payments

import "github.com/hookstream/hookstream/projections/schema"

// byContact finds a contact's Stripe rows by link or by e-mail (a payment
// may arrive before, or without, a lead).
const byContact = "contact_id = @contact OR (@email <> '' AND lower(email) = @email)"

// Spec describes the payments projection's tables.
func Spec() schema.Spec {
	return schema.Spec{
		Name:       "payments",
		Processor:  "payments",
		Migrations: migrations(),
		Rebuild:    []string{"disputes", "invoices", "subscriptions", "payments", "stripe_events"},
		// Fetched from the Stripe API: a replay does not fetch again.
		Keep: []string{"stripe_payment_methods"},
		Personal: []schema.Personal{
			{Table: "payments", Where: byContact, Blank: append(schema.Null("email", "description"),
				schema.Blank{Column: "metadata", To: "'{}'"})},
			{Table: "disputes", Where: byContact, Blank: schema.Null("email")},
			{Table: "invoices", Where: byContact, Blank: schema.Null("email")},
			{Table: "subscriptions", Where: byContact, Blank: schema.Null("email")},
		},
		Events: []string{`SELECT se.source_event_id FROM stripe_events se
			JOIN payments p ON se.object_id = p.transaction_id WHERE p.contact_id = @contact`},
		NotPersonal: map[string]string{
			"stripe_events":            "Stripe's ids, types and times",
			"stripe_payment_methods":   "a payment method's id and type",
			"payments.failure_message": "Stripe's explanation of a decline",
			"disputes.reason":          "Stripe's dispute reason code",
			"invoices.billing_reason":  "Stripe's billing reason code",
		},
	}
}
