package pipelinetest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nuid"

	"github.com/hookstream/hookstream/gateway/verify"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
)

// Response is one HTTP answer, read completely.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Map decodes a JSON object body (fails the test otherwise).
func (r *Response) Map(t interface {
	Helper()
	Fatalf(string, ...any)
}) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("pipelinetest: response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return m
}

// Do sends req to the gateway and reads the answer.
func (e *Env) Do(req *http.Request) *Response {
	e.T.Helper()
	if e.HTTP == nil {
		e.T.Fatalf("pipelinetest: the env has no gateway")
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		e.T.Fatalf("pipelinetest: %s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatalf("pipelinetest: reading %s: %v", req.URL.Path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Post sends a POST to the gateway path (with its query, if any).
func (e *Env) Post(pathAndQuery, contentType string, body []byte, h http.Header) *Response {
	e.T.Helper()
	req, err := http.NewRequestWithContext(e.T.Context(), http.MethodPost, e.HTTP.URL+pathAndQuery, bytes.NewReader(body))
	if err != nil {
		e.T.Fatalf("pipelinetest: %v", err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return e.Do(req)
}

// CreateWebhook stores an active Standard Webhooks–signed webhook of
// workspace with a generated secret and the given field mapping (nil: the
// default mapping).
func (e *Env) CreateWebhook(workspace string, mapping map[string]string) *webhooksdb.Webhook {
	e.T.Helper()
	return e.CreateWebhookWith(&webhooksdb.Webhook{WorkspaceID: workspace, Name: "test " + workspace,
		AuthScheme: "standard", FieldMapping: mapping})
}

// CreateWebhookWith stores w as is (Webhooks.Create fills id and secret).
func (e *Env) CreateWebhookWith(w *webhooksdb.Webhook) *webhooksdb.Webhook {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wh, err := e.Webhooks.Create(ctx, w)
	if err != nil {
		e.T.Fatalf("pipelinetest: create webhook: %v", err)
	}
	return wh
}

// WebhookPost shapes PostWebhook.
type WebhookPost struct {
	// Query is appended to the URL ("wait=5s").
	Query string
	// ID is the webhook-id header, which the gateway turns into the event id
	// "wh:<webhook>:<ID>" (default: a new random id, so every post is a new
	// event; reuse one to model a sender's retry).
	ID string
	// ContentType defaults to application/json.
	ContentType string
	// Timestamp is webhook-timestamp (default now).
	Timestamp time.Time
	// Header adds request headers.
	Header http.Header
}

// PostWebhook posts body to /webhooks/{id}, signed for the webhook's scheme
// ("standard" with its first secret, "token" as a bearer token, "none"
// unsigned; sign other schemes yourself and use Post).
func (e *Env) PostWebhook(wh *webhooksdb.Webhook, body []byte, p WebhookPost) *Response {
	e.T.Helper()
	if p.ID == "" {
		p.ID = "msg_" + nuid.Next()
	}
	if p.ContentType == "" {
		p.ContentType = "application/json"
	}
	if p.Timestamp.IsZero() {
		p.Timestamp = time.Now()
	}
	h := http.Header{}
	for k, vs := range p.Header {
		h[k] = vs
	}
	h.Set("webhook-id", p.ID)
	switch wh.AuthScheme {
	case "standard":
		if len(wh.Secrets) == 0 {
			e.T.Fatalf("pipelinetest: webhook %s has no secret", wh.ID)
		}
		h.Set("webhook-timestamp", strconv.FormatInt(p.Timestamp.Unix(), 10))
		h.Set("webhook-signature", verify.SignStandard(wh.Secrets[0].Value, p.ID, p.Timestamp, body))
	case "token":
		if len(wh.Secrets) > 0 && wh.AuthHeader == "" {
			h.Set("Authorization", "Bearer "+wh.Secrets[0].Value)
		}
	}
	path := "/webhooks/" + wh.ID
	if p.Query != "" {
		path += "?" + strings.TrimPrefix(p.Query, "?")
	}
	return e.Post(path, p.ContentType, body, h)
}

// EventID is the event id the gateway gives a webhook post with webhook-id id.
func EventID(wh *webhooksdb.Webhook, id string) string { return "wh:" + wh.ID + ":" + id }

// FacebookSignature is the X-Hub-Signature-256 value for body.
func FacebookSignature(body []byte) string {
	m := hmac.New(sha256.New, []byte(FacebookAppSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// MailerLiteSignature is the Signature header value for body.
func MailerLiteSignature(body []byte) string {
	m := hmac.New(sha256.New, []byte(MailerLiteSecret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// PostFacebook posts a signed Lead Ads notification to /webhooks/facebook.
func (e *Env) PostFacebook(body []byte) *Response {
	e.T.Helper()
	return e.Post("/webhooks/facebook", "application/json", body,
		http.Header{"X-Hub-Signature-256": {FacebookSignature(body)}})
}

// PostMailerLite posts a signed MailerLite webhook to /webhooks/mailerlite.
func (e *Env) PostMailerLite(body []byte) *Response {
	e.T.Helper()
	return e.Post("/webhooks/mailerlite", "application/json", body,
		http.Header{"Signature": {MailerLiteSignature(body)}})
}

// PostForm posts a website form to /forms/{formType} (contentType default
// application/json), as a browser on https://www.example.com would.
func (e *Env) PostForm(formType, contentType string, body []byte) *Response {
	e.T.Helper()
	if contentType == "" {
		contentType = "application/json"
	}
	return e.Post("/forms/"+formType, contentType, body, http.Header{"Origin": {"https://www.example.com"}})
}
