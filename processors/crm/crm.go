// Package crm is the crm processor: it sends new leads and successful
// purchases to a generic REST CRM and records each in crm_sync. It consumes
// events.lead.created and events.payment.succeeded (durable "crm" on EVENTS).
//
// Calls (JSON bodies, see LeadPayload and PurchasePayload):
//
//	POST {CRM_API_ENDPOINT}/leads                      for each new lead
//	POST {CRM_API_ENDPOINT}/leads/{lead_id}/purchase   for each successful payment with a lead
//
// with headers Authorization: Bearer {CRM_API_KEY}, X-API-Version:
// {CRM_API_VERSION}, Idempotency-Key: {source event id} (the ingest event the
// lead or payment came from: the same key on every retry, replay and
// rebuild), Content-Type: application/json.
//
// Answers are classified by processors/outbound: 2xx done (the response's
// "id" is kept as remote_id); 408, 429, 5xx and network errors retried with
// backoff honouring Retry-After; other 4xx dead-lettered to dlq.crm with the
// response body. A circuit breaker stops calling a failing CRM while
// messages wait in the stream. Without CRM_API_ENDPOINT and CRM_API_KEY
// every message is acknowledged with outcome "skipped"; so are purchases of
// payments without a lead, and anything crm_sync already records as synced.
package crm

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/outbound"
	"github.com/hookstream/hookstream/streams"
)

// Name is the processor's, its durable consumer's and its destination's name.
const Name = "crm"

// Kinds of crm_sync rows.
const (
	KindLead     = "lead"
	KindPurchase = "purchase"
)

// DefaultAPIVersion is sent as X-API-Version unless CRM_API_VERSION says
// otherwise.
const DefaultAPIVersion = "2024-01-01"

// Config configures the processor.
type Config struct {
	// Endpoint (CRM_API_ENDPOINT) is the CRM API root, e.g.
	// https://crm.example.com/api; /leads is appended. Empty: not configured.
	Endpoint string
	// APIKey (CRM_API_KEY) is sent as a bearer token. Empty: not configured.
	APIKey string
	// APIVersion (CRM_API_VERSION) is sent as X-API-Version. Default
	// DefaultAPIVersion.
	APIVersion string
	// Settings bound one call and shape the circuit breaker (CRM_TIMEOUT,
	// CRM_BREAKER_THRESHOLD, CRM_BREAKER_COOLDOWN).
	outbound.Settings
	// HTTP, optional, replaces the client built from Timeout (its Timeout
	// must be set).
	HTTP *http.Client
	// Breaker, optional, replaces the breaker built from Settings (tests,
	// metrics).
	Breaker *outbound.Breaker
	// LeadWaitAttempts: a purchase whose lead is known but not synced to the
	// CRM yet is retried until this delivery attempt, so the CRM sees the
	// lead first. A lead that is failing keeps its purchase waiting for as
	// long as it retries. Default 3.
	LeadWaitAttempts int
	// LeadWaitDelay is the delay between those attempts. Default 2 s.
	LeadWaitDelay time.Duration
	// Concurrency bounds calls in flight. Default 4.
	Concurrency int
	// MaxDeliver is the number of attempts before a message is
	// dead-lettered. Default 20: with the backoff below a message survives
	// about an hour of CRM outage.
	MaxDeliver int
	// BackoffInitial and BackoffMax shape the retry delay. Defaults 1 s and
	// 5 min.
	BackoffInitial, BackoffMax time.Duration
}

// DefaultConfig returns the defaults (not configured: no endpoint, no key).
func DefaultConfig() Config {
	return Config{
		APIVersion:       DefaultAPIVersion,
		Settings:         outbound.DefaultSettings(),
		LeadWaitAttempts: 3,
		LeadWaitDelay:    2 * time.Second,
		Concurrency:      4,
		MaxDeliver:       20,
		BackoffInitial:   time.Second,
		BackoffMax:       5 * time.Minute,
	}
}

// Configured reports whether the CRM has both an endpoint and a key.
func (c Config) Configured() bool { return c.Endpoint != "" && c.APIKey != "" }

// Validate checks the configuration. An endpoint without a key (or the
// reverse) is valid: the destination is skipped, not failed.
func (c Config) Validate() error {
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("crm: CRM_API_ENDPOINT %q must be an http(s) URL without query or fragment", c.Endpoint)
		}
	}
	switch {
	case c.APIVersion == "":
		return errors.New("crm: API version required")
	case strings.ContainsAny(c.APIKey, "\r\n"):
		return errors.New("crm: CRM_API_KEY contains a line break")
	case c.HTTP != nil && c.HTTP.Timeout <= 0:
		return errors.New("crm: the HTTP client needs a timeout")
	case (c.HTTP == nil || c.Breaker == nil) && c.Settings.Validate() != nil:
		return fmt.Errorf("crm: %w", c.Settings.Validate())
	case c.LeadWaitAttempts < 1 || c.LeadWaitDelay < 0:
		return errors.New("crm: LeadWaitAttempts must be at least 1 and LeadWaitDelay not negative")
	case c.Concurrency < 1 || c.MaxDeliver < 1:
		return errors.New("crm: Concurrency and MaxDeliver must be at least 1")
	}
	return nil
}

// CRM is the processor with its destination client.
type CRM struct {
	store  *processors.Store
	cfg    Config
	client *outbound.Client
	base   string
}

// New builds the crm processor and registers its circuit breaker's series
// on deps.Metrics.
func New(deps processors.Deps, cfg Config) (*CRM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	b := cfg.Breaker
	if b == nil {
		b = cfg.Settings.Breaker()
	}
	if err := outbound.RegisterBreaker(deps.Metrics, Name, b); err != nil {
		return nil, err
	}
	if !cfg.Configured() {
		deps.Logger().Info("crm: CRM_API_ENDPOINT or CRM_API_KEY not set; leads and purchases are skipped")
	}
	return &CRM{store: deps.Store(), cfg: cfg, client: &outbound.Client{Name: Name, HTTP: hc, Breaker: b},
		base: strings.TrimRight(cfg.Endpoint, "/")}, nil
}

// Breaker is the CRM destination's circuit breaker (for metrics).
func (c *CRM) Breaker() *outbound.Breaker { return c.client.Breaker }

// Processors is its one consumer (crm on EVENTS).
func (c *CRM) Processors() []processors.Processor { return []processors.Processor{c.processor()} }

func (c *CRM) processor() processors.Processor {
	p := processors.Processor{
		Name:           Name,
		Stream:         streams.StreamEvents,
		Subjects:       []string{streams.SubjectLeadCreated, streams.SubjectPaymentSucceeded},
		Handler:        c.handle,
		Concurrency:    c.cfg.Concurrency,
		MaxDeliver:     c.cfg.MaxDeliver,
		AckWait:        max(30*time.Second, 3*c.client.HTTP.Timeout),
		BackoffInitial: c.cfg.BackoffInitial,
		BackoffMax:     c.cfg.BackoffMax,
	}
	if !c.cfg.Configured() {
		p.Batch = processors.InOrder(c.handle) // every event is skipped at once
	}
	return p
}
