package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/processors/crm"
	"github.com/hookstream/hookstream/processors/ga4"
	"github.com/hookstream/hookstream/processors/mailerlite"
	"github.com/hookstream/hookstream/processors/notify"
	"github.com/hookstream/hookstream/processors/payments"
)

// envVar is one setting read from the environment only (secrets never come
// from flags, which other users can read in ps).
type envVar struct {
	name string
	// proc is the processor the setting belongs to; "" is the gateway's.
	// A process reads only the settings of what it runs, so a processor's
	// bad setting never stops a gateway.
	proc string
	help string
	set  func(c *pipeline.Config, v string) error
}

// envVars lists every environment setting of serve, gateway and process in
// the order they are read (GA4_ENDPOINT after GA4_REGION: it wins) and
// printed by --help.
func envVars() []envVar {
	return []envVar{
		{"STRIPE_WEBHOOK_SECRET", "", "Stripe signing secret(s) of /webhooks/stripe (comma-separated while rotating)",
			func(c *pipeline.Config, v string) error { c.HTTP.StripeSecrets = verify.SplitSecrets(v); return nil }},
		{"FACEBOOK_VERIFY_TOKEN", "", "token Facebook's subscription handshake must echo", raw(func(c *pipeline.Config) *string { return &c.HTTP.FacebookVerifyToken })},
		{"FACEBOOK_APP_SECRET", "", "Facebook app secret checking X-Hub-Signature-256", raw(func(c *pipeline.Config) *string { return &c.HTTP.FacebookAppSecret })},
		{"MAILERLITE_WEBHOOK_SECRET", "", "MailerLite webhook signing secret", raw(func(c *pipeline.Config) *string { return &c.HTTP.MailerLiteSecret })},
		{"HOOKSTREAM_ADMIN_TOKEN", "", "bearer token of the admin API at /api/; unset: the API is off", raw(func(c *pipeline.Config) *string { return &c.Admin.Token })},

		{"FACEBOOK_GRAPH_URL", contacts.Name, "Facebook Graph API base (default https://graph.facebook.com/v21.0)", baseURL(func(c *pipeline.Config) *string { return &c.Contacts.GraphURL })},
		{"FACEBOOK_PAGE_TOKEN", contacts.Name, "page access token for lead retrieval; unset: Facebook leads are dead-lettered", raw(func(c *pipeline.Config) *string { return &c.Contacts.PageToken })},

		{"STRIPE_SECRET_KEY", payments.Name, "sk_… or rk_… key: look up a payment's method type when the event lacks it", text(func(c *pipeline.Config) *string { return &c.Payments.StripeSecretKey })},
		{"STRIPE_API_BASE", payments.Name, "Stripe API root (default https://api.stripe.com)", baseURL(func(c *pipeline.Config) *string { return &c.Payments.StripeAPIBase })},

		{"CRM_API_ENDPOINT", crm.Name, "CRM API root; with CRM_API_KEY unset, leads and purchases are skipped", baseURL(func(c *pipeline.Config) *string { return &c.CRM.Endpoint })},
		{"CRM_API_KEY", crm.Name, "CRM bearer token", text(func(c *pipeline.Config) *string { return &c.CRM.APIKey })},
		{"CRM_API_VERSION", crm.Name, "sent as X-API-Version (default " + crm.DefaultAPIVersion + ")", text(func(c *pipeline.Config) *string { return &c.CRM.APIVersion })},
		{"CRM_TIMEOUT", crm.Name, "per-call timeout (default 10s)", duration(func(c *pipeline.Config) *time.Duration { return &c.CRM.Timeout })},
		{"CRM_BREAKER_THRESHOLD", crm.Name, "consecutive transient failures that open the circuit (default 5)", count(func(c *pipeline.Config) *int { return &c.CRM.BreakerThreshold }, "failures")},
		{"CRM_BREAKER_COOLDOWN", crm.Name, "how long the circuit stays open before one probe (default 30s)", duration(func(c *pipeline.Config) *time.Duration { return &c.CRM.BreakerCooldown })},

		{"GA4_MEASUREMENT_ID", ga4.Name, "web data stream id (G-…); unset: events are skipped", text(func(c *pipeline.Config) *string { return &c.GA4.MeasurementID })},
		{"GA4_API_SECRET", ga4.Name, "Measurement Protocol API secret; unset: events are skipped", text(func(c *pipeline.Config) *string { return &c.GA4.APISecret })},
		{"GA4_REGION", ga4.Name, "eu: collect at " + ga4.EUEndpoint + " (GA4_ENDPOINT, when set, wins)",
			func(c *pipeline.Config, v string) error {
				ep, err := ga4.RegionEndpoint(v)
				c.GA4.Endpoint = ep
				return err
			}},
		{"GA4_ENDPOINT", ga4.Name, "collection base URL (default " + ga4.DefaultEndpoint + ")", baseURL(func(c *pipeline.Config) *string { return &c.GA4.Endpoint })},
		{"GA4_DEBUG", ga4.Name, "true: send to the validation server only (nothing reaches reports)", boolean(func(c *pipeline.Config) *bool { return &c.GA4.Debug })},
		{"GA4_BREAKER_THRESHOLD", ga4.Name, "consecutive transient failures that open the circuit (default 5)", count(func(c *pipeline.Config) *int { return &c.GA4.BreakerThreshold }, "failures")},
		{"GA4_BREAKER_COOLDOWN", ga4.Name, "how long the circuit stays open before one probe (default 30s)", duration(func(c *pipeline.Config) *time.Duration { return &c.GA4.BreakerCooldown })},

		{"MAILERLITE_API_URL", mailerlite.Name, "API base (default " + mailerlite.DefaultAPIURL + ")", baseURL(func(c *pipeline.Config) *string { return &c.MailerLite.APIURL })},
		{"MAILERLITE_API_KEY", mailerlite.Name, "API token; unset: contact and payment events are skipped", text(func(c *pipeline.Config) *string { return &c.MailerLite.APIKey })},
		{"MAILERLITE_GROUP_ID", mailerlite.Name, "group consenting contacts join", text(func(c *pipeline.Config) *string { return &c.MailerLite.GroupID })},
		{"MAILERLITE_CUSTOMER_GROUP_ID", mailerlite.Name, "onboarding group a paying customer joins; unset: payments are skipped", text(func(c *pipeline.Config) *string { return &c.MailerLite.CustomerGroupID })},
		{"MAILERLITE_SUBSCRIBER_STATUS", mailerlite.Name, "status sent on upsert: active (default) or unconfirmed (double opt-in)", text(func(c *pipeline.Config) *string { return &c.MailerLite.SubscriberStatus })},
		{"MAILERLITE_RATE_LIMIT", mailerlite.Name, "requests per minute this process may send (default 120)", count(func(c *pipeline.Config) *int { return &c.MailerLite.RateLimit }, "requests per minute")},
		{"MAILERLITE_BREAKER_THRESHOLD", mailerlite.Name, "consecutive transient failures that open the circuit (default 5)", count(func(c *pipeline.Config) *int { return &c.MailerLite.BreakerThreshold }, "failures")},
		{"MAILERLITE_BREAKER_COOLDOWN", mailerlite.Name, "how long the circuit stays open before one probe (default 30s)", duration(func(c *pipeline.Config) *time.Duration { return &c.MailerLite.BreakerCooldown })},

		{"SMTP_URL", notify.Name, "smtp://user:pass@host:587 (STARTTLS when offered) or smtps://…:465",
			func(c *pipeline.Config, v string) error {
				s, err := notify.ParseSMTPURL(v)
				c.Notify.SMTP = s
				return err
			}},
		{"NOTIFY_EMAIL_FROM", notify.Name, `sender address ("Hookstream <alerts@example.com>")`, text(func(c *pipeline.Config) *string { return &c.Notify.EmailFrom })},
		{"NOTIFY_EMAIL_TO", notify.Name, "comma-separated recipients (rules may name others)", list(func(c *pipeline.Config) *[]string { return &c.Notify.EmailTo })},
		{"SLACK_WEBHOOK_URL", notify.Name, "Slack-compatible incoming webhook", text(func(c *pipeline.Config) *string { return &c.Notify.SlackURL })},
		{"TWILIO_API_URL", notify.Name, "default https://api.twilio.com", raw(func(c *pipeline.Config) *string { return &twilio(c).APIURL })},
		{"TWILIO_ACCOUNT_SID", notify.Name, "Twilio account; SMS needs it, TWILIO_AUTH_TOKEN and TWILIO_FROM", raw(func(c *pipeline.Config) *string { return &twilio(c).AccountSID })},
		{"TWILIO_AUTH_TOKEN", notify.Name, "Twilio auth token", raw(func(c *pipeline.Config) *string { return &twilio(c).AuthToken })},
		{"TWILIO_FROM", notify.Name, "sending number", raw(func(c *pipeline.Config) *string { return &twilio(c).From })},
		{"NOTIFY_SMS_TO", notify.Name, "comma-separated E.164 numbers (rules may name others)", list(func(c *pipeline.Config) *[]string { return &c.Notify.SMSTo })},
		{"NOTIFY_BATCH_SIZE", notify.Name, "notifications per message (default 5)", count(func(c *pipeline.Config) *int { return &c.Notify.BatchSize }, "notifications")},
		{"NOTIFY_BATCH_WINDOW", notify.Name, "longest a notification waits for company (default 10s)", anyDuration(func(c *pipeline.Config) *time.Duration { return &c.Notify.BatchWindow })},
		{"NOTIFY_RETRY_BACKOFF", notify.Name, "first retry delay (default 5s; 3 attempts, then DLQ)", anyDuration(func(c *pipeline.Config) *time.Duration { return &c.Notify.RetryBackoff })},
		{"NOTIFY_MAX_AGE", notify.Name, "events older than this are not announced (default 24h; negative: no limit)", anyDuration(func(c *pipeline.Config) *time.Duration { return &c.Notify.MaxAge })},
	}
}

