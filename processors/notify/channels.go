package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors/outbound"
)

// sender delivers one batch of notices to one recipient.
type sender interface {
	send(ctx context.Context, recipient string, ns []*Notice, batchID string) error
}

// deliveryError is a failed delivery, already scrubbed of personal data and
// secrets.
type deliveryError struct {
	msg        string
	permanent  bool
	retryAfter time.Duration
}

func (e *deliveryError) Error() string { return e.msg }

func transient(format string, a ...any) *deliveryError {
	return &deliveryError{msg: fmt.Sprintf(format, a...)}
}

func permanent(format string, a ...any) *deliveryError {
	return &deliveryError{msg: fmt.Sprintf(format, a...), permanent: true}
}

// --- e-mail ---------------------------------------------------------------

// SMTPConfig is where e-mail goes: SMTP_URL = smtp://user:pass@host:port
// (STARTTLS when the server offers it; port 587 by default) or
// smtps://user:pass@host:port (TLS from the start; port 465).
type SMTPConfig struct {
	Host     string
	Port     string
	Username string
	Password string
	Implicit bool        // smtps://
	TLS      *tls.Config // RootCAs for a private CA (tests); ServerName is set per connection
	HeloName string      // default "localhost"
	Timeout  time.Duration
}

// ParseSMTPURL reads SMTP_URL.
func ParseSMTPURL(raw string) (*SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("SMTP_URL is not a URL") // never echo it: it may hold a password
	}
	c := &SMTPConfig{Host: u.Hostname(), Port: u.Port()}
	switch u.Scheme {
	case "smtp":
		if c.Port == "" {
			c.Port = "587"
		}
	case "smtps":
		c.Implicit = true
		if c.Port == "" {
			c.Port = "465"
		}
	default:
		return nil, fmt.Errorf("SMTP_URL: scheme %q, want smtp:// or smtps://", u.Scheme)
	}
	if c.Host == "" {
		return nil, errors.New("SMTP_URL: host required")
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	return c, nil
}

type emailSender struct {
	cfg  *SMTPConfig
	from string
	scrubber
}

func (e *emailSender) send(ctx context.Context, recipient string, ns []*Notice, batchID string) error {
	to := SplitList(recipient)
	if len(to) == 0 {
		return permanent("email: no recipient")
	}
	msg, err := buildMail(e.from, to, ns, batchID, time.Now())
	if err != nil {
		return permanent("email: building message: %v", err)
	}
	from, err := mail.ParseAddress(e.from)
	if err != nil {
		return permanent("email: NOTIFY_EMAIL_FROM is not an address")
	}
	rcpts := make([]string, 0, len(to))
	for _, t := range to {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return permanent("email: a recipient is not an address")
		}
		rcpts = append(rcpts, a.Address)
	}
	if err := e.deliver(ctx, from.Address, rcpts, msg); err != nil {
		var de *deliveryError
		if errors.As(err, &de) {
			de.msg = e.scrub(de.msg)
			return de
		}
		return transient("%s", e.scrub(err.Error()))
	}
	return nil
}

