package ga4

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookstream/hookstream/processors/events"
)

// Names of the events this processor sends (defaults of Config.EventNames).
const (
	EventGenerateLead  = "generate_lead"
	EventPurchase      = "purchase"
	EventPaymentFailed = "payment_failed"
)

// engagementTimeMsec is sent with every event: GA4 shows events in realtime
// reports only with engagement_time_msec (and session_id).
const engagementTimeMsec = 1

// ClientID derives a stable, non-personal GA4 client_id from an internal id
// (the contact's, else the lead's): two decimal numbers like the ones gtag
// makes ("1234567890.1234567890"), so the same person's lead and purchase
// share it and nothing about them can be read from it.
func ClientID(id string) string {
	sum := sha256.Sum256([]byte("hookstream-ga4-client:" + id))
	a := binary.BigEndian.Uint32(sum[0:4])%900_000_000 + 100_000_000
	b := binary.BigEndian.Uint32(sum[4:8])%900_000_000 + 1_000_000_000
	return fmt.Sprintf("%d.%d", a, b)
}

// sessionID is a number (a session's start in Unix seconds, as gtag uses):
// the time of the source event, so a replay rebuilds the same payload.
func sessionID(at time.Time) int64 { return at.Unix() }

// FormLocation is the path of a page URL (no host, query or fragment: they
// can carry personal data), "/" for a bare host, "" when there is no URL.
func FormLocation(pageURL string) string {
	pageURL = strings.TrimSpace(pageURL)
	if pageURL == "" {
		return ""
	}
	u, err := url.Parse(pageURL)
	if err != nil {
		// Not a URL: keep what precedes a query or fragment.
		s := pageURL
		if i := strings.IndexAny(s, "?#"); i >= 0 {
			s = s[:i]
		}
		return s
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if up, err := url.PathUnescape(p); err == nil {
		p = up
	}
	return p
}

// clip cuts free text to GA4's value limit on a rune boundary (GA4 would
// otherwise drop the value; the builders clip what they control, Validate
// rejects what still does not fit).
func clip(s string) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= MaxValueLen {
		return s
	}
	r := []rune(s)
	return string(r[:MaxValueLen])
}

// setStr sets a clipped, scrubbed string param when s is not empty.
func setStr(p map[string]any, k, s string) {
	if s = clip(ScrubString(s)); s != "" {
		p[k] = s
	}
}

func baseParams(at time.Time) map[string]any {
	return map[string]any{"engagement_time_msec": engagementTimeMsec, "session_id": sessionID(at)}
}

// utmKeys are the attribution params forwarded as they are named.
var utmKeys = []string{"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id"}

// LeadPayload builds generate_lead for a new lead.
func LeadPayload(name string, l *events.Lead) *Payload {
	at := l.CreatedAt
	if at.IsZero() {
		at = l.ReceivedAt
	}
	p := baseParams(at)
	setStr(p, "lead_id", l.LeadID)
	setStr(p, "form_type", l.FormType)
	setStr(p, "form_location", FormLocation(l.PageURL))
	setStr(p, "source", l.Source)
	for _, k := range utmKeys {
		setStr(p, k, l.UTM[k])
	}
	setStr(p, "service_interest", l.ServiceInterest)
	setStr(p, "product_interest", l.ProductInterest)
	p["lead_score"] = l.Score
	id := l.Contact.ID
	if id == "" {
		id = l.LeadID
	}
	return &Payload{ClientID: ClientID(id), TimestampMicros: at.UnixMicro(),
		Events: []Event{{Name: name, Params: Scrub(p)}}}
}

// paymentClientID joins a payment to its lead's client_id: by contact, else
// by lead id, else by the transaction (an unattributed purchase).
func paymentClientID(pm *events.Payment) string {
	switch {
	case pm.ContactID != "":
		return ClientID(pm.ContactID)
	case pm.LeadID != "":
		return ClientID(pm.LeadID)
	case pm.LeadRef != "":
		return ClientID(pm.LeadRef)
	}
	return ClientID("txn:" + pm.TransactionID)
}

