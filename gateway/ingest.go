package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/hookstream/hookstream/streams"
)

// Accepted is the success body of every ingest route.
type Accepted struct {
	Accepted  bool   `json:"accepted"`
	EventID   string `json:"event_id"`
	Duplicate bool   `json:"duplicate"`
	StreamSeq uint64 `json:"stream_seq"`
}

// event is one raw event ready to publish.
type event struct {
	subject     string
	msgID       string
	source      string
	webhookID   string
	workspace   string
	contentType string
	body        []byte
	extra       map[string]string
}

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

// readBody reads the whole body up to the limit: 413 above it, 400 when empty.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > g.cfg.BodyLimit {
		return nil, errf(CodeTooLarge, "body exceeds the limit")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.BodyLimit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errf(CodeTooLarge, "body exceeds the limit")
		}
		// A slow sender is not sending a malformed body: 408 tells it to
		// retry, where a 400 would tell it to give up.
		var ne net.Error
		if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, errf(CodeTimeout, "the body did not arrive in time; retry")
		}
		return nil, errf(CodeMalformed, "could not read the body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errf(CodeInvalid, "empty body")
	}
	return body, nil
}

// mediaType returns the request's media type if it is one the route takes
// (415 otherwise).
func mediaType(r *http.Request, allowed ...string) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", errf(CodeUnsupportedMedia, "Content-Type is required: "+strings.Join(allowed, " or "))
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", errf(CodeUnsupportedMedia, "unparseable Content-Type")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", errf(CodeUnsupportedMedia, "only UTF-8 bodies are accepted")
	}
	for _, a := range allowed {
		if mt == a {
			return mt, nil
		}
	}
	return "", errf(CodeUnsupportedMedia, "unsupported Content-Type "+mt+"; use "+strings.Join(allowed, " or "))
}

// checkSyntax rejects bodies no processor could read: invalid UTF-8,
// malformed JSON or a JSON value that is not an object.
func checkSyntax(mt string, body []byte) error {
	if !utf8.Valid(body) {
		return errf(CodeMalformed, "body is not valid UTF-8")
	}
	if mt == ctJSON {
		// A leading UTF-8 BOM is tolerated (RFC 8259 §8.1 allows ignoring it,
		// .NET senders emit it, and the contacts parser skips it); the stored
		// bytes keep it.
		body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
		if !jsonValid(body) {
			return errf(CodeMalformed, "body is not valid JSON")
		}
		if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
			return errf(CodeInvalid, "body must be a JSON object")
		}
	}
	return nil
}

// publish stores ev and returns the answer body. 503 when not acknowledged.
func (g *Gateway) publish(ctx context.Context, r *http.Request, route string, ev *event) (*Accepted, error) {
	m := nats.NewMsg(ev.subject)
	m.Data = ev.body
	h := m.Header
	h.Set(streams.HdrMsgID, ev.msgID)
	h.Set(streams.HdrSource, ev.source)
	if ev.webhookID != "" {
		h.Set(streams.HdrWebhookID, ev.webhookID)
	}
	h.Set(streams.HdrWorkspaceID, ev.workspace)
	h.Set(streams.HdrReceivedAt, receivedAt(ctx, g.cfg.Now).Format(time.RFC3339Nano))
	h.Set(streams.HdrRequestID, requestID(ctx))
	h.Set(streams.HdrRemoteAddr, remoteIP(r))
	if ua := r.UserAgent(); ua != "" {
		h.Set(streams.HdrUserAgent, truncate(ua, 256))
	}
	h.Set(streams.HdrContentType, ev.contentType)
	for k, v := range ev.extra {
		h.Set(k, v)
	}
	pctx, cancel := context.WithTimeout(ctx, g.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	ack, err := g.deps.Publisher.Publish(pctx, m)
	g.metrics.PublishLat.Observe(time.Since(start).Seconds())
	if err != nil {
		g.log.Warn("publish failed", "route", route, "subject", ev.subject, "err", err, "request_id", requestID(ctx))
		return nil, &Error{Code: CodeUnavailable, Message: "the event could not be stored; retry later", RetryAfter: g.cfg.RetryAfter}
	}
	if ack.Duplicate {
		g.metrics.Duplicates.WithLabelValues(route).Inc()
	}
	return &Accepted{Accepted: true, EventID: ev.msgID, Duplicate: ack.Duplicate, StreamSeq: ack.Sequence}, nil
}

func (g *Gateway) accept(w http.ResponseWriter, r *http.Request, route string, ev *event) error {
	a, err := g.publish(r.Context(), r, route, ev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

type receivedKey struct{}

func receivedAt(ctx context.Context, now func() time.Time) time.Time {
	if t, ok := ctx.Value(receivedKey{}).(time.Time); ok {
		return t
	}
	return now().UTC()
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func hashID(prefix string, parts ...[]byte) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write(p)
	}
	return prefix + hex.EncodeToString(h.Sum(nil))
}

// cleanID accepts a sender-chosen id (webhook-id, Idempotency-Key) when it is
// printable ASCII of sane length.
func cleanID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 200 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return "", false
		}
	}
	return s, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
