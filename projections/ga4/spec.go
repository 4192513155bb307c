// Package ga4 is the record of the GA4 Measurement Protocol events sent.
package ga4

import "github.com/hookstream/hookstream/projections/schema"

// Spec describes the ga4 projection's tables.
func Spec() schema.Spec {
	return schema.Spec{
		Name:       "ga4",
		Processor:  "ga4",
		Migrations: migrations(),
		// A row that says sent is never sent again.
		Ledger: []string{"ga4_events"},
		NotPersonal: map[string]string{
			"ga4_events":         "GA4 receives no personal data: the client id is derived from ids",
			"ga4_events.name":    "the GA4 event name",
			"ga4_events.payload": "the body sent to GA4, which carries no personal data",
		},
	}
}
