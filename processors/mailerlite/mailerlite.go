// Package mailerlite is the mailerlite processor. On EVENTS it upserts the
// contacts that gave marketing consent (a newsletter signup is consent by
// itself) as MailerLite subscribers in the newsletter group, and on a
// successful payment adds the customer to the onboarding group, whose
// automation MailerLite starts on group join (MailerLite has no "trigger
// automation" endpoint). On INGEST it reads MailerLite's own webhooks:
// unsubscribes, bounces and spam complaints withdraw the contact's
// marketing consent. Requests stay under MailerLite's 120 per minute with a
// client-side limiter and honour Retry-After; mailerlite_syncs records every
// call made for a source event, so a replay never calls again.
package mailerlite

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/outbound"
	"github.com/hookstream/hookstream/streams"
)

// Name is the processor's name and its EVENTS durable's.
const Name = "mailerlite"

// IngestDurable is its durable on INGEST (MailerLite's webhooks).
const IngestDurable = "mailerlite-ingest"

// NewsletterForm is the form type whose submission is consent by itself.
const NewsletterForm = "newsletter"

// DefaultAPIURL is MailerLite's API base.
const DefaultAPIURL = "https://connect.mailerlite.com/api"

// Config configures the processor.
type Config struct {
	// APIURL is the API base (MAILERLITE_API_URL, default DefaultAPIURL);
	// tests point it at a local server.
	APIURL string
	// APIKey is the API token sent as a Bearer token (MAILERLITE_API_KEY).
	// Without it no API call is made: contact and payment events are
	// acknowledged with outcome skipped. MailerLite's own webhooks are
	// still applied (they need no API call).
	APIKey string
	// GroupID is the group consenting contacts join (MAILERLITE_GROUP_ID);
	// empty: subscribers are upserted without a group.
	GroupID string
	// CustomerGroupID is the onboarding group a paying customer joins
	// (MAILERLITE_CUSTOMER_GROUP_ID); its automation starts on join. Empty:
	// payment events are skipped.
	CustomerGroupID string
	// SubscriberStatus is the status sent on upsert. Default "active"
	// ("unconfirmed" makes MailerLite send its double opt-in e-mail).
	SubscriberStatus string
	// RateLimit is the most requests sent in any RateWindow by this process
	// (MAILERLITE_RATE_LIMIT, default 120 — MailerLite's limit per minute).
	// Several processes calling MailerLite with one account must share it:
	// give each limit/N.
	RateLimit int
	// RateWindow is the window RateLimit counts in. Default 1 minute (tests
	// shorten it).
	RateWindow time.Duration
	// Limiter, when set, replaces the one built from RateLimit/RateWindow
	// (to share one between processors of a process).
	Limiter *Limiter
	// Settings bound one call and shape the circuit breaker
	// (MAILERLITE_BREAKER_THRESHOLD, MAILERLITE_BREAKER_COOLDOWN).
	outbound.Settings
	// Client, optional, replaces the client built from Settings (tests).
	Client *outbound.Client
	// Concurrency bounds handlers running at once per consumer. Default 4
	// (the limiter, not parallelism, sets the pace).
	Concurrency int
	// MaxDeliver is the number of attempts before dead-lettering. Default 10.
	MaxDeliver int
	// Now is the clock.
	Now func() time.Time
}

// DefaultConfig returns the defaults (not configured: no API key).
func DefaultConfig() Config {
	return Config{
		APIURL:           DefaultAPIURL,
		SubscriberStatus: StatusActive,
		RateLimit:        120,
		RateWindow:       time.Minute,
		Settings:         outbound.DefaultSettings(),
		Concurrency:      4,
		MaxDeliver:       10,
		Now:              time.Now,
	}
}

// outboundClient is Client, or a client built from Settings.
func (c Config) outboundClient() *outbound.Client {
	if c.Client != nil {
		return c.Client
	}
	return c.Settings.Client(Name)
}

// Configured reports whether API calls are made (an API key is set).
func (c Config) Configured() bool { return c.APIKey != "" }

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.APIURL, "https://") && !strings.HasPrefix(c.APIURL, "http://") {
		errs = append(errs, fmt.Errorf("mailerlite: API URL %q must be an http(s) URL", c.APIURL))
	}
	switch c.SubscriberStatus {
	case StatusActive, "unconfirmed":
	default:
		errs = append(errs, fmt.Errorf("mailerlite: subscriber status %q (want active or unconfirmed)", c.SubscriberStatus))
	}
	if c.Limiter == nil && (c.RateLimit < 1 || c.RateWindow <= 0) {
		errs = append(errs, errors.New("mailerlite: rate limit must be ≥ 1 per positive window"))
	}
	if c.Client == nil {
		if err := c.Settings.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("mailerlite: %w", err))
		}
	}
	if c.Now == nil {
		errs = append(errs, errors.New("mailerlite: a clock is required"))
	}
	if c.Concurrency < 0 || c.MaxDeliver < 0 {
		errs = append(errs, errors.New("mailerlite: concurrency and max deliver must not be negative"))
	}
	return errors.Join(errs...)
}

// MailerLite is the mailerlite processor.
type MailerLite struct{ ps []processors.Processor }

// Processors are its two consumers: "mailerlite" on EVENTS and
// "mailerlite-ingest" on INGEST. They share one limiter.
func (m *MailerLite) Processors() []processors.Processor { return m.ps }

// New builds the mailerlite processor and registers its circuit breaker's
// series on deps.Metrics.
func New(deps processors.Deps, cfg Config) (*MailerLite, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Limiter == nil {
		cfg.Limiter = NewLimiter(cfg.RateLimit, cfg.RateWindow)
	}
	cfg.Client = cfg.outboundClient()
	if err := outbound.RegisterBreaker(deps.Metrics, Name, cfg.Client.Breaker); err != nil {
		return nil, err
	}
	if !cfg.Configured() {
		deps.Logger().Info("mailerlite: MAILERLITE_API_KEY not set; contact and payment events are skipped, MailerLite webhooks still update consent")
	}
	h := &handler{store: deps.Store(), cfg: cfg, api: NewClient(cfg, cfg.Limiter)}
	events := processors.Processor{
		Name:   Name,
		Stream: streams.StreamEvents,
		Subjects: []string{
			streams.SubjectContactCreated,
			streams.SubjectContactUpdated,
			streams.SubjectPaymentSucceeded,
		},
		Handler:     h.handleEvent,
		OrderKeys:   h.orderKeys,
		Concurrency: cfg.Concurrency,
		MaxDeliver:  cfg.MaxDeliver,
		AckWait:     30 * time.Second,
	}
	ingest := processors.Processor{
		Name:        Name,
		Durable:     IngestDurable,
		Stream:      streams.StreamIngest,
		Subjects:    []string{streams.SubjectIngestMailerLite + ".>"},
		Handler:     h.handleWebhook,
		Concurrency: cfg.Concurrency,
		MaxDeliver:  cfg.MaxDeliver,
		AckWait:     30 * time.Second,
	}
	if !cfg.Configured() {
		events.Batch = processors.InOrder(h.handleEvent) // every event is skipped at once
	}
	return &MailerLite{ps: []processors.Processor{events, ingest}}, nil
}