// paymentTime is when Hookstream received the payment (Stripe's created
// can lie far back when Stripe redelivers, and GA4 takes no event older
// than 72 h).
func paymentTime(pm *events.Payment) time.Time {
	if !pm.ReceivedAt.IsZero() {
		return pm.ReceivedAt
	}
	return pm.StripeCreated
}

// PaymentValue is the amount in major units (the event's exact decimal,
// else the minor-unit amount converted).
func PaymentValue(pm *events.Payment) float64 {
	if pm.Amount != "" {
		if v, err := pm.Amount.Float64(); err == nil {
			return v
		}
	}
	return MinorToMajor(pm.AmountMinor, pm.Currency)
}

func paymentUTM(pm *events.Payment) map[string]string {
	return map[string]string{"utm_source": pm.UTM.Source, "utm_medium": pm.UTM.Medium,
		"utm_campaign": pm.UTM.Campaign, "utm_term": pm.UTM.Term, "utm_content": pm.UTM.Content}
}

// PurchasePayload builds purchase for a successful payment: transaction_id,
// value (major units), currency (ISO 4217, upper case) and one item for the
// service bought.
func PurchasePayload(name string, pm *events.Payment) *Payload {
	at := paymentTime(pm)
	p := baseParams(at)
	setStr(p, "transaction_id", pm.TransactionID)
	value := PaymentValue(pm)
	p["value"] = value
	setStr(p, "currency", strings.ToUpper(pm.Currency))
	setStr(p, "lead_id", pm.LeadID)
	setStr(p, "payment_method", pm.PaymentMethodType)
	utm := paymentUTM(pm)
	for _, k := range utmKeys {
		setStr(p, k, utm[k])
	}
	service := clip(ScrubString(pm.ServiceType))
	if service == "" {
		service = "uncategorized"
	}
	p["items"] = []Item{{"item_id": ItemID(service), "item_name": service, "price": value, "quantity": 1}}
	return &Payload{ClientID: paymentClientID(pm), TimestampMicros: at.UnixMicro(),
		Events: []Event{{Name: name, Params: Scrub(p)}}}
}

// FailedPayload builds payment_failed: the decline's error code, never its
// message (free text).
func FailedPayload(name string, pm *events.Payment) *Payload {
	at := paymentTime(pm)
	p := baseParams(at)
	setStr(p, "transaction_id", pm.TransactionID)
	code := pm.ErrorCode
	if code == "" {
		code = "unknown"
	}
	setStr(p, "error_code", code)
	setStr(p, "decline_code", pm.DeclineCode)
	if pm.AmountMinor > 0 && pm.Currency != "" {
		p["value"] = PaymentValue(pm)
		setStr(p, "currency", strings.ToUpper(pm.Currency))
	}
	setStr(p, "lead_id", pm.LeadID)
	setStr(p, "service_type", pm.ServiceType)
	setStr(p, "payment_method", pm.PaymentMethodType)
	return &Payload{ClientID: paymentClientID(pm), TimestampMicros: at.UnixMicro(),
		Events: []Event{{Name: name, Params: Scrub(p)}}}
}

// ItemID is a service's item_id: lower-case words joined by underscores
// ("Bath Remodel" → "bath_remodel").
func ItemID(service string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(service) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
		default:
			under = true
		}
	}
	if b.Len() == 0 {
		return "service"
	}
	return clip(b.String())
}

// zeroDecimal lists ISO 4217 currencies Stripe amounts carry no minor unit
// for; threeDecimal those with three.
var (
	zeroDecimal = map[string]bool{"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true,
		"KMF": true, "KRW": true, "MGA": true, "PYG": true, "RWF": true, "UGX": true, "VND": true,
		"VUV": true, "XAF": true, "XOF": true, "XPF": true}
	threeDecimal = map[string]bool{"BHD": true, "JOD": true, "KWD": true, "OMR": true, "TND": true}
)

// MinorToMajor converts an amount in minor units to a decimal value.
func MinorToMajor(amount int64, currency string) float64 {
	c := strings.ToUpper(currency)
	switch {
	case zeroDecimal[c]:
		return float64(amount)
	case threeDecimal[c]:
		return math.Round(float64(amount)) / 1000
	}
	return float64(amount) / 100
}
