package gateway

import (
	"errors"
	"time"
)

// Config holds the gateway's settings. Start from DefaultConfig.
type Config struct {
	// Workspace owns events from the global routes (Stripe, Facebook,
	// MailerLite, forms). Env HOOKSTREAM_WORKSPACE, default "default".
	Workspace string
	// BodyLimit caps request bodies (413 above). Default 1 MiB.
	BodyLimit int64
	// PublishTimeout bounds the wait for the stream's PubAck (503 after).
	PublishTimeout time.Duration
	// RetryAfter is what 503 and 429 answers tell senders to wait.
	RetryAfter time.Duration

	// StripeSecrets verify Stripe-Signature; several allow rotation.
	StripeSecrets []string
	// FacebookVerifyToken answers the hub challenge; FacebookAppSecret
	// verifies X-Hub-Signature-256.
	FacebookVerifyToken string
	FacebookAppSecret   string
	// MailerLiteSecret verifies the Signature header.
	MailerLiteSecret string

	// CORSOrigins may post forms from a browser ("*" allows any).
	CORSOrigins []string
	// FormRate and FormBurst limit form posts per client IP (429 above).
	FormRate  float64
	FormBurst int
	// WebhookRate and WebhookBurst are the per-webhook default limits when
	// a webhook sets none.
	WebhookRate  float64
	WebhookBurst int
	// WebhookCacheTTL is how long a webhook's configuration is cached
	// (changes also invalidate it at once through Postgres NOTIFY).
	WebhookCacheTTL time.Duration
	// DefaultRegion parses phone numbers written without a country code
	// (ISO 3166 code, default "US").
	DefaultRegion string
	// MaxWait caps ?wait= on lead-vendor webhooks.
	MaxWait time.Duration
	// Now is the clock (tests inject one).
	Now func() time.Time
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Workspace:       "default",
		BodyLimit:       1 << 20,
		PublishTimeout:  5 * time.Second,
		RetryAfter:      5 * time.Second,
		FormRate:        1,
		FormBurst:       10,
		WebhookRate:     1000,
		WebhookBurst:    2000,
		WebhookCacheTTL: 60 * time.Second,
		DefaultRegion:   "US",
		MaxWait:         10 * time.Second,
		Now:             time.Now,
	}
}

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case c.Workspace == "":
		return errors.New("gateway: workspace must not be empty")
	case c.BodyLimit <= 0:
		return errors.New("gateway: body limit must be positive")
	case c.PublishTimeout <= 0:
		return errors.New("gateway: publish timeout must be positive")
	case c.RetryAfter < time.Second:
		// Retry-After is whole seconds; 0 would drop the header from 503/429.
		return errors.New("gateway: retry-after must be at least 1s")
	case c.FormRate <= 0 || c.FormBurst <= 0 || c.WebhookRate <= 0 || c.WebhookBurst <= 0:
		return errors.New("gateway: rate limits must be positive")
	case c.Now == nil:
		return errors.New("gateway: clock must be set")
	}
	return nil
}
