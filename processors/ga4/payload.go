package ga4

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Payload is one Measurement Protocol request body.
type Payload struct {
	ClientID        string  `json:"client_id"`
	UserID          string  `json:"user_id,omitempty"`
	TimestampMicros int64   `json:"timestamp_micros,omitempty"`
	Events          []Event `json:"events"`
}

// Event is one Measurement Protocol event. Param values are strings, numbers
// (int, int64, float64) or, for the "items" param only, []Item.
type Event struct {
	Name   string         `json:"name"`
	Params map[string]any `json:"params,omitempty"`
}

// Item is one element of an ecommerce event's items param.
type Item map[string]any

// GA4's documented Measurement Protocol limits
// (developers.google.com/analytics/devguides/collection/protocol/ga4/sending-events#limitations).
const (
	MaxEvents           = 25
	MaxParams           = 25
	MaxNameLen          = 40
	MaxValueLen         = 100 // standard property (360: 500)
	MaxItems            = 200
	MaxItemCustomParams = 10
	MaxBodyBytes        = 130_000 // "smaller than 130kB"
	// MaxBackdate is how far back timestamp_micros may lie; GA4 silently
	// drops older events.
	MaxBackdate = 72 * time.Hour
)

var (
	nameRe     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
)

// reservedEvents are event names GA4 reserves (automatically collected
// events); a Measurement Protocol event with one of them is dropped.
var reservedEvents = map[string]bool{
	"ad_activeview": true, "ad_click": true, "ad_exposure": true, "ad_impression": true,
	"ad_query": true, "ad_reward": true, "adunit_exposure": true, "app_background": true,
	"app_clear_data": true, "app_exception": true, "app_remove": true, "app_store_refund": true,
	"app_store_subscription_cancel": true, "app_store_subscription_convert": true,
	"app_store_subscription_renew": true, "app_update": true, "app_upgrade": true,
	"dynamic_link_app_open": true, "dynamic_link_app_update": true, "dynamic_link_first_open": true,
	"error": true, "first_open": true, "first_visit": true, "in_app_purchase": true,
	"notification_dismiss": true, "notification_foreground": true, "notification_open": true,
	"notification_receive": true, "os_update": true, "session_start": true,
	"session_start_with_rollout": true, "user_engagement": true,
}

// reservedPrefixes may not start an event or parameter name.
var reservedPrefixes = []string{"google_", "ga_", "firebase_"}

// standardItemParams are the item fields GA4 defines; any other key counts
// against MaxItemCustomParams.
var standardItemParams = map[string]bool{
	"item_id": true, "item_name": true, "affiliation": true, "coupon": true, "discount": true,
	"index": true, "item_brand": true, "item_category": true, "item_category2": true,
	"item_category3": true, "item_category4": true, "item_category5": true, "item_list_id": true,
	"item_list_name": true, "item_variant": true, "location_id": true, "price": true, "quantity": true,
}

// ValidationError lists every reason a payload may not be sent. It never
// leaves the process: the handler turns it into a permanent failure.
type ValidationError struct {
	// Server is true when GA4's validation server (debug mode) found the
	// problems, false for the local checks.
	Server   bool
	Problems []string
}

func (e *ValidationError) Error() string {
	by := "rejected locally, not sent"
	if e.Server {
		by = "rejected by GA4's validation server"
	}
	return "ga4: invalid payload (" + by + "): " + strings.Join(e.Problems, "; ")
}

// IsValidationError reports whether err is (or wraps) a *ValidationError.
func IsValidationError(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// CheckEventName reports why name cannot be an event name ("" if it can).
func CheckEventName(name string) string {
	if p := checkName(name); p != "" {
		return p
	}
	if reservedEvents[name] {
		return "reserved event name"
	}
	return ""
}

func checkName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case len(name) > MaxNameLen:
		return fmt.Sprintf("name longer than %d characters", MaxNameLen)
	case !nameRe.MatchString(name):
		return "name must start with a letter and hold only letters, digits and underscores"
	}
	lower := strings.ToLower(name)
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(lower, p) {
			return "reserved prefix " + p
		}
	}
	return ""
}

