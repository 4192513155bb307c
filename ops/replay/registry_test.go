package replay

import (
	"slices"
	"testing"

	"github.com/hookstream/hookstream/projections"
)

// TestRegistry_TablesFromSpecs: every projection a processor writes has a
// processor in the registry, which takes its tables from the projection's
// spec; a processor with a sync ledger is external (a rebuild must not
// send again unasked) and one without is not.
func TestRegistry_TablesFromSpecs(t *testing.T) {
	for _, p := range projections.Specs() {
		if p.Processor == "" {
			if len(p.Rebuild) > 0 || len(p.Ledger) > 0 || len(p.Undo) > 0 {
				t.Errorf("projection %s has tables a rebuild clears but no processor", p.Name)
			}
			continue
		}
		s, ok := Lookup(Registry, p.Processor)
		if !ok {
			t.Errorf("projection %s: processor %s is not in the registry, so no rebuild clears its tables", p.Name, p.Processor)
			continue
		}
		if !slices.Equal(s.Tables, p.Rebuild) || !slices.Equal(s.Ledger, p.Ledger) || !slices.Equal(s.Clear, p.Undo) {
			t.Errorf("%s: registry tables %v ledger %v clear %v, spec rebuild %v ledger %v undo %v",
				p.Processor, s.Tables, s.Ledger, s.Clear, p.Rebuild, p.Ledger, p.Undo)
		}
		if s.External != (len(p.Ledger) > 0) {
			t.Errorf("%s: external=%v but its projection has ledger %v", p.Processor, s.External, p.Ledger)
		}
	}
	for _, s := range Registry {
		if _, ok := projections.SpecOf(s.Processor); !ok && s.PartOf == "" {
			t.Errorf("registry processor %s writes no projection and is part of none", s.Processor)
		}
	}
}

// TestRegistry_Unchanged: the tables a rebuild clears per processor are
// what they were before they came from the specs.
func TestRegistry_Unchanged(t *testing.T) {
	want := map[string][2][]string{ // processor → {tables, ledger}
		"contacts":   {{"leads", "contacts"}, nil},
		"boards":     {{"board_assignments"}, nil},
		"payments":   {{"disputes", "invoices", "subscriptions", "payments", "stripe_events"}, nil},
		"crm":        {nil, {"crm_sync"}},
		"mailerlite": {nil, {"mailerlite_subscribers", "mailerlite_syncs"}},
		"ga4":        {nil, {"ga4_events"}},
		"notify":     {nil, {"notifications"}},
	}
	for name, w := range want {
		s, ok := Lookup(Registry, name)
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if !slices.Equal(s.Tables, w[0]) || !slices.Equal(s.Ledger, w[1]) {
			t.Errorf("%s: tables %v ledger %v, want %v %v", name, s.Tables, s.Ledger, w[0], w[1])
		}
	}
	if b, _ := Lookup(Registry, "boards"); len(b.Clear) != 1 || b.Clear[0].Table != "contacts" {
		t.Errorf("boards clears %v, want its columns on contacts", b.Clear)
	}
}
