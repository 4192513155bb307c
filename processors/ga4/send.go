package ga4

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/outbound"
)

// ValidationMessage is one finding of GA4's validation server
// (/debug/mp/collect).
type ValidationMessage struct {
	FieldPath      string `json:"fieldPath,omitempty"`
	Description    string `json:"description,omitempty"`
	ValidationCode string `json:"validationCode,omitempty"`
}

// SendResult is what a send did.
type SendResult struct {
	// Body is the request body sent (never holds the API secret).
	Body []byte
	// Status is GA4's HTTP status (0 when nothing was sent).
	Status int
	// Debug is true when the validation server was used.
	Debug bool
	// ValidationMessages are the validation server's findings (debug only).
	ValidationMessages []ValidationMessage
	// Problems are the local validation's findings (nothing was sent).
	Problems []string
}

// Sender validates payloads and posts them to the Measurement Protocol.
type Sender struct {
	cfg Config
}

// NewSender returns a sender for cfg (which must be valid and configured).
func NewSender(cfg Config) *Sender {
	cfg.Client = cfg.outboundClient()
	return &Sender{cfg: cfg}
}

// URL is the collection URL, secrets included (never log it).
func (s *Sender) URL() string {
	path := "/mp/collect"
	if s.cfg.Debug {
		path = "/debug/mp/collect"
	}
	q := url.Values{"measurement_id": {s.cfg.MeasurementID}, "api_secret": {s.cfg.APISecret}}
	return strings.TrimRight(s.cfg.Endpoint, "/") + path + "?" + q.Encode()
}

// Send validates p locally and, only when it passes, posts it. A payload
// that fails validation — locally, or on the validation server in debug
// mode — is a processors.Permanent error wrapping a *ValidationError, with
// the findings in the result; transport and HTTP failures are classified by
// outbound.Client.
func (s *Sender) Send(ctx context.Context, p *Payload) (*SendResult, error) {
	res := &SendResult{Debug: s.cfg.Debug}
	body, err := Validate(p, s.cfg.Now())
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			res.Problems = ve.Problems
		}
		return res, processors.Permanent(err)
	}
	res.Body = body
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL(), bytes.NewReader(body))
	if err != nil {
		return res, processors.Permanent(fmt.Errorf("ga4: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hookstream-ga4/1")
	resp, err := s.cfg.Client.Do(ctx, req)
	if resp != nil {
		res.Status = resp.Status
	}
	if err != nil {
		return res, s.redacted(err)
	}
	if !s.cfg.Debug {
		return res, nil
	}
	var v struct {
		ValidationMessages []ValidationMessage `json:"validationMessages"`
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		return res, processors.RetryAfter(fmt.Errorf("ga4: validation server answered %d with unreadable JSON: %w", resp.Status, err), time.Second)
	}
	res.ValidationMessages = v.ValidationMessages
	if len(v.ValidationMessages) > 0 {
		probs := make([]string, len(v.ValidationMessages))
		for i, m := range v.ValidationMessages {
			probs[i] = fmt.Sprintf("%s %s: %s", m.ValidationCode, m.FieldPath, m.Description)
		}
		return res, processors.Permanent(&ValidationError{Server: true, Problems: probs})
	}
	return res, nil
}

// HTTPError is GA4's non-2xx answer, its body redacted: errors reach logs,
// outcomes and dead letters, and an echoing server could repeat the secret.
type HTTPError struct {
	Path   string
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("ga4: POST %s: %d %s", e.Path, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// redacted replaces outbound's HTTP error (which carries the raw body) with
// one whose body excerpt has no secret, e-mail address or phone number,
// keeping the error's kind and Retry-After.
func (s *Sender) redacted(err error) error {
	var he *outbound.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	body := string(he.Body)
	for _, secret := range []string{s.cfg.APISecret, url.QueryEscape(s.cfg.APISecret)} {
		if secret != "" {
			body = strings.ReplaceAll(body, secret, "[secret]")
		}
	}
	body = strings.Join(strings.Fields(ScrubString(body)), " ")
	if r := []rune(body); len(r) > 200 {
		body = string(r[:200]) + "…"
	}
	e := &HTTPError{Path: he.Path, Status: he.Status, Body: body}
	if outbound.Retryable(he.Status) {
		return processors.RetryAfter(e, he.RetryAfter)
	}
	return processors.Permanent(e)
}
