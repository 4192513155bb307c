// Package audit is the audit trail: every delivery's outcome and every
// erasure.
//
// event_outcomes lives here rather than with the runner's ledger although
// the runner writes it: it is the audit record of what happened, read by
// the audit and analytics operations, and a rebuild keeps it — the
// ledger's rows are the runner's exactly-once state, deleted per processor
// by a rebuild.
package audit

import "github.com/hookstream/hookstream/projections/schema"

// Spec describes the audit trail's tables.
func Spec() schema.Spec {
	return schema.Spec{
		Name:       "audit",
		Migrations: migrations(),
		Keep:       []string{"event_outcomes", "erasures"},
		NotPersonal: map[string]string{
			"event_outcomes":        "ids, statuses and timings of deliveries",
			"event_outcomes.error":  "kept as the record of what failed; an erasure hides the events' raw requests (erasures.event_ids) instead of rewriting the trail",
			"event_outcomes.detail": "ids, reasons and counts a processor attached to the outcome",
			"erasures":              "the record an erasure was made: ids and counts",
			"erasures.reason":       "the operator's reason for the erasure",
			"erasures.requested_by": "the operator or API client that asked",
		},
	}
}
