// Package ledger holds the processor runner's tables: the processed ledger
// that makes every processor's effect exactly-once, the outbox of domain
// events to publish and the results ingest events answer with.
package ledger

import "github.com/hookstream/hookstream/projections/schema"

// Spec describes the runner's tables.
func Spec() schema.Spec {
	return schema.Spec{
		Name:        "ledger",
		Migrations:  migrations(),
		ByProcessor: []string{"processed", "outbox", "results"},
		Personal: []schema.Personal{{
			// Unpublished domain events carry the contact's fields.
			Table:  "outbox",
			Where:  "event_id = ANY(@events) OR substr(event_id, strpos(event_id, ':') + 1) = ANY(@events)",
			Delete: true,
		}},
		NotPersonal: map[string]string{
			"processed":    "processor names and event ids",
			"results":      "processing summaries: ids, match types, field names",
			"results.body": "a processing summary: ids, match type, the names of fields in error",
		},
	}
}
