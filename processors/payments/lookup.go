package payments

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/hookstream/hookstream/processors"
	paymentsdb "github.com/hookstream/hookstream/projections/payments"
)

// pmLookup retrieves a PaymentMethod's type from the Stripe API.
type pmLookup interface {
	paymentMethodType(ctx context.Context, id string) (string, error)
}

type stripeLookup struct{ api *client.API }

func newStripeLookup(cfg Config) *stripeLookup {
	base := strings.TrimRight(cfg.StripeAPIBase, "/")
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(base),
		HTTPClient:        cfg.HTTP,
		MaxNetworkRetries: stripe.Int64(0), // the runner retries
		EnableTelemetry:   stripe.Bool(false),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return &stripeLookup{api: client.New(cfg.StripeSecretKey, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})}
}

func (s *stripeLookup) paymentMethodType(ctx context.Context, id string) (string, error) {
	p := &stripe.PaymentMethodParams{}
	p.Context = ctx
	pm, err := s.api.PaymentMethods.Get(id, p)
	if err != nil {
		return "", err
	}
	return string(pm.Type), nil
}

// transient reports whether a Stripe API error is worth retrying: network
// errors, 408, 429 and 5xx.
func transient(err error) bool {
	var se *stripe.Error
	if errors.As(err, &se) {
		s := se.HTTPStatusCode
		return s == 0 || s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500
	}
	return true
}

// paymentMethodType finds the payment method type of a PaymentIntent:
// expanded payment method or latest charge in the event; else, with an API
// key, the retrieved PaymentMethod (cached); else payment_method_types[0],
// else processing.type. note explains a fallback taken after an API error.
func (h *handler) paymentMethodType(ctx context.Context, m *processors.Message, pi *stripe.PaymentIntent) (typ, note string, err error) {
	if pi.PaymentMethod != nil && pi.PaymentMethod.Type != "" {
		return string(pi.PaymentMethod.Type), "", nil
	}
	if c := pi.LatestCharge; c != nil && c.PaymentMethodDetails != nil && c.PaymentMethodDetails.Type != "" {
		return string(c.PaymentMethodDetails.Type), "", nil
	}
	if pi.PaymentMethod != nil && pi.PaymentMethod.ID != "" && h.pm != nil {
		id := pi.PaymentMethod.ID
		typ, err := paymentsdb.PaymentMethodType(ctx, h.store.DB, id)
		if err != nil || typ != "" {
			return typ, "", err
		}
		typ, err = h.pm.paymentMethodType(ctx, id)
		switch {
		case err == nil && typ != "":
			if err := paymentsdb.SavePaymentMethodType(ctx, h.store.DB, id, typ); err != nil {
				return "", "", err
			}
			return typ, "", nil
		case err != nil && transient(err) && m.Attempt < h.cfg.LookupAttempts:
			return "", "", processors.RetryAfter(fmt.Errorf("retrieving payment method %s: %w", id, err), 0)
		case err != nil:
			note = fmt.Sprintf("payment method %s not retrieved (%v); type taken from the event", id, err)
		}
	}
	if len(pi.PaymentMethodTypes) > 0 {
		return pi.PaymentMethodTypes[0], note, nil
	}
	if pi.Processing != nil && pi.Processing.Type != "" {
		return string(pi.Processing.Type), note, nil
	}
	return "", note, nil
}
