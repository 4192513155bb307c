// Package pipeline wires Hookstream: the connections (NATS, Postgres), the
// HTTP gateway with the admin API, and the processors with their runner.
// `hookstream serve`, `gateway` and `process`, the bench's child processes
// and internal/pipelinetest all build their pipeline here, so tests run
// the wiring that ships.
package pipeline

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/processors/crm"
	"github.com/hookstream/hookstream/processors/ga4"
	"github.com/hookstream/hookstream/processors/mailerlite"
	"github.com/hookstream/hookstream/processors/notify"
	"github.com/hookstream/hookstream/processors/payments"
	"github.com/hookstream/hookstream/streams"
)

// Config is every setting of one Hookstream process.
type Config struct {
	// Gateway runs the HTTP gateway (and the admin API on it).
	Gateway bool
	// Processors runs the processors named in Only (all when empty).
	Processors bool
	Only       []string

	// DataDir holds the embedded NATS store and the private Postgres.
	DataDir string
	// NATSURL connects to a NATS server or cluster (comma-separated URLs);
	// empty embeds a server whose client listener is NATSListen ("off":
	// none).
	NATSURL    string
	NATSListen string
	// SyncAlways fsyncs every write of the embedded JetStream server.
	SyncAlways bool
	// DatabaseURL is the Postgres connection string; empty starts a private
	// cluster under DataDir.
	DatabaseURL string
	Streams     streams.Config
	Log         LogConfig

	// HTTPAddr is the gateway's listen address.
	HTTPAddr string
	// MetricsAddr, for a process without the gateway, is the listen address
	// of a small HTTP server with /metrics and /healthz (the gateway serves
	// both itself); empty: none.
	MetricsAddr string
	HTTP        gateway.Config
	// WaitPrimary and WaitFollowUps name the processors whose results ?wait
	// merges; an empty WaitPrimary turns ?wait off.
	WaitPrimary   string
	WaitFollowUps []string
	Admin         AdminConfig

	Contacts   contacts.Config
	Boards     boards.Config
	Payments   payments.Config
	CRM        crm.Config
	GA4        ga4.Config
	MailerLite mailerlite.Config
	Notify     notify.Config
}

// AdminConfig configures the admin API the gateway mounts at /api/.
type AdminConfig struct {
	// Token is the bearer token; empty turns the API off.
	Token string
	// Heartbeat of idle live feeds; zero takes the admin API's default.
	Heartbeat time.Duration
}

// LogConfig is the log format and level.
type LogConfig struct {
	Format string // text or json
	Level  string // debug, info, warn, error
}

// Handler is a slog handler writing to w in the configured format and level.
func (c LogConfig) Handler(w io.Writer) (slog.Handler, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.Format {
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	case "text":
		return slog.NewTextHandler(w, opts), nil
	}
	return nil, fmt.Errorf("log format must be text or json, got %q", c.Format)
}

// DefaultConfig returns the defaults of `hookstream serve`.
func DefaultConfig() Config {
	return Config{
		Gateway:       true,
		Processors:    true,
		DataDir:       "./data",
		NATSListen:    "127.0.0.1:4222",
		Streams:       streams.DefaultConfig(),
		Log:           LogConfig{Format: "text", Level: "info"},
		HTTPAddr:      "127.0.0.1:8080",
		HTTP:          gateway.DefaultConfig(),
		WaitPrimary:   contacts.Name,
		WaitFollowUps: []string{boards.Name},
		Contacts:      contacts.DefaultConfig(),
		Boards:        boards.DefaultConfig(),
		Payments:      payments.DefaultConfig(),
		CRM:           crm.DefaultConfig(),
		GA4:           ga4.DefaultConfig(),
		MailerLite:    mailerlite.DefaultConfig(),
		Notify:        notify.DefaultConfig(),
	}
}

// Validate checks the settings this process uses: the gateway's only with
// Gateway, a processor's only when it runs (a gateway never fails on a
// processor's setting).
func (c Config) Validate() error {
	var errs []error
	if !c.Gateway && !c.Processors {
		errs = append(errs, errors.New("pipeline: neither the gateway nor the processors run"))
	}
	if _, err := c.Log.Handler(io.Discard); err != nil {
		errs = append(errs, err)
	}
	if err := c.Streams.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Gateway {
		if err := c.HTTP.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Processors {
		names, err := c.selected()
		if err != nil {
			errs = append(errs, err)
		}
		for _, n := range names {
			if err := registry()[n].validate(c); err != nil {
				errs = append(errs, fmt.Errorf("processor %s: %w", n, err))
			}
		}
	}
	return errors.Join(errs...)
}

// selected is Only, or every processor by name when Only is empty.
func (c Config) selected() ([]string, error) {
	if len(c.Only) == 0 {
		return Names(), nil
	}
	for _, n := range c.Only {
		if _, ok := registry()[n]; !ok {
			return nil, fmt.Errorf("unknown processor %q (known: %s)", n, strings.Join(Names(), ", "))
		}
	}
	return c.Only, nil
}

// Names lists every processor, sorted.
func Names() []string {
	reg := registry()
	out := make([]string, 0, len(reg))
	for n := range reg {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
