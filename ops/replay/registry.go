// Package replay re-drives processors from their streams: one processor's
// durable consumer from a stream sequence or a time (Replay), or a rebuild of
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

	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/projections/schema"
)

// Spec says what one processor (or one consumer of a processor) projects,
// so a rebuild knows what to clear and what to re-drive.
type Spec struct {
	// Processor is the name used on the command line.
	Processor string
	// Durables are its consumers' names. Default: Processor, plus any
	// <Processor>-<stream> durable.
	Durables []string
	// LedgerName is the processor column of its processed, outbox and
	// results rows. Default: Processor.
	LedgerName string
	// LedgerPrefix, when set, limits the ledger rows cleared to event ids
	// with this prefix: a consumer that shares its processor's ledger.
	LedgerPrefix string
	// PartOf names the processor this spec is one consumer of; when that
	// processor is rebuilt as a whole, this spec is redundant.
	PartOf string
	// Tables, Clear, Keep and Ledger come from the spec of the projection
	// the processor writes (schema.Spec's Rebuild, Undo, Keep+Config and
	// Ledger); see withTables.

	// Tables are emptied by a rebuild (TRUNCATE, all in one statement).
	Tables []string
	// Clear are statements that undo the processor's writes to tables it
	// does not own (boards' columns on contacts).
	Clear []Statement
	// Keep lists tables the processor writes that a rebuild leaves alone:
	// caches of external data (facebook_leads: the Graph API may no longer
	// have the lead), configuration, external effects.
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
	// After orders the rebuild: when both are rebuilt, this one starts once
	// those have caught up (their handlers read those projections).
	After []string
}

func (s Spec) ledgerName() string {
	if s.LedgerName != "" {
		return s.LedgerName
	}
	return s.Processor
}

// Statement is SQL a rebuild runs when Table exists.
type Statement = schema.Statement

// Registry is every processor a rebuild knows. Tables that do not exist
// (a processor not built into this binary) are skipped.
var Registry = withTables(processorSpecs(), projections.Specs())

// processorSpecs are what a rebuild needs to know about processors:
// consumers, dependents, order and external calls. Their tables come from
// their projections' specs (withTables).
func processorSpecs() []Spec {
	projectionsFirst := []string{"contacts", "boards", "payments"}
	return []Spec{
		{Processor: "contacts", Dependents: []string{"boards", "mailerlite-ingest"}},
		{Processor: "boards"},
		// Payments link to contacts by lead id and e-mail when they arrive.
		{Processor: "payments", After: []string{"contacts"}},
		{
			// MailerLite's own webhooks (unsubscribes, bounces, spam reports)
			// withdraw marketing consent on contacts: no API call, so a contacts
			// rebuild re-applies them.
			Processor:    "mailerlite-ingest",
			Durables:     []string{"mailerlite-ingest"},
			LedgerName:   "mailerlite",
			LedgerPrefix: "mailerlite:",
			PartOf:       "mailerlite",
		},
		{Processor: "crm", External: true, After: projectionsFirst},
		{Processor: "mailerlite", External: true, After: projectionsFirst},
		{Processor: "ga4", External: true, After: projectionsFirst},
		{Processor: "notify", External: true, After: projectionsFirst},
	}
}

// withTables fills each processor's tables from the spec of the
// projection it writes (a consumer that is part of a processor has none of
// its own).
func withTables(specs []Spec, ps []schema.Spec) []Spec {
	for i, s := range specs {
		for _, p := range ps {
			if p.Processor == "" || p.Processor != s.Processor {
				continue
			}
			specs[i].Tables = p.Rebuild
			specs[i].Clear = p.Undo
			specs[i].Keep = append(slices.Clone(p.Keep), p.Config...)
			specs[i].Ledger = p.Ledger
		}
	}
	return specs
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
	var add func(n string, dependent bool) error
	add = func(n string, dependent bool) error {
		s, ok := byName[n]
		if !ok {
			known := make([]string, 0, len(specs))
			for _, s := range specs {
				known = append(known, s.Processor)
			}
			return fmt.Errorf("no rebuild is defined for processor %q (known: %s)", n, strings.Join(known, ", "))
		}
		if s.External && !resend {
			if dependent {
				// A dependent that talks to an API keeps its ledger: it sees
				// the re-emitted events as already processed.
				p.Skipped = append(p.Skipped, n)
				return nil
			}
			return fmt.Errorf("%s calls an external API: a rebuild would send everything again; pass --resend to do that, "+
				"or re-drive a range with `hookstream replay --processor %s --from-seq N` (already-sent events are skipped)", n, n)
		}
		if chosen[n] {
			return nil
		}
		chosen[n] = true
		for _, d := range s.Dependents {
			if err := add(d, true); err != nil {
				return err
			}
		}
		return nil
	}
	if len(names) == 0 {
		for _, s := range specs {
			if s.External && !resend {
				p.Skipped = append(p.Skipped, s.Processor)
				continue
			}
			if err := add(s.Processor, false); err != nil {
				return nil, err
			}
		}
	}
	for _, n := range names {
		if err := add(n, false); err != nil {
			return nil, err
		}
	}
	// A part of a processor rebuilt as a whole is covered by it.
	for n := range chosen {
		if part := byName[n].PartOf; part != "" && chosen[part] {
			delete(chosen, n)
		}
	}
	// Levels: one more than the highest level of the chosen processors it
	// depends on or must follow.
	level := map[string]int{}
	var depth func(n string, seen []string) (int, error)
	depth = func(n string, seen []string) (int, error) {
		if slices.Contains(seen, n) {
			return 0, fmt.Errorf("rebuild dependencies form a cycle: %s", strings.Join(append(seen, n), " → "))
		}
		if l, ok := level[n]; ok {
			return l, nil
		}
		var before []string
		for _, s := range specs {
			if chosen[s.Processor] && slices.Contains(s.Dependents, n) {
				before = append(before, s.Processor)
			}
		}
		for _, a := range byName[n].After {
			if chosen[a] {
				before = append(before, a)
			}
		}
		l := 0
		for _, b := range before {
			d, err := depth(b, append(seen, n))
			if err != nil {
				return 0, err
			}
			l = max(l, d+1)
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
