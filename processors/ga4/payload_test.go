package ga4_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/processors/ga4"
)

func validPayload() *ga4.Payload {
	return &ga4.Payload{ClientID: "123456789.1234567890", TimestampMicros: time.Now().UnixMicro(),
		Events: []ga4.Event{{Name: "generate_lead", Params: map[string]any{
			"engagement_time_msec": 1, "session_id": int64(1763800000), "form_type": "contact"}}}}
}

func TestValidate(t *testing.T) {
	now := time.Now()
	long := strings.Repeat("x", 101)
	cases := []struct {
		name string
		edit func(p *ga4.Payload)
		want string // substring of the error; "" = valid
	}{
		{"valid", func(p *ga4.Payload) {}, ""},
		{"no client id", func(p *ga4.Payload) { p.ClientID = "" }, "client_id is required"},
		{"email client id", func(p *ga4.Payload) { p.ClientID = "jo@example.com" }, "client_id holds an e-mail"},
		{"no events", func(p *ga4.Payload) { p.Events = nil }, "no events"},
		{"26 events", func(p *ga4.Payload) {
			for range 25 {
				p.Events = append(p.Events, p.Events[0])
			}
		}, "26 events"},
		{"25 events", func(p *ga4.Payload) {
			for range 24 {
				p.Events = append(p.Events, p.Events[0])
			}
		}, ""},
		{"reserved event", func(p *ga4.Payload) { p.Events[0].Name = "session_start" }, "reserved event name"},
		{"reserved first_visit", func(p *ga4.Payload) { p.Events[0].Name = "first_visit" }, "reserved event name"},
		{"reserved ad_click", func(p *ga4.Payload) { p.Events[0].Name = "ad_click" }, "reserved event name"},
		{"google_ prefix", func(p *ga4.Payload) { p.Events[0].Name = "google_lead" }, "reserved prefix google_"},
		{"ga_ prefix", func(p *ga4.Payload) { p.Events[0].Name = "ga_lead" }, "reserved prefix ga_"},
		{"firebase_ prefix", func(p *ga4.Payload) { p.Events[0].Name = "Firebase_lead" }, "reserved prefix firebase_"},
		{"name starts with digit", func(p *ga4.Payload) { p.Events[0].Name = "1lead" }, "must start with a letter"},
		{"name with dash", func(p *ga4.Payload) { p.Events[0].Name = "new-lead" }, "must start with a letter"},
		{"name 41 chars", func(p *ga4.Payload) { p.Events[0].Name = "a" + strings.Repeat("b", 40) }, "longer than 40"},
		{"name 40 chars", func(p *ga4.Payload) { p.Events[0].Name = "a" + strings.Repeat("b", 39) }, ""},
		{"26 params", func(p *ga4.Payload) {
			for i := range 23 {
				p.Events[0].Params["p"+strings.Repeat("x", i)] = "v"
			}
		}, "26 params"},
		{"25 params", func(p *ga4.Payload) {
			for i := range 22 {
				p.Events[0].Params["p"+strings.Repeat("x", i)] = "v"
			}
		}, ""},
		{"param name 41", func(p *ga4.Payload) { p.Events[0].Params["p"+strings.Repeat("x", 40)] = "v" }, "longer than 40"},
		{"reserved param prefix", func(p *ga4.Payload) { p.Events[0].Params["ga_session"] = "v" }, "reserved prefix ga_"},
		{"firebase_conversion", func(p *ga4.Payload) { p.Events[0].Params["firebase_conversion"] = 1 }, "reserved prefix firebase_"},
		{"value 101", func(p *ga4.Payload) { p.Events[0].Params["form_type"] = long }, "value of 101 characters"},
		{"value 100 runes", func(p *ga4.Payload) { p.Events[0].Params["form_type"] = strings.Repeat("é", 100) }, ""},
		{"email param", func(p *ga4.Payload) { p.Events[0].Params["email"] = "x" }, "personal data"},
		{"billing_email param", func(p *ga4.Payload) { p.Events[0].Params["billing_email"] = "x" }, "personal data"},
		{"ip_address param", func(p *ga4.Payload) { p.Events[0].Params["ip_address"] = "x" }, "personal data"},
		{"first_name param", func(p *ga4.Payload) { p.Events[0].Params["first_name"] = "x" }, "personal data"},
		{"email value", func(p *ga4.Payload) { p.Events[0].Params["form_type"] = "jo@example.com" }, "e-mail address"},
		{"url-encoded email", func(p *ga4.Payload) { p.Events[0].Params["form_type"] = "jo%40example.com" }, "e-mail address"},
		{"phone value", func(p *ga4.Payload) { p.Events[0].Params["form_type"] = "call (626) 663-3444" }, "phone"},
		{"e164 value", func(p *ga4.Payload) { p.Events[0].Params["form_type"] = "+16266633444" }, "phone"},
		{"ipv4 value", func(p *ga4.Payload) { p.Events[0].Params["form_type"] = "10.20.30.40" }, "phone"},
		{"id with digits is fine", func(p *ga4.Payload) { p.Events[0].Params["form_type"] = "ld_8f2349871ab" }, ""},
		{"date is fine", func(p *ga4.Payload) { p.Events[0].Params["form_type"] = "2025-11-22" }, ""},
		{"bool value", func(p *ga4.Payload) { p.Events[0].Params["flag"] = true }, "unsupported value type"},
		{"nested map", func(p *ga4.Payload) { p.Events[0].Params["m"] = map[string]any{} }, "unsupported value type"},
		{"items elsewhere", func(p *ga4.Payload) { p.Events[0].Params["things"] = []ga4.Item{{"item_id": "a"}} }, "only the top-level items"},
		{"item without id", func(p *ga4.Payload) { p.Events[0].Params["items"] = []ga4.Item{{"price": 1.0}} }, "item_id or item_name"},
		{"201 items", func(p *ga4.Payload) {
			its := make([]ga4.Item, 201)
			for i := range its {
				its[i] = ga4.Item{"item_id": "a"}
			}
			p.Events[0].Params["items"] = its
		}, "201 items"},
		{"11 custom item params", func(p *ga4.Payload) {
			it := ga4.Item{"item_id": "a"}
			for i := range 11 {
				it["c"+strings.Repeat("x", i)] = "v"
			}
			p.Events[0].Params["items"] = []ga4.Item{it}
		}, "11 custom item params"},
		{"item pii", func(p *ga4.Payload) { p.Events[0].Params["items"] = []ga4.Item{{"item_id": "jo@example.com"}} }, "e-mail"},
		{"value without currency", func(p *ga4.Payload) { p.Events[0].Params["value"] = 10.0 }, "value needs currency"},
		{"value with bad currency", func(p *ga4.Payload) {
			p.Events[0].Params["value"] = 10.0
			p.Events[0].Params["currency"] = "usd"
		}, "value needs currency"},
		{"value with currency", func(p *ga4.Payload) {
			p.Events[0].Params["value"] = 10.0
			p.Events[0].Params["currency"] = "EUR"
		}, ""},
		{"too old", func(p *ga4.Payload) { p.TimestampMicros = now.Add(-73 * time.Hour).UnixMicro() }, "older than GA4's 72h0m0s"},
		{"future", func(p *ga4.Payload) { p.TimestampMicros = now.Add(time.Hour).UnixMicro() }, "future"},
		{"body too large", func(p *ga4.Payload) {
			p.Events = nil
			for range 25 {
				ps := map[string]any{}
				for j := range 25 {
					ps["p"+strings.Repeat("x", j)] = strings.Repeat("y", 100)
				}
				its := make([]ga4.Item, 50)
				for k := range its {
					its[k] = ga4.Item{"item_id": strings.Repeat("i", 100), "item_name": strings.Repeat("n", 100)}
				}
				ps["items"] = its
				delete(ps, "p")
				p.Events = append(p.Events, ga4.Event{Name: "big", Params: ps})
			}
		}, "must be smaller than 130000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := validPayload()
			c.edit(p)
			body, err := ga4.Validate(p, now)
			if c.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if len(body) == 0 {
					t.Fatal("no body")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want error containing %q, got %v", c.want, err)
			}
			if !ga4.IsValidationError(err) {
				t.Fatalf("not a ValidationError: %T", err)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	in := map[string]any{
		"email": "jo@example.com", "phone": "+16266633444", "first_name": "Jo", "shipping_address": "1 Main St",
		"ip_address": "10.0.0.1", "user_ip": "10.0.0.1",
		"utm_campaign": "spring jo@example.com", "note": "call 626-663-3444 now", "order": "ld_8f2349871ab",
		"item_name": "Bath", "value": 12.5,
		"items": []ga4.Item{{"item_name": "x@y.io", "email": "a@b.co"}},
	}
	out := ga4.Scrub(in)
	for _, k := range []string{"email", "phone", "first_name", "shipping_address", "ip_address", "user_ip"} {
		if _, ok := out[k]; ok {
			t.Errorf("%s kept", k)
		}
	}
	if got := out["utm_campaign"]; got != "spring "+ga4.EmailMask {
		t.Errorf("utm_campaign = %q", got)
	}
	if got := out["note"]; got != "call "+ga4.PhoneMask+" now" {
		t.Errorf("note = %q", got)
	}
	if out["order"] != "ld_8f2349871ab" || out["item_name"] != "Bath" || out["value"] != 12.5 {
		t.Errorf("harmless values changed: %v", out)
	}
	it := out["items"].([]ga4.Item)[0]
	if it["item_name"] != ga4.EmailMask || it["email"] != nil {
		t.Errorf("item not scrubbed: %v", it)
	}
	if in["email"] != "jo@example.com" {
		t.Error("input modified")
	}
}

func TestBuilders(t *testing.T) {
	at := time.Date(2025, 11, 22, 8, 26, 40, 0, time.UTC)
	l := &events.Lead{Origin: events.Origin{Source: "form", FormType: "contact", ReceivedAt: at},
		LeadID: "ld_1", Contact: events.Contact{ID: "ct_1", Email: "jo@example.com", Phone: "+16266633444", FirstName: "Jo"},
		ServiceInterest: "Bath Remodel", PageURL: "https://example.com/services/bath-remodel?email=jo%40example.com#x",
		UTM: map[string]string{"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"}, Score: 42, CreatedAt: at}
	p := ga4.LeadPayload("generate_lead", l)
	if p.ClientID != ga4.ClientID("ct_1") || strings.Contains(p.ClientID, "ct_1") {
		t.Fatalf("client id %q", p.ClientID)
	}
	ps := p.Events[0].Params
	want := map[string]any{"form_type": "contact", "form_location": "/services/bath-remodel", "source": "form",
		"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring", "service_interest": "Bath Remodel",
		"lead_score": 42, "lead_id": "ld_1", "engagement_time_msec": 1, "session_id": at.Unix()}
	for k, v := range want {
		if ps[k] != v {
			t.Errorf("%s = %#v, want %#v", k, ps[k], v)
		}
	}
	if p.TimestampMicros != at.UnixMicro() {
		t.Errorf("timestamp %d", p.TimestampMicros)
	}
	if _, err := ga4.Validate(p, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	pm := &events.Payment{Origin: events.Origin{ReceivedAt: at}, TransactionID: "pi_1", AmountMinor: 149900, Amount: "1499.00",
		Currency: "USD", Link: events.Link{ContactID: "ct_1", LeadRef: "lead_7f3a9c", Email: "benjie@example.com"},
		ServiceType: "Bath Remodel", PaymentMethodType: "card", StripeRef: events.StripeRef{StripeCreated: at.Add(-400 * 24 * time.Hour)}}
	pp := ga4.PurchasePayload("purchase", pm)
	if pp.ClientID != p.ClientID {
		t.Errorf("purchase client id %q differs from the lead's %q", pp.ClientID, p.ClientID)
	}
	pps := pp.Events[0].Params
	if pps["transaction_id"] != "pi_1" || pps["value"] != 1499.0 || pps["currency"] != "USD" {
		t.Errorf("purchase params %v", pps)
	}
	items := pps["items"].([]ga4.Item)
	if len(items) != 1 || items[0]["item_id"] != "bath_remodel" || items[0]["item_name"] != "Bath Remodel" {
		t.Errorf("items %v", items)
	}
	if pp.TimestampMicros != at.UnixMicro() {
		t.Errorf("purchase timestamp %v, want the received time", time.UnixMicro(pp.TimestampMicros))
	}
	if strings.Contains(fmt.Sprint(pp), "benjie") {
		t.Errorf("purchase carries the e-mail: %v", pp)
	}
	if v := ga4.PaymentValue(&events.Payment{AmountMinor: 500, Currency: "JPY"}); v != 500 {
		t.Errorf("JPY value %v", v)
	}
	fp := ga4.FailedPayload("payment_failed", &events.Payment{Origin: events.Origin{ReceivedAt: at}, TransactionID: "pi_2",
		ErrorCode: "card_declined", ErrorMessage: "Your card jo@example.com was declined", Link: events.Link{LeadID: "lead_x"}})
	if fp.Events[0].Params["error_code"] != "card_declined" || fp.ClientID != ga4.ClientID("lead_x") || strings.Contains(fmt.Sprint(fp), "Your card") {
		t.Errorf("payment_failed %+v", fp)
	}

	if got := ga4.MinorToMajor(500, "jpy"); got != 500 {
		t.Errorf("JPY %v", got)
	}
	if got := ga4.MinorToMajor(1234, "KWD"); got != 1.234 {
		t.Errorf("KWD %v", got)
	}
	for in, want := range map[string]string{"": "", "https://x.com": "/", "https://x.com/a/b?q=1": "/a/b",
		"/contact?email=a@b.co": "/contact", "https://x.com/caf%C3%A9": "/café"} {
		if got := ga4.FormLocation(in); got != want {
			t.Errorf("FormLocation(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegionEndpoint(t *testing.T) {
	for in, want := range map[string]string{"": ga4.DefaultEndpoint, "eu": ga4.EUEndpoint, "EU": ga4.EUEndpoint, "global": ga4.DefaultEndpoint} {
		got, err := ga4.RegionEndpoint(in)
		if err != nil || got != want {
			t.Errorf("RegionEndpoint(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ga4.RegionEndpoint("mars"); err == nil {
		t.Error("unknown region accepted")
	}
}
