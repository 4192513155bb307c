package mailerlite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/outbound"
)

// SubscriberRequest is the body of POST /subscribers (create or update by
// e-mail, MailerLite's upsert).
type SubscriberRequest struct {
	Email  string            `json:"email"`
	Fields map[string]string `json:"fields,omitempty"`
	Groups []string          `json:"groups,omitempty"`
	Status string            `json:"status,omitempty"`
}

// Subscriber is the part of MailerLite's subscriber resource we keep.
type Subscriber struct {
	ID     string
	Email  string
	Status string
	Groups []string
	// Created is true when MailerLite answered 201 (a new subscriber).
	Created bool
	// HTTPStatus is MailerLite's status code.
	HTTPStatus int
}

// FieldError is MailerLite's 422 answer: {"message","errors":{field:[…]}}.
type FieldError struct {
	Message string
	Fields  map[string][]string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("mailerlite: 422 ")
	b.WriteString(e.Message)
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", k, strings.Join(e.Fields[k], " "))
		if i == len(keys)-1 {
			b.WriteString(")")
		}
	}
	return b.String()
}

// Client calls MailerLite's API through the shared limiter.
type Client struct {
	base    string
	key     string
	http    *outbound.Client
	limiter *Limiter
}

// NewClient returns a client for the configured API.
func NewClient(cfg Config, l *Limiter) *Client {
	return &Client{base: strings.TrimRight(cfg.APIURL, "/"), key: cfg.APIKey, http: cfg.outboundClient(), limiter: l}
}

// Upsert creates or updates a subscriber (POST /subscribers; 200 updated,
// 201 created).
func (c *Client) Upsert(ctx context.Context, r *SubscriberRequest) (*Subscriber, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, processors.Permanent(err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/subscribers", body)
	if err != nil {
		return nil, err
	}
	s, err := parseSubscriber(resp.Body)
	if err != nil {
		return nil, err
	}
	s.Created, s.HTTPStatus = resp.Status == http.StatusCreated, resp.Status
	if s.Email == "" {
		s.Email = r.Email
	}
	return s, nil
}

// AddToGroup assigns a subscriber to a group (POST
// /subscribers/{id}/groups/{group_id}); automations that start on joining
// the group then run in MailerLite.
func (c *Client) AddToGroup(ctx context.Context, subscriberID, groupID string) (int, error) {
	resp, err := c.do(ctx, http.MethodPost, "/subscribers/"+url.PathEscape(subscriberID)+"/groups/"+url.PathEscape(groupID), nil)
	if err != nil {
		return 0, err
	}
	return resp.Status, nil
}

// IsNotFound reports whether err is MailerLite's 404 (a subscriber deleted
// in MailerLite, or a wrong group id).
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, method, path string, body []byte) (*outbound.Response, error) {
	if err := c.limiter.Wait(ctx); err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, processors.Permanent(fmt.Errorf("mailerlite: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hookstream-mailerlite/1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(ctx, req)
	if err == nil {
		return resp, nil
	}
	var he *outbound.HTTPError
	if !errors.As(err, &he) {
		return resp, err // transport failure or open circuit: no body
	}
	if he.Status == http.StatusTooManyRequests {
		// The limit is per account: everyone waits.
		c.limiter.Pause(he.RetryAfter)
	}
	// The answer's body never goes into the error as is: APIs echo the
	// request (addresses, names, the token) and errors reach logs, outcomes
	// and dead letters. Only MailerLite's message and field errors are kept,
	// with e-mail addresses, phone numbers and the key masked.
	ae := &APIError{Method: method, Path: path, Status: he.Status}
	if fe := parseFieldError(resp, c.key); fe != nil {
		if he.Status == http.StatusUnprocessableEntity {
			return resp, processors.Permanent(fmt.Errorf("%w (%s %s)", fe, method, path))
		}
		ae.Message = fe.Message
	}
	if outbound.Retryable(he.Status) {
		return resp, processors.RetryAfter(ae, he.RetryAfter)
	}
	return resp, processors.Permanent(ae)
}

// APIError is a non-2xx answer other than 422, its message redacted.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("mailerlite: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func parseFieldError(resp *outbound.Response, key string) *FieldError {
	if resp == nil {
		return nil
	}
	var v struct {
		Message string              `json:"message"`
		Errors  map[string][]string `json:"errors"`
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		return nil //nolint:nilerr // a body that is not MailerLite's error shape names no fields
	}
	if v.Message == "" && len(v.Errors) == 0 {
		return nil
	}
	fe := &FieldError{Message: redact(v.Message, key), Fields: map[string][]string{}}
	for k, msgs := range v.Errors {
		for _, m := range msgs {
			fe.Fields[redact(k, key)] = append(fe.Fields[redact(k, key)], redact(m, key))
		}
	}
	return fe
}

var (
	emailRe  = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+(?:@|%40)[a-z0-9.\-]+\.[a-z]{2,}`)
	phoneRe  = regexp.MustCompile(`\+?\(?\d[\d \t().\-/]{5,}\d`)
	bearerRe = regexp.MustCompile(`(?i)bearer\s+\S+`)
)

// redact masks e-mail addresses, phone-like digit runs (seven digits or
// more), bearer tokens and the API key in s, and bounds its length.
func redact(s, key string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, "[key]")
	}
	s = bearerRe.ReplaceAllString(s, "Bearer [key]")
	s = emailRe.ReplaceAllString(s, "[email]")
	s = phoneRe.ReplaceAllStringFunc(s, func(m string) string {
		n := 0
		for _, r := range m {
			if r >= '0' && r <= '9' {
				n++
			}
		}
		if n >= 7 {
			return "[phone]"
		}
		return m
	})
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == 0 {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

func parseSubscriber(body []byte) (*Subscriber, error) {
	var v struct {
		Data struct {
			ID     json.RawMessage `json:"id"` // a string; numbers tolerated
			Email  string          `json:"email"`
			Status string          `json:"status"`
			Groups []struct {
				ID json.RawMessage `json:"id"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, processors.RetryAfter(fmt.Errorf("mailerlite: unreadable subscriber answer: %w", err), 0)
	}
	id := rawID(v.Data.ID)
	if id == "" {
		return nil, processors.RetryAfter(errors.New("mailerlite: subscriber answer without data.id"), 0)
	}
	s := &Subscriber{ID: id, Email: v.Data.Email, Status: v.Data.Status}
	for _, g := range v.Data.Groups {
		if gid := rawID(g.ID); gid != "" {
			s.Groups = append(s.Groups, gid)
		}
	}
	return s, nil
}

func rawID(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(r, &n) == nil {
		return n.String()
	}
	return ""
}
