package main

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/contacts"
)

// processorFactory builds one processor's consumers from the app.
type processorFactory func(a *app) ([]processors.Processor, error)

// registry lists every processor by name; serve runs them all, process
// --only picks some.
func registry() map[string]processorFactory {
	return map[string]processorFactory{
		contacts.Name: func(a *app) ([]processors.Processor, error) {
			cfg := contacts.DefaultConfig()
			cfg.DefaultRegion = a.s.region
			if u := os.Getenv("FACEBOOK_GRAPH_URL"); u != "" {
				cfg.GraphURL = strings.TrimRight(u, "/")
			}
			cfg.PageToken = os.Getenv("FACEBOOK_PAGE_TOKEN")
			cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
			p, err := contacts.New(a.store(), cfg)
			return []processors.Processor{p}, err
		},
		boards.Name: func(a *app) ([]processors.Processor, error) {
			return []processors.Processor{boards.New(a.store())}, nil
		},
		mailerliteName: newMailerLite,
		ga4Name:        newGA4,

		paymentsName: newPayments,
		crmName:      newCRM,
		notifyName:   newNotify,
	}
}

func (a *app) store() *processors.Store {
	return &processors.Store{DB: a.pool, JS: a.js, NC: a.nc}
}

// waiter answers ?wait with the contacts result merged with the boards one.
type waiter struct{ w *processors.Waiter }

func (w waiter) Expect(eventID string) (gateway.ResultWait, error) {
	p, err := w.w.Expect(eventID)
	if err != nil {
		return nil, err
	}
	return p, nil
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
	wt := waiter{w: &processors.Waiter{NC: a.nc, DB: a.pool, Primary: contacts.Name, FollowUps: []string{boards.Name}}}
	return out, wt, nil
}

func (a *app) runner() *processors.Runner {
	return &processors.Runner{JS: a.js, Outcomes: &processors.GroupedOutcomes{DB: a.pool}, Log: a.log, Observe: a.observe()}
}

// mountAPI adds the admin API (/api/, HOOKSTREAM_ADMIN_TOKEN) to the gateway.
func (a *app) mountAPI(g *gateway.Gateway) {
	api := a.mountAdmin(g)
	a.onHTTPShutdown = append(a.onHTTPShutdown, api.Close)
}
