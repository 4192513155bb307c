package mailerlite

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Inbound webhook event types that withdraw marketing consent, and the
// MailerLite subscriber status each one means. The classic API's names
// (subscriber.unsubscribe, subscriber.bounce, subscriber.complaint) are
// accepted too.
var consentWithdrawn = map[string]string{
	"subscriber.unsubscribed":       StatusUnsubscribed,
	"subscriber.unsubscribe":        StatusUnsubscribed,
	"subscriber.bounced":            StatusBounced,
	"subscriber.bounce":             StatusBounced,
	"subscriber.spam_reported":      StatusJunk,
	"subscriber.complaint":          StatusJunk,
	"spam.subscriber.spam_reported": StatusJunk,
}

// Subscriber statuses (MailerLite's names).
const (
	StatusActive       = "active"
	StatusUnsubscribed = "unsubscribed"
	StatusBounced      = "bounced"
	StatusJunk         = "junk"
)

// Inbound is one subscriber event from a MailerLite webhook.
type Inbound struct {
	Type         string
	Email        string
	SubscriberID string
	At           time.Time // MailerLite's time of the change; zero when the payload carries none
}

// Status is the subscriber status the event means ("" if it does not
// withdraw consent).
func (e Inbound) Status() string { return consentWithdrawn[e.Type] }

// ParseWebhook reads a MailerLite webhook body as received: a single event
// or a batch ({"events":[…]}). Each event's type is its "type" or "event"
// field (else fallbackType, the subject's event name); its subscriber is the
// event itself ({"email",…}), its "data" or "data.subscriber" (classic), or
// its "subscriber".
func ParseWebhook(body []byte, fallbackType string) ([]Inbound, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, errors.New("mailerlite webhook: body is not a JSON object")
	}
	if raw, ok := top["events"]; ok {
		var evs []json.RawMessage
		if err := json.Unmarshal(raw, &evs); err != nil {
			return nil, errors.New("mailerlite webhook: events is not a list")
		}
		out := make([]Inbound, 0, len(evs))
		for _, e := range evs {
			var m map[string]json.RawMessage
			if json.Unmarshal(e, &m) != nil {
				return nil, errors.New("mailerlite webhook: an event is not an object")
			}
			out = append(out, parseEvent(m, ""))
		}
		return out, nil
	}
	if fallbackType == "batch" {
		fallbackType = ""
	}
	return []Inbound{parseEvent(top, fallbackType)}, nil
}

func parseEvent(m map[string]json.RawMessage, fallbackType string) Inbound {
	ev := Inbound{Type: str(m["type"])}
	if ev.Type == "" {
		ev.Type = str(m["event"])
	}
	if ev.Type == "" {
		ev.Type = fallbackType
	}
	ev.Type = strings.ToLower(strings.TrimSpace(ev.Type))
	sub := m
	for _, path := range [][]string{{"data", "subscriber"}, {"data"}, {"subscriber"}} {
		if s := dig(m, path...); s != nil && str(s["email"]) != "" {
			sub = s
			break
		}
	}
	ev.Email = strings.ToLower(strings.TrimSpace(str(sub["email"])))
	ev.SubscriberID = id(sub["id"])
	for _, k := range []string{"unsubscribed_at", "updated_at", "date_unsubscribe"} {
		if t := when(sub[k]); !t.IsZero() {
			ev.At = t
			break
		}
	}
	if ev.At.IsZero() {
		for _, k := range []string{"timestamp", "created_at"} {
			if t := when(m[k]); !t.IsZero() {
				ev.At = t
				break
			}
		}
	}
	return ev
}

func dig(m map[string]json.RawMessage, path ...string) map[string]json.RawMessage {
	for _, k := range path {
		raw, ok := m[k]
		if !ok {
			return nil
		}
		var next map[string]json.RawMessage
		if json.Unmarshal(raw, &next) != nil {
			return nil
		}
		m = next
	}
	return m
}

func str(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	return ""
}

func id(r json.RawMessage) string { return rawID(r) }

// when reads RFC 3339, MailerLite's "2006-01-02 15:04:05" (UTC) or Unix
// seconds.
func when(r json.RawMessage) time.Time {
	if len(r) == 0 {
		return time.Time{}
	}
	if s := str(r); s != "" {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05.000000Z"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC()
			}
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			return time.Unix(n, 0).UTC()
		}
		return time.Time{}
	}
	var n int64
	if json.Unmarshal(r, &n) == nil && n > 0 {
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}
