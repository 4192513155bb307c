// Package payments is the payments processor, the only code that parses
// Stripe events. It consumes ingest.stripe.> (durable "payments" on INGEST)
// and:
//
//   - handles payment_intent.succeeded, payment_intent.payment_failed,
//     charge.dispute.created, invoice.payment_succeeded and
//     customer.subscription.created, projecting payments, disputes, invoices
//     and subscriptions and emitting events.payment.succeeded|failed,
//     events.dispute.created, events.invoice.paid and
//     events.subscription.created (bodies in processors/events);
//   - records every Stripe event in stripe_events, keyed by Stripe's id; any
//     other type is stored there and counted as "unhandled", never rejected
//     or retried;
//   - accepts every Stripe API version: objects are decoded with stripe-go
//     v76's types as far as they fit and the version is recorded;
//   - keeps each object's newest state by the Stripe event's created (then a
//     status rank, then the event id), so out-of-order and repeated delivery
//     converge; link fields (contact, lead, e-mail, utm …) keep the newest
//     non-empty value whatever the arrival order;
//   - links objects to a contact by metadata.lead_id (a leads.id,
//     external_lead_id or submission_id in the event's workspace), else by
//     e-mail (metadata.email, receipt_email, the customer's or charge's
//     e-mail) among the workspace's contacts;
//   - finds the payment method type in the event (an expanded payment method
//     or charge), else — with a Stripe secret key — retrieves the
//     PaymentMethod from the Stripe API (cached in stripe_payment_methods),
//     else takes payment_method_types[0].
//
// A Stripe event is applied once: the processed ledger absorbs redelivery of
// the same message, stripe_events a second message carrying the same Stripe
// event (a sender retry after the INGEST dedup window). Emitted events carry
// the Nats-Msg-Id "<kind>:stripe:<evt id>".
package payments

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// Name is the processor's and its durable consumer's name.
const Name = "payments"

// Handled Stripe event types.
const (
	TypePaymentSucceeded    = "payment_intent.succeeded"
	TypePaymentFailed       = "payment_intent.payment_failed"
	TypeDisputeCreated      = "charge.dispute.created"
	TypeInvoicePaid         = "invoice.payment_succeeded"
	TypeSubscriptionCreated = "customer.subscription.created"
)

// HandledTypes lists the Stripe event types the processor acts on.
var HandledTypes = []string{TypePaymentSucceeded, TypePaymentFailed, TypeDisputeCreated, TypeInvoicePaid, TypeSubscriptionCreated}

// DefaultStripeAPIBase is the real Stripe API (STRIPE_API_BASE).
const DefaultStripeAPIBase = "https://api.stripe.com"

// Config configures the processor.
type Config struct {
	// Workspace owns Stripe events that carry no Hs-Workspace-Id header.
	// Default "default".
	Workspace string
	// StripeSecretKey (STRIPE_SECRET_KEY, sk_… or a restricted rk_… key with
	// read access to PaymentMethods) enables retrieving a payment's
	// PaymentMethod when the event does not say its type. Empty: the type
	// comes from the event only.
	StripeSecretKey string
	// StripeAPIBase (STRIPE_API_BASE) is the Stripe API root, without /v1.
	// Default DefaultStripeAPIBase.
	StripeAPIBase string
	// HTTP is the client for the Stripe API; a timeout is required.
	// Default: 10 s timeout.
	HTTP *http.Client
	// LeadWaitAttempts: an event whose metadata.lead_id names no lead yet
	// (the lead may still be in flight, or a rebuild's contacts processor is
	// behind) is retried until this delivery attempt, then applied without
	// the lead (linked by e-mail if possible). Default 3; 1 does not wait.
	LeadWaitAttempts int
	// LeadWaitDelay is the delay between those attempts. Default 2 s.
	LeadWaitDelay time.Duration
	// LookupAttempts: a PaymentMethod retrieval failing transiently (network,
	// 429, 5xx) is retried until this delivery attempt, then the type is
	// taken from the event. Default 4.
	LookupAttempts int
	// Concurrency bounds handlers running at once. Default 8.
	Concurrency int
	// MaxDeliver is the number of attempts before dead-lettering. Default 20 (with the runner's backoff, ~13 min of outage).
	MaxDeliver int
}

// DefaultConfig returns the defaults (no Stripe API key).
func DefaultConfig() Config {
	return Config{
		Workspace:        "default",
		StripeAPIBase:    DefaultStripeAPIBase,
		HTTP:             &http.Client{Timeout: 10 * time.Second},
		LeadWaitAttempts: 3,
		LeadWaitDelay:    2 * time.Second,
		LookupAttempts:   4,
		Concurrency:      8,
		MaxDeliver:       20,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Workspace == "":
		return errors.New("payments: workspace required")
	case c.HTTP == nil || c.HTTP.Timeout <= 0:
		return errors.New("payments: an HTTP client with a timeout is required")
	case c.LeadWaitAttempts < 1 || c.LookupAttempts < 1:
		return errors.New("payments: LeadWaitAttempts and LookupAttempts must be at least 1")
	case c.LeadWaitDelay < 0:
		return errors.New("payments: LeadWaitDelay must not be negative")
	case c.Concurrency < 1 || c.MaxDeliver < 1:
		return errors.New("payments: Concurrency and MaxDeliver must be at least 1")
	}
	if c.StripeSecretKey != "" {
		if !strings.HasPrefix(c.StripeSecretKey, "sk_") && !strings.HasPrefix(c.StripeSecretKey, "rk_") {
			return errors.New("payments: STRIPE_SECRET_KEY must be a secret (sk_…) or restricted (rk_…) key")
		}
		u, err := url.Parse(c.StripeAPIBase)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("payments: STRIPE_API_BASE %q is not an http(s) URL", c.StripeAPIBase)
		}
	}
	return nil
}

// Payments is the payments processor.
type Payments struct{ p processors.Processor }

// Processors is its one consumer (payments on INGEST).
func (p *Payments) Processors() []processors.Processor { return []processors.Processor{p.p} }

// New builds the payments processor.
func New(deps processors.Deps, cfg Config) (*Payments, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &handler{store: deps.Store(), cfg: cfg}
	if cfg.StripeSecretKey != "" {
		h.pm = newStripeLookup(cfg)
	} else {
		deps.Logger().Info("payments: STRIPE_SECRET_KEY not set; payment method types come from the events only")
	}
	return &Payments{p: processors.Processor{
		Name:        Name,
		Stream:      streams.StreamIngest,
		Subjects:    []string{streams.SubjectIngestStripe + ".>"},
		Handler:     h.handle,
		OrderKeys:   orderKeys,
		Concurrency: cfg.Concurrency,
		MaxDeliver:  cfg.MaxDeliver,
		AckWait:     30 * time.Second,
	}}, nil
}
