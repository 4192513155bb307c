package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/hookstream/hookstream/processors/notify"
)

// Logs never carry secrets, signatures, e-mail addresses or phone numbers.
// Code does not log payloads, but errors from destinations quote what they
// were sent ("422: the email jane@… is invalid", an echoed request body), so
// every record passes through scrubHandler on its way out: configured
// secrets, bearer credentials, webhook secrets and signatures, e-mail
// addresses, phone numbers and the values of personal JSON keys ("email",
// "phone", "first_name", …) are masked in the message and in every string
// (and error) attribute; attributes named like credentials are dropped to
// "[redacted]".

// secretEnv are settings whose values are secrets (URLs: their password; the
// Slack webhook URL: all of it).
var secretEnv = []string{"STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "FACEBOOK_APP_SECRET", "FACEBOOK_VERIFY_TOKEN",
	"FACEBOOK_PAGE_TOKEN", "MAILERLITE_WEBHOOK_SECRET", "MAILERLITE_API_KEY", "GA4_API_SECRET", "CRM_API_KEY",
	"TWILIO_AUTH_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_URL", "DATABASE_URL", "NATS_URL", "HOOKSTREAM_ADMIN_TOKEN"}

func secretsFromEnv(getenv func(string) string) []string {
	var out []string
	add := func(v string) {
		if v = strings.TrimSpace(v); len(v) >= 6 {
			out = append(out, v)
		}
	}
	for _, k := range secretEnv {
		v := getenv(k)
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
			if p, ok := u.User.Password(); ok {
				add(p)
				add(url.QueryEscape(p))
			}
			if k == "SLACK_WEBHOOK_URL" {
				add(v)
				add(u.EscapedPath())
			}
			continue
		}
		for _, part := range strings.Split(v, ",") { // rotated secrets: several
			add(part)
		}
	}
	return out
}

var (
	scrubCreds = []*regexp.Regexp{
		regexp.MustCompile(`(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{6,}`),
		regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`),
		regexp.MustCompile(`\bv1[,=][A-Za-z0-9+/=]{16,}`),
		regexp.MustCompile(`\bsha256=[0-9a-fA-F]{32,}`),
		regexp.MustCompile(`\b(sk|rk)_(live|test)_[A-Za-z0-9]+`),
	}
	// "email":"…", \"phone\": \"…\" (JSON, or JSON quoted inside JSON).
	scrubKeys = regexp.MustCompile(`(?i)((?:\\*")(?:e-?mail|email_address|phone|phone_number|mobile|first_?name|last_?name|full_?name|` +
		`customer_name|contact_name|address|street|receipt_email|customer_email)(?:\\*")\s*:\s*\\*")((?:[^"\\]|\\[^"])*)(\\*")`)
	credKey = regexp.MustCompile(`(?i)(secret|token|password|passwd|authorization|signature|api_?key|cookie)`)
)

type scrubber struct{ secrets []string }

func (s *scrubber) scrub(v string) string {
	if v == "" {
		return v
	}
	for _, sec := range s.secrets {
		if strings.Contains(v, sec) {
			v = strings.ReplaceAll(v, sec, "[redacted]")
		}
	}
	for _, re := range scrubCreds {
		v = re.ReplaceAllStringFunc(v, func(m string) string {
			if i := strings.IndexAny(m, " ,="); i > 0 && i < 8 {
				return m[:i+1] + "[redacted]"
			}
			return "[redacted]"
		})
	}
	v = scrubKeys.ReplaceAllString(v, "${1}[redacted]${3}")
	return notify.Scrub(v)
}

// scrubHandler masks what a record carries before the next handler writes
// it.
type scrubHandler struct {
	next slog.Handler
	s    *scrubber
}

// scrubLogs wraps a handler with the masking described above (secrets: the
// configured ones, from the environment).
func scrubLogs(next slog.Handler) slog.Handler {
	return &scrubHandler{next: next, s: &scrubber{secrets: secretsFromEnv(os.Getenv)}}
}

func (h *scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, h.s.scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, nr)
}

func (h *scrubHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return &scrubHandler{next: h.next.WithAttrs(out), s: h.s}
}

func (h *scrubHandler) WithGroup(name string) slog.Handler {
	return &scrubHandler{next: h.next.WithGroup(name), s: h.s}
}

func (h *scrubHandler) attr(a slog.Attr) slog.Attr {
	if credKey.MatchString(a.Key) {
		return slog.String(a.Key, "[redacted]")
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.s.scrub(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, m := range g {
			out[i] = h.attr(m)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.s.scrub(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, h.s.scrub(x.String()))
		case []string, []byte, map[string]string, map[string]any, []any:
			str := fmt.Sprint(x)
			if sc := h.s.scrub(str); sc != str {
				return slog.String(a.Key, sc)
			}
		default:
			if x != nil {
				str := fmt.Sprintf("%v", x)
				if sc := h.s.scrub(str); sc != str {
					return slog.String(a.Key, sc)
				}
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
