package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/mailerlite"
	"github.com/hookstream/hookstream/processors/outbound"
)

// mailerliteName is the processor's key in registry().
const mailerliteName = mailerlite.Name

// MailerLite settings (environment):
//
//	MAILERLITE_API_URL            API base (default https://connect.mailerlite.com/api)
//	MAILERLITE_API_KEY            API token; unset: contact and payment events are skipped
//	MAILERLITE_GROUP_ID           group consenting contacts join
//	MAILERLITE_CUSTOMER_GROUP_ID  onboarding group a paying customer joins; unset: payments skipped
//	MAILERLITE_SUBSCRIBER_STATUS  status sent on upsert: active (default) or unconfirmed (double opt-in)
//	MAILERLITE_RATE_LIMIT         requests per minute this process may send (default 120)
func mailerliteConfig(getenv func(string) string) (mailerlite.Config, error) {
	cfg := mailerlite.DefaultConfig()
	if u := strings.TrimSpace(getenv("MAILERLITE_API_URL")); u != "" {
		cfg.APIURL = strings.TrimRight(u, "/")
	}
	cfg.APIKey = strings.TrimSpace(getenv("MAILERLITE_API_KEY"))
	cfg.GroupID = strings.TrimSpace(getenv("MAILERLITE_GROUP_ID"))
	cfg.CustomerGroupID = strings.TrimSpace(getenv("MAILERLITE_CUSTOMER_GROUP_ID"))
	if s := strings.TrimSpace(getenv("MAILERLITE_SUBSCRIBER_STATUS")); s != "" {
		cfg.SubscriberStatus = s
	}
	if s := strings.TrimSpace(getenv("MAILERLITE_RATE_LIMIT")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("MAILERLITE_RATE_LIMIT=%q: want a positive number of requests per minute", s)
		}
		cfg.RateLimit = n
	}
	return cfg, cfg.Validate()
}

// newMailerLite builds the mailerlite processor's consumers (mailerlite on
// EVENTS, mailerlite-ingest on INGEST), sharing one rate limiter.
func newMailerLite(a *app) ([]processors.Processor, error) {
	cfg, err := mailerliteConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	b := outbound.NewBreaker(5, 30*time.Second, nil)
	cfg.Client = outbound.New(mailerlite.Name, 10*time.Second, b)
	if err := outbound.RegisterBreaker(a.reg, mailerlite.Name, b); err != nil {
		return nil, err
	}
	if !cfg.Configured() {
		a.log.Info("mailerlite: MAILERLITE_API_KEY not set; contact and payment events are skipped, MailerLite webhooks still update consent")
	}
	return mailerlite.New(a.store(), cfg)
}