// readEnv applies the settings of the gateway (when gateway) and of the
// processors in procs.
func readEnv(c *pipeline.Config, getenv func(string) string, gateway bool, procs []string) error {
	want := map[string]bool{"": gateway}
	for _, p := range procs {
		want[p] = true
	}
	for _, e := range envVars() {
		if !want[e.proc] {
			continue
		}
		if v := getenv(e.name); v != "" {
			if err := e.set(c, v); err != nil {
				return fmt.Errorf("%s=%q: %w", e.name, v, err)
			}
		}
	}
	// SMS is configured by an account and its token together.
	if t := c.Notify.Twilio; t != nil && (t.AccountSID == "" || t.AuthToken == "") {
		c.Notify.Twilio = nil
	}
	return nil
}

// printEnv lists the environment settings of the gateway and/or the
// processors for --help.
func printEnv(w io.Writer, gateway, procs bool) {
	fmt.Fprintln(w, "\nEnvironment:")
	for _, e := range envVars() {
		if (e.proc == "" && gateway) || (e.proc != "" && procs) {
			fmt.Fprintf(w, "  %s\n      %s\n", e.name, e.help)
		}
	}
}

func twilio(c *pipeline.Config) *notify.TwilioConfig {
	if c.Notify.Twilio == nil {
		c.Notify.Twilio = &notify.TwilioConfig{APIURL: "https://api.twilio.com"}
	}
	return c.Notify.Twilio
}