func (e *emailSender) deliver(ctx context.Context, from string, to []string, msg []byte) error {
	timeout := e.cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(e.cfg.Host, e.cfg.Port)
	tlsCfg := &tls.Config{ServerName: e.cfg.Host, MinVersion: tls.VersionTLS12}
	if e.cfg.TLS != nil {
		tlsCfg = e.cfg.TLS.Clone()
		tlsCfg.ServerName = e.cfg.Host
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if e.cfg.Implicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return transient("email: connect: %v", err)
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return transient("email: connect: %v", err)
	}
	c, err := smtp.NewClient(conn, e.cfg.Host)
	if err != nil {
		conn.Close()
		return smtpErr("greeting", err)
	}
	defer c.Close()
	helo := e.cfg.HeloName
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return smtpErr("EHLO", err)
	}
	if !e.cfg.Implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsCfg); err != nil {
				return smtpErr("STARTTLS", err)
			}
		}
	}
	if e.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return permanent("email: the server does not offer AUTH but SMTP_URL has credentials")
		}
		// PlainAuth refuses to send the password over an unencrypted
		// connection (except to localhost).
		if err := c.Auth(smtp.PlainAuth("", e.cfg.Username, e.cfg.Password, e.cfg.Host)); err != nil {
			var te *textproto.Error
			if errors.As(err, &te) {
				return smtpErr("AUTH", err)
			}
			return permanent("email: AUTH: %v", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return smtpErr("MAIL FROM", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return smtpErr("RCPT TO", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpErr("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("DATA", err)
	}
	_ = c.Quit() // the message is accepted; a failed QUIT changes nothing
	return nil
}

// smtpErr classifies an SMTP failure: 5xx replies are permanent, 4xx and
// network errors transient.
func smtpErr(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code >= 500 {
			return permanent("email: %s: %d %s", step, te.Code, te.Msg)
		}
		return transient("email: %s: %d %s", step, te.Code, te.Msg)
	}
	return transient("email: %s: %v", step, err)
}

// buildMail makes a multipart/alternative message: plain text and HTML, both
// quoted-printable UTF-8.
func buildMail(from string, to []string, ns []*Notice, batchID string, now time.Time) ([]byte, error) {
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, errors.New("NOTIFY_EMAIL_FROM is not an address")
	}
	var toList []string
	for _, t := range to {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, errors.New("a recipient is not an address")
		}
		toList = append(toList, a.String())
	}
	html, err := htmlBody(ns)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", fromAddr.String())
	hdr("To", strings.Join(toList, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject(ns)))
	hdr("Date", now.Format(time.RFC1123Z))
	host := "hookstream.local"
	if i := strings.LastIndex(fromAddr.Address, "@"); i >= 0 {
		host = fromAddr.Address[i+1:]
	}
	hdr("Message-ID", "<"+batchID+"@"+host+">")
	hdr("MIME-Version", "1.0")
	if isHigh(ns) {
		hdr("X-Priority", "1")
		hdr("Importance", "high")
	}
	hdr("Auto-Submitted", "auto-generated")
	hdr("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", plainText(ns)},
		{"text/html; charset=utf-8", html},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := qw.Write([]byte(part.body)); err != nil {
			return nil, err
		}
		if err := qw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// --- Slack ----------------------------------------------------------------

type slackSender struct {
	url    string
	client *outbound.Client
	scrubber
}

func (s *slackSender) send(ctx context.Context, _ string, ns []*Notice, _ string) error {
	req, err := outbound.JSONRequest(ctx, http.MethodPost, s.url, map[string]any{
		"text":   slackText(ns),
		"mrkdwn": true,
	})
	if err != nil {
		return permanent("slack: %v", err)
	}
	_, err = s.client.Do(ctx, req)
	return s.classify("slack", err)
}

// classify turns an outbound error into a scrubbed deliveryError (the Slack
// webhook's path is its secret: it never appears).
func (s scrubber) classify(name string, err error) error {
	if err == nil {
		return nil
	}
	var he *outbound.HTTPError
	if errors.As(err, &he) {
		msg := fmt.Sprintf("%s: %d %s", name, he.Status, http.StatusText(he.Status))
		if b := strings.TrimSpace(string(he.Body)); b != "" {
			msg += ": " + b
		}
		return &deliveryError{msg: s.scrub(msg), permanent: !outbound.Retryable(he.Status), retryAfter: he.RetryAfter}
	}
	msg := err.Error()
	if strings.Contains(msg, "encoding request body") {
		return &deliveryError{msg: s.scrub(msg), permanent: true}
	}
	return &deliveryError{msg: s.scrub(name + ": " + stripPath(msg))}
}

// stripPath drops "POST /path:" prefixes that name a secret URL path.
func stripPath(msg string) string {
	for _, m := range []string{"POST ", "GET "} {
		if i := strings.Index(msg, m); i >= 0 {
			rest := msg[i+len(m):]
			if j := strings.Index(rest, ": "); j >= 0 {
				msg = msg[:i] + strings.TrimSuffix(m, " ") + rest[j:]
			}
		}
	}
	return msg
}

// --- SMS (Twilio-compatible) ----------------------------------------------

// TwilioConfig is a Twilio-compatible Messages API.
type TwilioConfig struct {
	APIURL     string // default https://api.twilio.com
	AccountSID string
	AuthToken  string
	From       string
}

type smsSender struct {
	cfg    TwilioConfig
	client *outbound.Client
	scrubber
}

func (s *smsSender) send(ctx context.Context, to string, ns []*Notice, _ string) error {
	form := url.Values{"To": {to}, "From": {s.cfg.From}, "Body": {smsText(ns)}}
	endpoint := strings.TrimRight(s.cfg.APIURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(s.cfg.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return permanent("sms: %v", s.scrub(err.Error()))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(s.cfg.AccountSID, s.cfg.AuthToken)
	resp, err := s.client.Do(ctx, req)
	if err != nil {
		return s.classify("sms", err)
	}
	var ans struct {
		SID       string `json:"sid"`
		Status    string `json:"status"`
		ErrorCode *int   `json:"error_code"`
	}
	if json.Unmarshal(resp.Body, &ans) == nil && ans.Status == "failed" {
		return permanent("sms: message %s failed (error %v)", ans.SID, ans.ErrorCode)
	}
	return nil
}

func newBatchID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "nb_" + hex.EncodeToString(b)
}
