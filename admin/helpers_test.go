package admin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/hookstream/hookstream/admin"
	"github.com/hookstream/hookstream/internal/pipelinetest"
	pipelineconf "github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/boards"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/processors/notify"
	"github.com/hookstream/hookstream/processors/payments"
	"github.com/hookstream/hookstream/projections/pgtest"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const adminToken = "admin-token-for-tests-0123456789"

// pipeline is pipelinetest's gateway with the admin API mounted (as serve
// mounts it) and, unless noProcessors, the contacts, boards, payments and
// notify processors.
type pipeline struct {
	*pipelinetest.Env
	api *admin.API
}

type pipelineOpts struct {
	noProcessors bool
	token        string // "-": no token (the API is off); "": adminToken
}

func newPipeline(t *testing.T, o pipelineOpts) *pipeline {
	t.Helper()
	token := o.token
	switch token {
	case "-":
		token = ""
	case "":
		token = adminToken
	}
	// The admin API as serve mounts it: on the gateway, from the config.
	env := pipelinetest.New(t, pipelinetest.Options{Pipeline: func(c *pipelineconf.Config) {
		c.Admin.Token, c.Admin.Heartbeat = token, 500*time.Millisecond
	}})
	p := &pipeline{Env: env, api: env.Admin}
	if o.noProcessors {
		return p
	}
	pc := payments.DefaultConfig()
	pc.LeadWaitAttempts, pc.LeadWaitDelay = 1, 0
	nc := notify.DefaultConfig()
	nc.BatchWindow = 300 * time.Millisecond
	var procs []processors.Processor
	procs = append(procs, env.Must(contacts.New(env.Deps(), contacts.DefaultConfig()))...)
	procs = append(procs, env.Must(boards.New(env.Deps(), boards.DefaultConfig()))...)
	procs = append(procs, env.Must(payments.New(env.Deps(), pc))...)
	procs = append(procs, env.Must(notify.New(env.Deps(), nc))...)
	env.Start(procs...)
	return p
}

// postLead posts body to the webhook, signed, with webhook-id id, and
// returns the event id.
func (p *pipeline) postLead(wh *webhooksdb.Webhook, id string, body []byte) string {
	p.T.Helper()
	if r := p.PostWebhook(wh, body, pipelinetest.WebhookPost{ID: id}); r.Status != http.StatusAccepted && r.Status != http.StatusOK {
		p.T.Fatalf("post lead: %d %s", r.Status, r.Body)
	}
	return pipelinetest.EventID(wh, id)
}

// publishRaw stores a webhook post in INGEST as the gateway would, without
// its validation, and returns the event id.
func (p *pipeline) publishRaw(wh *webhooksdb.Webhook, id string, body []byte) string {
	p.T.Helper()
	eventID := pipelinetest.EventID(wh, id)
	p.PublishRaw(pipelinetest.WebhookRaw(wh.ID, wh.WorkspaceID, eventID, body))
	return eventID
}

func (p *pipeline) postStripe(body []byte) {
	p.T.Helper()
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: pipelinetest.StripeSecret,
		Timestamp: time.Now()}).Header
	if r := p.Post("/webhooks/stripe", "application/json", body, http.Header{"Stripe-Signature": {sig}}); r.Status/100 != 2 {
		p.T.Fatalf("post stripe: %d %s", r.Status, r.Body)
	}
}

type response struct{ *pipelinetest.Response }

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
}

// do sends req with the bearer token (none when token is "").
func (p *pipeline) do(req *http.Request, token string) response {
	p.T.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return response{p.Do(req)}
}

// get calls the admin API with the token.
func (p *pipeline) get(path string) response {
	p.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.HTTP.URL+path, nil)
	return p.do(req, adminToken)
}

// post calls the admin API with the token.
func (p *pipeline) post(path, body string) response {
	p.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.HTTP.URL+path, bytes.NewReader([]byte(body)))
	return p.do(req, adminToken)
}