// Setters of envVar: each parses a value into one field.

func raw(f func(*pipeline.Config) *string) func(*pipeline.Config, string) error {
	return func(c *pipeline.Config, v string) error { *f(c) = v; return nil }
}

func text(f func(*pipeline.Config) *string) func(*pipeline.Config, string) error {
	return func(c *pipeline.Config, v string) error { *f(c) = strings.TrimSpace(v); return nil }
}

func baseURL(f func(*pipeline.Config) *string) func(*pipeline.Config, string) error {
	return func(c *pipeline.Config, v string) error {
		*f(c) = strings.TrimRight(strings.TrimSpace(v), "/")
		return nil
	}
}

func list(f func(*pipeline.Config) *[]string) func(*pipeline.Config, string) error {
	return func(c *pipeline.Config, v string) error { *f(c) = notify.SplitList(v); return nil }
}

func duration(f func(*pipeline.Config) *time.Duration) func(*pipeline.Config, string) error {
	return func(c *pipeline.Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 10s")
		}
		*f(c) = d
		return nil
	}
}

func anyDuration(f func(*pipeline.Config) *time.Duration) func(*pipeline.Config, string) error {
	return func(c *pipeline.Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want a duration such as 10s")
		}
		*f(c) = d
		return nil
	}
}

func count(f func(*pipeline.Config) *int, unit string) func(*pipeline.Config, string) error {
	return func(c *pipeline.Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return fmt.Errorf("want a positive number of %s", unit)
		}
		*f(c) = n
		return nil
	}
}

func boolean(f func(*pipeline.Config) *bool) func(*pipeline.Config, string) error {
	return func(c *pipeline.Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		*f(c) = b
		return nil
	}
}
