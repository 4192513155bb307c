// Package outbound is the HTTP client every processor that calls an external
// API (crm, mailerlite, ga4, notify) uses. It turns each answer into the
// runner's error kinds, so retry, dead-lettering and Retry-After are handled
// the same way for every destination:
//
//   - 2xx: success (nil error).
//   - 408, 429, 5xx and network errors (including timeouts): transient,
//     processors.RetryAfter(err, d) with d taken from the Retry-After header
//     (delta seconds or an HTTP date), else 0 so the runner's capped
//     exponential backoff applies.
//   - any other status (4xx, unexpected 1xx/3xx): processors.Permanent(err),
//     dead-lettered with the status and the first 2 KB of the response body.
//
// A per-destination circuit Breaker stops calling an API after consecutive
// transient failures; while it is open Do fails fast with
// RetryAfter(ErrCircuitOpen, remaining cooldown) and the messages wait in
// their stream.
package outbound

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/internal/textcut"
	"github.com/hookstream/hookstream/processors"
)

// DefaultTimeout bounds a request when the client's http.Client has no
// Timeout and the context no deadline: no call to an external API may hang.
const DefaultTimeout = 10 * time.Second

// DefaultMaxBody is how much of a response body Do reads by default.
const DefaultMaxBody = 4 << 20

// MaxErrorBody is the most of a response body an error message carries.
const MaxErrorBody = 2048

// MaxRetryAfter caps a server's Retry-After (a bogus far-future date must not
// park a message for days).
const MaxRetryAfter = time.Hour

// Client calls one destination.
type Client struct {
	// Name identifies the destination in errors and metrics ("crm",
	// "mailerlite", "ga4", …).
	Name string
	// HTTP sends the requests. Set its Timeout; when it is zero (or HTTP is
	// nil) each request is bounded by DefaultTimeout instead.
	HTTP *http.Client
	// Breaker, optional, is this destination's circuit breaker.
	Breaker *Breaker
	// MaxBody bounds the response body read (default DefaultMaxBody); a
	// longer body is cut there.
	MaxBody int64
}

// New returns a client with an http.Client bounded by timeout (DefaultTimeout
// when ≤ 0) and the given breaker (may be nil).
func New(name string, timeout time.Duration, b *Breaker) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{Name: name, HTTP: &http.Client{Timeout: timeout}, Breaker: b}
}

// Response is a destination's answer, body fully read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrCircuitOpen is returned (wrapped in processors.RetryAfter) while the
// destination's breaker is open.
var ErrCircuitOpen = errors.New("circuit open")

// HTTPError is a non-2xx answer. Do wraps it in processors.Permanent or
// processors.RetryAfter; errors.As finds it.
type HTTPError struct {
	Destination string
	Method      string
	Path        string // URL path only: query strings may hold secrets (GA4's api_secret)
	Status      int
	Body        []byte // truncated to MaxErrorBody
	RetryAfter  time.Duration
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: %d %s", e.Destination, e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if len(e.Body) > 0 {
		// Errors end up in Postgres text and NATS headers: valid UTF-8,
		// no NULs or line breaks.
		b.WriteString(": ")
		b.WriteString(strings.Map(func(r rune) rune {
			switch r {
			case 0:
				return -1
			case '\r', '\n':
				return ' '
			}
			return r
		}, strings.ToValidUTF8(string(e.Body), "\uFFFD")))
	}
	return b.String()
}

// Retryable reports whether status is worth retrying: 408, 429 and 5xx.
func Retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// Do sends req once and classifies the answer (see the package comment). On
// a non-2xx answer the Response is returned too, with the error, so callers
// can read field errors. The request's URL query never appears in errors.
func (c *Client) Do(ctx context.Context, req *http.Request) (*Response, error) {
	name := c.Name
	if name == "" {
		name = req.URL.Host
	}
	var report func(int)
	if c.Breaker != nil {
		r, err := c.Breaker.allow()
		if err != nil {
			return nil, err
		}
		report = r
	}
	resp, err := c.do(ctx, name, req)
	if report != nil {
		// A 4xx means the destination is up: only transient failures count.
		// A cancelled caller says nothing about the destination.
		var he *HTTPError
		switch {
		case err == nil:
			report(callOK)
		case errors.As(err, &he):
			if Retryable(he.Status) {
				report(callFailed)
			} else {
				report(callOK)
			}
		case ctx.Err() != nil:
			report(callAbandoned)
		default:
			report(callFailed)
		}
	}
	return resp, err
}

func (c *Client) do(ctx context.Context, name string, req *http.Request) (*Response, error) {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	if hc.Timeout <= 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
			defer cancel()
		}
	}
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	hr, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, err // shutting down: plain transient error
		}
		return nil, processors.RetryAfter(fmt.Errorf("%s: %s %s: %w", name, req.Method, path, scrubURLError(err)), 0)
	}
	defer hr.Body.Close()
	max := c.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	body, rerr := io.ReadAll(io.LimitReader(hr.Body, max))
	resp := &Response{Status: hr.StatusCode, Header: hr.Header, Body: body}
	if hr.StatusCode >= 200 && hr.StatusCode < 300 {
		if rerr != nil {
			// The answer was cut off: we cannot tell what the server did.
			return resp, processors.RetryAfter(fmt.Errorf("%s: %s %s: reading response: %w", name, req.Method, path, rerr), 0)
		}
		return resp, nil
	}
	he := &HTTPError{Destination: name, Method: req.Method, Path: path, Status: hr.StatusCode, Body: []byte(textcut.Ellipsis(string(body), MaxErrorBody))}
	if Retryable(hr.StatusCode) {
		he.RetryAfter = ParseRetryAfter(hr.Header.Get("Retry-After"), time.Now())
		return resp, processors.RetryAfter(he, he.RetryAfter)
	}
	return resp, processors.Permanent(he)
}

// scrubURLError drops the URL (and its query) from a *url.Error.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// ParseRetryAfter reads a Retry-After value: delta seconds or an HTTP date
// (relative to now). Empty, unparsable or past values give 0; the result is
// capped at MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	if d < 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}

// JSONRequest builds a request whose body is v encoded as JSON, with
// Content-Type and Accept set to application/json. An unencodable v is a
// permanent error (it will not encode any better on a retry).
func JSONRequest(ctx context.Context, method, url string, v any) (*http.Request, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, processors.Permanent(fmt.Errorf("encoding request body: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return nil, processors.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}
