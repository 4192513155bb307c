// Package ga4 is the ga4 processor: it sends server-side Google Analytics 4
// events through the Measurement Protocol — generate_lead for every new
// lead, purchase for a successful payment, payment_failed for a failed one —
// without personal data, after checking GA4's limits locally (the
// collection endpoint answers 2xx even to payloads it drops), and records
// every event in ga4_events so a replay never sends it twice.
package ga4

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/processors/outbound"
	"github.com/hookstream/hookstream/streams"
)

// Name is the processor's and its durable consumer's name.
const Name = "ga4"

// Collection hosts.
const (
	// DefaultEndpoint is GA4's global collection host.
	DefaultEndpoint = "https://www.google-analytics.com"
	// EUEndpoint keeps collection in the EU (GA4_REGION=eu).
	EUEndpoint = "https://region1.google-analytics.com"
)

// RegionEndpoint is the collection host of a region: "" or "global" → the
// global host, "eu" → the EU host.
func RegionEndpoint(region string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(region)) {
	case "", "global", "us", "default":
		return DefaultEndpoint, nil
	case "eu", "region1":
		return EUEndpoint, nil
	}
	return "", fmt.Errorf("ga4: unknown region %q (want eu or global)", region)
}

// Config configures the processor.
type Config struct {
	// MeasurementID is the web data stream's measurement id ("G-XXXXXXX";
	// GA4_MEASUREMENT_ID). Without it, or without APISecret, the processor
	// is not configured: every event is acknowledged with outcome skipped.
	MeasurementID string
	// APISecret is a Measurement Protocol API secret of that stream
	// (GA4_API_SECRET). It travels in the query string and never appears in
	// errors, logs or ga4_events.
	APISecret string
	// Endpoint is the collection base URL (GA4_ENDPOINT; default
	// DefaultEndpoint, EUEndpoint with GA4_REGION=eu). Tests point it at a
	// local server.
	Endpoint string
	// Debug sends to /debug/mp/collect, GA4's validation server, and records
	// its validationMessages (status "validated"); a non-empty list is a
	// permanent failure (status "invalid", dead-lettered). Events sent in
	// debug mode are validated only, never recorded by GA4: a replay after
	// turning debug off sends them for real (GA4_DEBUG).
	Debug bool
	// Settings bound one call and shape the circuit breaker
	// (GA4_BREAKER_THRESHOLD, GA4_BREAKER_COOLDOWN).
	outbound.Settings
	// Client, optional, replaces the client built from Settings (tests).
	Client *outbound.Client
	// Concurrency bounds handlers running at once. Default 8.
	Concurrency int
	// MaxDeliver is the number of attempts before dead-lettering. Default 10.
	MaxDeliver int
	// Now is the clock (timestamp window checks).
	Now func() time.Time
}

// DefaultConfig returns the defaults (not configured: no credentials).
func DefaultConfig() Config {
	return Config{
		Endpoint:    DefaultEndpoint,
		Settings:    outbound.DefaultSettings(),
		Concurrency: 8,
		MaxDeliver:  10,
		Now:         time.Now,
	}
}

// outboundClient is Client, or a client built from Settings.
func (c Config) outboundClient() *outbound.Client {
	if c.Client != nil {
		return c.Client
	}
	return c.Settings.Client(Name)
}

// Configured reports whether events are sent (both credentials are set).
func (c Config) Configured() bool { return c.MeasurementID != "" && c.APISecret != "" }

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint == "" || !(strings.HasPrefix(c.Endpoint, "https://") || strings.HasPrefix(c.Endpoint, "http://")) {
		errs = append(errs, fmt.Errorf("ga4: endpoint %q must be an http(s) URL", c.Endpoint))
	}
	if (c.MeasurementID == "") != (c.APISecret == "") {
		errs = append(errs, errors.New("ga4: GA4_MEASUREMENT_ID and GA4_API_SECRET must be set together"))
	}
	if c.Client == nil {
		if err := c.Settings.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("ga4: %w", err))
		}
	}
	if c.Now == nil {
		errs = append(errs, errors.New("ga4: a clock is required"))
	}
	if c.Concurrency < 0 || c.MaxDeliver < 0 {
		errs = append(errs, errors.New("ga4: concurrency and max deliver must not be negative"))
	}
	return errors.Join(errs...)
}

// GA4 is the ga4 processor.
type GA4 struct{ p processors.Processor }

// Processors is its one consumer (ga4 on EVENTS).
func (g *GA4) Processors() []processors.Processor { return []processors.Processor{g.p} }

// New builds the ga4 processor and registers its circuit breaker's series
// on deps.Metrics.
func New(deps processors.Deps, cfg Config) (*GA4, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Client = cfg.outboundClient()
	if err := outbound.RegisterBreaker(deps.Metrics, Name, cfg.Client.Breaker); err != nil {
		return nil, err
	}
	switch log := deps.Logger(); {
	case !cfg.Configured():
		log.Info("ga4: GA4_MEASUREMENT_ID/GA4_API_SECRET not set; events are skipped")
	case cfg.Debug:
		log.Warn("ga4: GA4_DEBUG is on; events go to the validation server only and never reach GA4 reports")
	}
	h := &handler{store: deps.Store(), cfg: cfg, send: NewSender(cfg)}
	p := processors.Processor{
		Name:   Name,
		Stream: streams.StreamEvents,
		Subjects: []string{
			streams.SubjectLeadCreated,
			streams.SubjectPaymentSucceeded,
			streams.SubjectPaymentFailed,
		},
		Handler:     h.handle,
		OrderKeys:   h.orderKeys,
		Concurrency: cfg.Concurrency,
		MaxDeliver:  cfg.MaxDeliver,
		AckWait:     30 * time.Second,
	}
	if !cfg.Configured() {
		p.Batch = processors.InOrder(h.handle) // every event is skipped at once
	}
	return &GA4{p: p}, nil
}

