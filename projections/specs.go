package projections

import (
	"github.com/hookstream/hookstream/projections/audit"
	"github.com/hookstream/hookstream/projections/boards"
	"github.com/hookstream/hookstream/projections/contacts"
	"github.com/hookstream/hookstream/projections/crm"
	"github.com/hookstream/hookstream/projections/ga4"
	"github.com/hookstream/hookstream/projections/ledger"
	"github.com/hookstream/hookstream/projections/mailerlite"
	"github.com/hookstream/hookstream/projections/notify"
	"github.com/hookstream/hookstream/projections/payments"
	"github.com/hookstream/hookstream/projections/schema"
	"github.com/hookstream/hookstream/projections/webhooks"
)

// Specs lists every projection package's spec: what Migrate applies, what
// a rebuild clears and what an erasure blanks. A new projection package is
// added here; the tests then hold its tables to account.
func Specs() []schema.Spec {
	return []schema.Spec{
		webhooks.Spec(),
		ledger.Spec(),
		audit.Spec(),
		contacts.Spec(),
		boards.Spec(),
		payments.Spec(),
		crm.Spec(),
		mailerlite.Spec(),
		ga4.Spec(),
		notify.Spec(),
	}
}

// SpecOf returns the spec of the projection a processor writes.
func SpecOf(processor string) (schema.Spec, bool) {
	for _, s := range Specs() {
		if s.Processor != "" && s.Processor == processor {
			return s, true
		}
	}
	return schema.Spec{}, false
}
