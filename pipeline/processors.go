package pipeline

import (
	"fmt"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/processors/crm"
	"github.com/hookstream/hookstream/processors/ga4"
	"github.com/hookstream/hookstream/processors/mailerlite"
	"github.com/hookstream/hookstream/processors/notify"
	"github.com/hookstream/hookstream/processors/payments"
)

// processor is one processor's entry: how to validate its settings and
// build it.
type processor struct {
	validate func(Config) error
	build    func(processors.Deps, Config) (processors.Builder, error)
}

// entry makes a processor's entry from its section of Config and its
// constructor; every processor has the shape New(deps, cfg) (X, error).
func entry[C interface{ Validate() error }, X processors.Builder](section func(Config) C, build func(processors.Deps, C) (X, error)) processor {
	return processor{
		validate: func(c Config) error { return section(c).Validate() },
		build: func(d processors.Deps, c Config) (processors.Builder, error) {
			return build(d, section(c))
		},
	}
}

// registry lists every processor by name.
func registry() map[string]processor {
	return map[string]processor{
		contacts.Name:   entry(func(c Config) contacts.Config { return c.Contacts }, contacts.New),
		boards.Name:     entry(func(c Config) boards.Config { return c.Boards }, boards.New),
		payments.Name:   entry(func(c Config) payments.Config { return c.Payments }, payments.New),
		crm.Name:        entry(func(c Config) crm.Config { return c.CRM }, crm.New),
		ga4.Name:        entry(func(c Config) ga4.Config { return c.GA4 }, ga4.New),
		mailerlite.Name: entry(func(c Config) mailerlite.Config { return c.MailerLite }, mailerlite.New),
		notify.Name:     entry(func(c Config) notify.Config { return c.Notify }, notify.New),
	}
}

// BuildProcessors builds the consumers of the processors cfg selects (Only;
// all when empty).
func BuildProcessors(deps processors.Deps, cfg Config) ([]processors.Processor, error) {
	names, err := cfg.selected()
	if err != nil {
		return nil, err
	}
	reg := registry()
	var out []processors.Processor
	for _, n := range names {
		b, err := reg[n].build(deps, cfg)
		if err != nil {
			return nil, fmt.Errorf("processor %s: %w", n, err)
		}
		out = append(out, b.Processors()...)
	}
	return out, nil
}