// expiryMargin keeps an event from expiring between the check and GA4.
const expiryMargin = 10 * time.Minute

type handler struct {
	store *processors.Store
	cfg   Config
	send  *Sender
}

// built is a message turned into the payload to send.
type built struct {
	payload *Payload
	txnID   string // purchase: one purchase per transaction
}

func (h *handler) build(m *processors.Message) (*built, error) {
	switch m.Subject {
	case streams.SubjectLeadCreated:
		var l events.Lead
		if err := json.Unmarshal(m.Data, &l); err != nil {
			return nil, fmt.Errorf("lead event: %w", err)
		}
		if l.LeadID == "" && l.Contact.ID == "" {
			return nil, errors.New("lead event without lead or contact id")
		}
		if l.CreatedAt.IsZero() && l.ReceivedAt.IsZero() {
			l.ReceivedAt = h.received(m)
		}
		return &built{payload: LeadPayload(EventGenerateLead, &l)}, nil
	case streams.SubjectPaymentSucceeded, streams.SubjectPaymentFailed:
		var pm events.Payment
		if err := json.Unmarshal(m.Data, &pm); err != nil {
			return nil, fmt.Errorf("payment event: %w", err)
		}
		if pm.TransactionID == "" {
			return nil, errors.New("payment event without transaction_id")
		}
		if pm.ReceivedAt.IsZero() {
			pm.ReceivedAt = h.received(m)
		}
		if m.Subject == streams.SubjectPaymentFailed {
			return &built{payload: FailedPayload(EventPaymentFailed, &pm)}, nil
		}
		return &built{payload: PurchasePayload(EventPurchase, &pm), txnID: pm.TransactionID}, nil
	}
	return nil, nil
}

// received is when the gateway received the source event (now if unknown).
func (h *handler) received(m *processors.Message) time.Time {
	if !m.Received.IsZero() {
		return m.Received
	}
	return h.cfg.Now()
}

// orderKeys serialises the events of one transaction, so a purchase
// delivered twice under different event ids is sent once.
func (h *handler) orderKeys(m *processors.Message) []string {
	if m.Subject != streams.SubjectPaymentSucceeded && m.Subject != streams.SubjectPaymentFailed {
		return nil
	}
	var pm struct {
		TransactionID string `json:"transaction_id"`
	}
	if json.Unmarshal(m.Data, &pm) != nil || pm.TransactionID == "" {
		return nil
	}
	return []string{"txn:" + pm.TransactionID}
}

func (h *handler) handle(ctx context.Context, m *processors.Message) error {
	if !h.cfg.Configured() {
		m.SetOutcome(processors.StatusSkipped, map[string]string{"reason": "GA4 not configured (GA4_MEASUREMENT_ID, GA4_API_SECRET)"})
		return nil
	}
	b, err := h.build(m)
	if err != nil {
		return processors.Reject(err)
	}
	if b == nil {
		m.SetOutcome(processors.StatusUnhandled, map[string]string{"subject": m.Subject})
		return nil
	}
	rec := newRecord(m, b, h.cfg.Debug)
	prior, err := h.priorSend(ctx, rec)
	if err != nil {
		return err
	}
	if prior != "" {
		m.SetOutcome(processors.StatusSkipped, map[string]string{"reason": prior, "event": rec.name})
		return nil
	}
	if age := h.cfg.Now().Sub(time.UnixMicro(b.payload.TimestampMicros)); age > MaxBackdate-expiryMargin {
		// GA4 would drop it silently (a replay of old history, an outage
		// longer than the window): recorded, not sent, not dead-lettered.
		rec.expire(age)
		if err := h.store.Apply(ctx, Name, m, func(ctx context.Context, tx *processors.Tx) error {
			return rec.upsert(ctx, tx)
		}); err != nil && !errors.Is(err, processors.ErrAlreadyProcessed) {
			return err
		}
		m.SetOutcome(processors.StatusSkipped, map[string]string{"reason": "older than GA4's 72h backdating window",
			"event": rec.name, "age": age.Round(time.Second).String()})
		return nil
	}
	res, serr := h.send.Send(ctx, b.payload)
	if serr != nil {
		if IsValidationError(serr) {
			rec.fail(res)
			if err := h.recordInvalid(ctx, rec); err != nil {
				return fmt.Errorf("%w (recording it failed: %w)", serr, err)
			}
		}
		return serr
	}
	rec.ok(res)
	err = h.store.Apply(ctx, Name, m, func(ctx context.Context, tx *processors.Tx) error {
		return rec.upsert(ctx, tx)
	})
	if errors.Is(err, processors.ErrAlreadyProcessed) {
		// Sent again after a debug-mode validation: keep the record current.
		err = rec.upsert(ctx, h.store.DB)
	}
	if err != nil {
		return err
	}
	m.SetOutcome("", map[string]any{"event": rec.name, "client_id": rec.clientID, "debug": rec.debug,
		"status": rec.status, "http_status": res.Status})
	return nil
}
