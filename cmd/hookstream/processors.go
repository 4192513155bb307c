package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/processors"
)

// processorFactory builds one processor's consumers from the app.
type processorFactory func(a *app) ([]processors.Processor, error)

// registry lists every processor by name; serve runs them all, process
// --only picks some.
func registry() map[string]processorFactory {
	return map[string]processorFactory{}
}

// processors builds the selected processors (all when only is empty) and the
// ?wait result waiter (nil until the contacts processor exists).
func (a *app) processors(only []string) ([]processors.Processor, gateway.ResultWaiter, error) {
	reg := registry()
	names := only
	if len(names) == 0 {
		for n := range reg {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	var out []processors.Processor
	for _, n := range names {
		f, ok := reg[n]
		if !ok {
			known := make([]string, 0, len(reg))
			for k := range reg {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, nil, fmt.Errorf("unknown processor %q (known: %s)", n, strings.Join(known, ", "))
		}
		ps, err := f(a)
		if err != nil {
			return nil, nil, fmt.Errorf("processor %s: %w", n, err)
		}
		out = append(out, ps...)
	}
	return out, nil, nil
}

func (a *app) runner() *processors.Runner {
	return &processors.Runner{JS: a.js, Outcomes: processors.PGOutcomes{DB: a.pool}, Log: a.log}
}

// mountAPI adds the admin API to the gateway (later issues).
func (a *app) mountAPI(g *gateway.Gateway) {}