// Validate checks p against GA4's limits and the no-PII rule, at now (for
// the timestamp window), and returns the encoded body ready to send. Any
// failure is a *ValidationError listing every problem found.
func Validate(p *Payload, now time.Time) ([]byte, error) {
	var probs []string
	add := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }

	switch {
	case p.ClientID == "":
		add("client_id is required")
	case len(p.ClientID) > 256:
		add("client_id longer than 256 characters")
	case emailRe.MatchString(p.ClientID):
		// (digits are what a client id is made of: only e-mail is checked)
		add("client_id holds an e-mail address")
	}
	if p.UserID != "" {
		if len(p.UserID) > 256 {
			add("user_id longer than 256 characters")
		}
		if emailRe.MatchString(p.UserID) {
			add("user_id holds an e-mail address")
		}
	}
	if p.TimestampMicros != 0 {
		ts := time.UnixMicro(p.TimestampMicros)
		if ts.Before(now.Add(-MaxBackdate)) {
			add("timestamp_micros %s is older than GA4's %v backdating window", ts.UTC().Format(time.RFC3339), MaxBackdate)
		}
		if ts.After(now.Add(5 * time.Minute)) {
			add("timestamp_micros %s lies in the future", ts.UTC().Format(time.RFC3339))
		}
	}
	switch {
	case len(p.Events) == 0:
		add("no events")
	case len(p.Events) > MaxEvents:
		add("%d events (at most %d per request)", len(p.Events), MaxEvents)
	}
	for i, ev := range p.Events {
		where := fmt.Sprintf("event[%d] %q", i, ev.Name)
		if why := CheckEventName(ev.Name); why != "" {
			add("%s: %s", where, why)
		}
		if len(ev.Params) > MaxParams {
			add("%s: %d params (at most %d)", where, len(ev.Params), MaxParams)
		}
		for _, k := range sortedKeys(ev.Params) {
			checkParam(add, where, k, ev.Params[k], true)
		}
		if _, ok := ev.Params["value"]; ok {
			// GA4 ignores a value without a currency.
			if c, _ := ev.Params["currency"].(string); !currencyRe.MatchString(c) {
				add("%s: value needs currency as an upper-case ISO 4217 code (got %q)", where, c)
			}
		}
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, &ValidationError{Problems: []string{"encoding: " + err.Error()}}
	}
	if len(body) >= MaxBodyBytes {
		return nil, &ValidationError{Problems: []string{fmt.Sprintf("body of %d bytes (must be smaller than %d)", len(body), MaxBodyBytes)}}
	}
	return body, nil
}

func checkParam(add func(string, ...any), where, k string, v any, top bool) {
	pw := where + " param " + strconvQuote(k)
	if why := checkName(k); why != "" {
		add("%s: %s", pw, why)
	}
	if IsPersonalKey(k) {
		add("%s: personal data may not be sent to GA4", pw)
	}
	switch x := v.(type) {
	case string:
		if n := utf8.RuneCountInString(x); n > MaxValueLen {
			add("%s: value of %d characters (at most %d)", pw, n, MaxValueLen)
		}
		if why := looksPersonal(x); why != "" {
			add("%s: value holds %s", pw, why)
		}
	case int, int32, int64:
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			add("%s: value is not a finite number", pw)
		}
	case []Item:
		if !top || k != "items" {
			add("%s: only the top-level items param may hold a list", pw)
			return
		}
		if len(x) > MaxItems {
			add("%s: %d items (at most %d)", pw, len(x), MaxItems)
		}
		for j, it := range x {
			iw := fmt.Sprintf("%s item[%d]", where, j)
			id, _ := it["item_id"].(string)
			name, _ := it["item_name"].(string)
			if id == "" && name == "" {
				add("%s: item_id or item_name is required", iw)
			}
			custom := 0
			for _, ik := range sortedKeys(it) {
				if !standardItemParams[ik] {
					custom++
				}
				checkParam(add, iw, ik, it[ik], false)
			}
			if custom > MaxItemCustomParams {
				add("%s: %d custom item params (at most %d)", iw, custom, MaxItemCustomParams)
			}
		}
	default:
		add("%s: unsupported value type %T (strings and numbers only)", pw, v)
	}
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
