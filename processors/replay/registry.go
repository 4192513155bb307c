// Package replay re-drives processors from their streams: one processor's
// durable consumer from a stream sequence or a time (Reset), or a rebuild of
// projections from scratch (Rebuild) — clear the chosen processors'
// projection tables and processed-ledger rows, then re-deliver INGEST/EVENTS
// from sequence 1 to the running processors while the gateway keeps
// accepting. The processed ledger (processors.Once) makes every re-delivery
// of an already-applied event a no-op, which is what makes both safe.
//
// The package only moves consumers and clears tables; the work is done by the
// processors running in `hookstream serve` / `hookstream process`.
package replay

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Spec says what one processor projects, so a rebuild knows what to clear.
type Spec struct {
	// Processor is the processor's name (its processed-ledger name and the
	// name, or prefix, of its durable consumers).
	Processor string
	// Tables are emptied by a rebuild (TRUNCATE, all in one statement).
	Tables []string
	// Clear are statements that undo the processor's writes to tables it
	// does not own (boards' columns on contacts).
	Clear []Statement
	// Keep lists tables the processor writes that a rebuild leaves alone:
	// caches of external data (facebook_leads: the Graph API may no longer
	// have the lead) and configuration.
	Keep []string
	// External processors call outside APIs (CRM, MailerLite, GA4,
	// notifications). A rebuild leaves them — their processed rows and their
	// sync ledger — alone unless Resend is asked for, so it never sends
	// anything twice.
	External bool
	// Ledger are an external processor's sync tables, emptied only on a
	// rebuild with Resend.
	Ledger []string
	// Dependents must be rebuilt with this processor, after it: their
	// projection lives in this one's tables (boards writes
	// contacts.board_id/board_name) so clearing this one erases theirs.
	Dependents []string
}

// Statement is SQL a rebuild runs when Table exists.
type Statement struct {
	Table string
	SQL   string
}

// Registry is every processor a rebuild knows. Tables that do not exist
// (a processor not built into this binary yet) are skipped.
var Registry = []Spec{
	{
		Processor:  "contacts",
		Tables:     []string{"leads", "contacts"},
		Keep:       []string{"facebook_leads", "scoring_weights"},
		Dependents: []string{"boards"},
	},
	{
		Processor: "boards",
		Tables:    []string{"board_assignments"},
		Clear: []Statement{{Table: "contacts", SQL: `UPDATE contacts SET board_id = NULL, board_name = NULL
			WHERE board_id IS NOT NULL OR board_name IS NOT NULL`}},
		Keep: []string{"boards", "board_rules"},
	},
	{
		Processor: "payments",
		Tables:    []string{"disputes", "invoices", "subscriptions", "payments", "stripe_events"},
		Keep:      []string{"stripe_payment_methods"},
	},
	{Processor: "crm", External: true, Ledger: []string{"crm_sync"}},
	{Processor: "mailerlite", External: true, Ledger: []string{"mailerlite_subscribers"}},
	{Processor: "ga4", External: true, Ledger: []string{"ga4_events"}},
	{Processor: "notify", External: true, Ledger: []string{"notifications"}, Keep: []string{"notify_rules"}},
}

// Lookup returns the spec of a processor.
func Lookup(specs []Spec, name string) (Spec, bool) {
	for _, s := range specs {
		if s.Processor == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Plan is what a rebuild will do.
type Plan struct {
	// Levels are rebuilt one after the other; the processors of one level
	// run side by side. A processor comes after the ones it depends on.
	Levels [][]Spec
	// Skipped are external processors left alone (no Resend).
	Skipped []string
	Resend  bool
}

// Processors lists the planned processors in order.
func (p *Plan) Processors() []string {
	var out []string
	for _, l := range p.Levels {
		for _, s := range l {
			out = append(out, s.Processor)
		}
	}
	return out
}

// NewPlan chooses what to rebuild: the named processors (all when none is
// named) plus, transitively, their dependents. External processors are
// rebuilt only with resend; naming one without resend is an error, since
// the operator asked for something that would not happen.
func NewPlan(specs []Spec, names []string, resend bool) (*Plan, error) {
	byName := map[string]Spec{}
	for _, s := range specs {
		byName[s.Processor] = s
	}
	chosen := map[string]bool{}
	p := &Plan{Resend: resend}
	if len(names) == 0 {
		for _, s := range specs {
			if s.External && !resend {
				p.Skipped = append(p.Skipped, s.Processor)
				continue
			}
			chosen[s.Processor] = true
		}
	}
	var add func(n string, via string) error
	add = func(n, via string) error {
		s, ok := byName[n]
		if !ok {
			known := make([]string, 0, len(specs))
			for _, s := range specs {
				known = append(known, s.Processor)
			}
			return fmt.Errorf("no rebuild is defined for processor %q (known: %s)", n, strings.Join(known, ", "))
		}
		if s.External && !resend {
			if via != "" {
				// A dependent that talks to an API keeps its ledger: it sees
				// the re-emitted events as already processed.
				p.Skipped = append(p.Skipped, n)
				return nil
			}
			return fmt.Errorf("%s calls an external API: a rebuild would send everything again; pass --resend to do that, "+
				"or re-drive a range with `hookstream replay --processor %s --from-seq N` (already-sent events are skipped)", n, n)
		}
		if chosen[n] && via != "" {
			return nil
		}
		chosen[n] = true
		for _, d := range s.Dependents {
			if err := add(d, n); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		if err := add(n, ""); err != nil {
			return nil, err
		}
	}
	// Levels: a processor's level is one more than the highest level of the
	// chosen processors it depends on.
	level := map[string]int{}
	var depth func(n string, seen []string) (int, error)
	depth = func(n string, seen []string) (int, error) {
		if slices.Contains(seen, n) {
			return 0, fmt.Errorf("rebuild dependencies form a cycle: %s", strings.Join(append(seen, n), " → "))
		}
		if l, ok := level[n]; ok {
			return l, nil
		}
		l := 0
		for _, s := range specs {
			if chosen[s.Processor] && slices.Contains(s.Dependents, n) {
				d, err := depth(s.Processor, append(seen, n))
				if err != nil {
					return 0, err
				}
				l = max(l, d+1)
			}
		}
		level[n] = l
		return l, nil
	}
	maxLevel := -1
	for n := range chosen {
		l, err := depth(n, nil)
		if err != nil {
			return nil, err
		}
		maxLevel = max(maxLevel, l)
	}
	p.Levels = make([][]Spec, maxLevel+1)
	for _, s := range specs { // registry order within a level
		if chosen[s.Processor] {
			p.Levels[level[s.Processor]] = append(p.Levels[level[s.Processor]], s)
		}
	}
	sort.Strings(p.Skipped)
	p.Skipped = slices.Compact(p.Skipped)
	return p, nil
}
