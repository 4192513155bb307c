package main

import (
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/admin"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/notify"
)

// notifyName is the processor's key in registry().
const notifyName = notify.Name

// Notification settings (environment); a channel without its settings is
// skipped:
//
//	SMTP_URL              smtp://user:pass@host:587 (STARTTLS when offered) or smtps://…:465
//	NOTIFY_EMAIL_FROM     sender address ("Hookstream <alerts@example.com>")
//	NOTIFY_EMAIL_TO       comma-separated recipients (rules may name others)
//	SLACK_WEBHOOK_URL     Slack-compatible incoming webhook
//	TWILIO_API_URL        default https://api.twilio.com
//	TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM
//	NOTIFY_SMS_TO         comma-separated E.164 numbers (rules may name others)
//	NOTIFY_BATCH_SIZE     notifications per message (default 5)
//	NOTIFY_BATCH_WINDOW   longest a notification waits for company (default 10s)
//	NOTIFY_RETRY_BACKOFF  first retry delay (default 5s; 3 attempts, then DLQ)
//	NOTIFY_MAX_AGE        events older than this are not announced (default 24h)
func newNotify(a *app) ([]processors.Processor, error) {
	cfg, err := notify.ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	cfg.Log = a.log
	n, err := notify.New(a.store(), cfg)
	if err != nil {
		return nil, err
	}
	a.log.Info("notify: channels with settings", "channels", strings.Join(n.Configured(), ","))
	return n.Processors(), nil
}

// apiTokenEnv holds the admin API's bearer token. It is read from the
// environment only: flags show in ps.
const apiTokenEnv = "HOOKSTREAM_ADMIN_TOKEN"

// newAdminAPI builds the /api/ handler; live feeds end when the HTTP server
// shuts down.
func (a *app) newAdminAPI() *admin.API {
	api := admin.New(admin.Config{Token: os.Getenv(apiTokenEnv), DB: a.pool, JS: a.js, Log: a.log})
	if os.Getenv(apiTokenEnv) == "" {
		a.log.Info("admin API off: set " + apiTokenEnv + " to enable /api/")
	}
	return api
}

// mountAdmin mounts the admin API on the gateway.
func (a *app) mountAdmin(g *gateway.Gateway) *admin.API {
	api := a.newAdminAPI()
	g.Handle(admin.Pattern, api)
	return api
}

var (
	procMetricsMu sync.Mutex
	procMetrics   = map[*app]*processors.Metrics{}
)

// observe returns the Runner.Observe hook feeding the per-processor
// Prometheus series, registering them (and the JetStream consumer lag
// collector) on the app's registry the first time.
func (a *app) observe() func(processors.Outcome) {
	procMetricsMu.Lock()
	defer procMetricsMu.Unlock()
	pm := procMetrics[a]
	if pm == nil {
		pm = processors.NewMetrics(a.reg)
		a.reg.MustRegister(&processors.ConsumerCollector{JS: a.js, Timeout: 2 * time.Second})
		procMetrics[a] = pm
	}
	return pm.Observe
}
