package main

import (
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/payments"
)

// paymentsName is the processor's key in registry().
const paymentsName = payments.Name

// Payments settings (environment):
//
//	STRIPE_SECRET_KEY  secret (sk_…) or restricted (rk_…, PaymentMethods read) key; when set, a payment's
//	                   PaymentMethod is retrieved from the Stripe API if the event does not say its type.
//	                   Unset: the type comes from the event (payment_method_types[0]).
//	STRIPE_API_BASE    Stripe API root (default https://api.stripe.com)
//
// Stripe events belong to the --workspace workspace unless they carry
// Hs-Workspace-Id (the gateway always sets it).
func paymentsConfig(getenv func(string) string, workspace string) (payments.Config, error) {
	cfg := payments.DefaultConfig()
	if workspace != "" {
		cfg.Workspace = workspace
	}
	cfg.StripeSecretKey = strings.TrimSpace(getenv("STRIPE_SECRET_KEY"))
	if u := strings.TrimSpace(getenv("STRIPE_API_BASE")); u != "" {
		cfg.StripeAPIBase = strings.TrimRight(u, "/")
	}
	cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	return cfg, cfg.Validate()
}

// newPayments builds the payments processor's consumer (payments on INGEST).
func newPayments(a *app) ([]processors.Processor, error) {
	cfg, err := paymentsConfig(os.Getenv, a.s.workspace)
	if err != nil {
		return nil, err
	}
	if cfg.StripeSecretKey == "" {
		a.log.Info("payments: STRIPE_SECRET_KEY not set; payment method types come from the events only")
	}
	p, err := payments.New(a.store(), cfg)
	if err != nil {
		return nil, err
	}
	return []processors.Processor{p}, nil
}
