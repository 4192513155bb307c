package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/httperr"
	"github.com/hookstream/hookstream/internal/textcut"
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
		return nil, httperr.New(httperr.TooLarge, "body exceeds the limit")
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, g.cfg.BodyLimit), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, httperr.New(httperr.TooLarge, "body exceeds the limit")
		}
		// A slow sender is not sending a malformed body: 408 tells it to
		// retry, where a 400 would tell it to give up.
		var ne net.Error
		if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, httperr.New(httperr.Timeout, "the body did not arrive in time; retry")
		}
		return nil, httperr.New(httperr.Malformed, "could not read the body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, httperr.New(httperr.Invalid, "empty body")
	}
	return body, nil
}

// readAll is io.ReadAll with the first buffer sized from the declared
// Content-Length, so a body of a few KB (a Stripe event) is read into one
// allocation instead of growing from 512 bytes. The hint is capped: a client
// announcing a large body must send it before it costs memory.
func readAll(rd io.Reader, contentLength int64) ([]byte, error) {
	const maxHint = 64 << 10
	size := 512
	if contentLength >= int64(size) {
		size = int(min(contentLength, maxHint)) + 1 // +1: the read that sees EOF
	}
	b := make([]byte, 0, size)
	for {
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append grow it
		}
	}
}

// mediaType returns the request's media type if it is one the route takes
// (415 otherwise).
func mediaType(r *http.Request, allowed ...string) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", httperr.New(httperr.UnsupportedMedia, "Content-Type is required: "+strings.Join(allowed, " or "))
	}
	// The usual exact spellings need no parsing (ParseMediaType builds a
	// parameter map): they parse to themselves with no parameters.
	for _, a := range allowed {
		if ct == a {
			return a, nil
		}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", httperr.New(httperr.UnsupportedMedia, "unparseable Content-Type")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", httperr.New(httperr.UnsupportedMedia, "only UTF-8 bodies are accepted")
	}
	for _, a := range allowed {
		if mt == a {
			return mt, nil
		}
	}
	return "", httperr.New(httperr.UnsupportedMedia, "unsupported Content-Type "+mt+"; use "+strings.Join(allowed, " or "))
}

// checkSyntax rejects bodies no processor could read: invalid UTF-8,
// malformed JSON or a JSON value that is not an object.
func checkSyntax(mt string, body []byte) error {
	if !utf8.Valid(body) {
		return httperr.New(httperr.Malformed, "body is not valid UTF-8")
	}
	if mt == ctJSON {
		// A leading UTF-8 BOM is tolerated (RFC 8259 §8.1 allows ignoring it,
		// .NET senders emit it, and the contacts parser skips it); the stored
		// bytes keep it.
		body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
		if !jsonValid(body) {
			return httperr.New(httperr.Malformed, "body is not valid JSON")
		}
		if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
			return httperr.New(httperr.Invalid, "body must be a JSON object")
		}
	}
	return nil
}

// publish stores ev and returns the answer body. 503 when not acknowledged.
// w is the route's writer (it carries the request id).
func (g *Gateway) publish(w http.ResponseWriter, r *http.Request, route string, ev *event) (Accepted, error) {
	ctx := r.Context()
	reqID := requestID(w)
	// nats.NewMsg's map grows several times, and nats.Header.Set allocates
	// a one-element slice per header; here the map is sized once and the
	// values share one array. NATS header keys are used as given (Set does
	// not canonicalize them either). The three-index slices keep an Add by
	// anyone later from writing into a neighbour's value.
	ua := r.UserAgent()
	n := 7 + len(ev.extra) // exact: up to 8 keys fit a map's single group
	if ev.webhookID != "" {
		n++
	}
	if ua != "" {
		n++
	}
	h := make(nats.Header, n)
	vals := make([]string, 0, n)
	set := func(k, v string) {
		vals = append(vals, v)
		n := len(vals)
		h[k] = vals[n-1 : n : n]
	}
	set(streams.HdrMsgID, ev.msgID)
	set(streams.HdrSource, ev.source)
	if ev.webhookID != "" {
		set(streams.HdrWebhookID, ev.webhookID)
	}
	set(streams.HdrWorkspaceID, ev.workspace)
	set(streams.HdrReceivedAt, g.cfg.Now().UTC().Format(time.RFC3339Nano))
	set(streams.HdrRequestID, reqID)
	set(streams.HdrRemoteAddr, remoteIP(r))
	if ua != "" {
		set(streams.HdrUserAgent, textcut.Bytes(ua, 256))
	}
	set(streams.HdrContentType, ev.contentType)
	for k, v := range ev.extra {
		set(k, v)
	}
	m := &nats.Msg{Subject: ev.subject, Header: h, Data: ev.body}
	start := time.Now()
	ack, err := g.publishWithin(ctx, m)
	g.metrics.PublishLat.Observe(time.Since(start).Seconds())
	if err != nil {
		g.log.Warn("publish failed", "route", route, "subject", ev.subject, "err", err, "request_id", reqID)
		return Accepted{}, &httperr.Error{Code: httperr.Unavailable, Message: "the event could not be stored; retry later", RetryAfter: g.cfg.RetryAfter}
	}
	if ack.Duplicate {
		g.metrics.Duplicates.WithLabelValues(route).Inc()
	}
	return Accepted{Accepted: true, EventID: ev.msgID, Duplicate: ack.Duplicate, StreamSeq: ack.Sequence}, nil
}

// TimeoutPublisher is a Publisher that can bound the wait itself
// (streams.Publisher): cheaper than deriving a context per request.
type TimeoutPublisher interface {
	// PublishTimeout must behave as Publish with
	// context.WithTimeout(ctx, d).
	PublishTimeout(ctx context.Context, msg *nats.Msg, d time.Duration) (*jetstream.PubAck, error)
}

// publishWithin publishes m and waits for the PubAck at most PublishTimeout.
func (g *Gateway) publishWithin(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	if tp, ok := g.deps.Publisher.(TimeoutPublisher); ok {
		return tp.PublishTimeout(ctx, m, g.cfg.PublishTimeout)
	}
	pctx, cancel := context.WithTimeout(ctx, g.cfg.PublishTimeout)
	defer cancel()
	return g.deps.Publisher.Publish(pctx, m)
}

func (g *Gateway) accept(w http.ResponseWriter, r *http.Request, route string, ev *event) error {
	a, err := g.publish(w, r, route, ev)
	if err != nil {
		return err
	}
	writeAccepted(w, http.StatusOK, &a)
	return nil
}

// writeAccepted is httperr.WriteJSON(w, status, a), encoded without reflection: it
// is the answer to nearly every request. TestAcceptedEncoding holds it to
// json.Marshal's bytes.
func writeAccepted(w http.ResponseWriter, status int, a *Accepted) {
	httperr.SetJSONHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(appendAccepted(make([]byte, 0, 96+len(a.EventID)), a))
}

func appendAccepted(b []byte, a *Accepted) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendBool(b, a.Accepted)
	b = append(b, `,"event_id":`...)
	b = appendJSONString(b, a.EventID)
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, a.Duplicate)
	b = append(b, `,"stream_seq":`...)
	b = strconv.AppendUint(b, a.StreamSeq, 10)
	return append(b, "}\n"...)
}

// appendJSONString appends s as encoding/json quotes it. Event ids are
// printable ASCII; anything encoding/json would escape (quotes, backslash,
// control characters, <, >, &, non-ASCII) is left to encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
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
