package events

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The JSON of domain events is a contract with every consumer of EVENTS
// (boards, crm, mailerlite, ga4, notify, replays of old messages): these
// tests pin the field names and the omission of empty values.

func roundTrip[T any](t *testing.T, v T, want string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got, exp any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("JSON\n got  %s\n want %s", b, want)
	}
	var back T
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, v) {
		t.Errorf("round trip changed the value:\n got  %+v\n want %+v", back, v)
	}
}

var at = time.Date(2025, 11, 22, 8, 26, 40, 123000000, time.UTC)

func yes() *bool { b := true; return &b }

func contact() Contact {
	return Contact{ID: "ct_1", WorkspaceID: "15213", CRMID: "crm_12345", Email: "benjie@example.com",
		Phone: "+16266633444", FirstName: "Benjie", LastName: "Malinao", Company: "Co", Product: "Bath Remodel",
		LeadStatus: "new", ServiceInterest: "bath", MarketingConsent: yes(), Score: 65, BoardID: "bd_1",
		BoardName: "New Leads", Custom: map[string]string{"budget": "15000"}}
}

const contactJSON = `{"id":"ct_1","workspace_id":"15213","crm_id":"crm_12345","email":"benjie@example.com",
	"phone":"+16266633444","first_name":"Benjie","last_name":"Malinao","company":"Co","product":"Bath Remodel",
	"lead_status":"new","service_interest":"bath","marketing_consent":true,"score":65,"board_id":"bd_1",
	"board_name":"New Leads","custom":{"budget":"15000"}}`

const originJSON = `"source_event_id":"wh:wh_1:abc","source":"webhook","webhook_id":"wh_1","form_type":"contact",
	"received_at":"2025-11-22T08:26:40.123Z"`

func origin() Origin {
	return Origin{SourceEventID: "wh:wh_1:abc", Source: "webhook", WebhookID: "wh_1", FormType: "contact", ReceivedAt: at}
}

func TestContactJSON(t *testing.T) {
	roundTrip(t, contact(), contactJSON)
	// Empty values are left out, except the score.
	roundTrip(t, Contact{ID: "ct_2", WorkspaceID: "w"}, `{"id":"ct_2","workspace_id":"w","score":0}`)
}

func TestContactChangedJSON(t *testing.T) {
	roundTrip(t, ContactChanged{Origin: origin(), Contact: contact(), MatchType: "crm_id", IsNewContact: false,
		LeadID: "ld_1", UTMSource: "google", UTMMedium: "cpc", UTMCampaign: "spring", LeadScore: 65},
		`{`+originJSON+`,"contact":`+contactJSON+`,"match_type":"crm_id","is_new_contact":false,"lead_id":"ld_1",
		"utm_source":"google","utm_medium":"cpc","utm_campaign":"spring","lead_score":65}`)
}

func TestLeadJSON(t *testing.T) {
	roundTrip(t, Lead{Origin: origin(), LeadID: "ld_1", ExternalLeadID: "ext", SubmissionID: "sub", Contact: contact(),
		IsNewContact: true, MatchType: "new", LeadStatus: "new", ProductInterest: "Bath Remodel", ServiceInterest: "bath",
		Message: "call me", MarketingConsent: yes(), UTM: map[string]string{"utm_source": "google"},
		PageURL: "https://example.com/a", Referrer: "https://google.com", Score: 80, CreatedAt: at},
		`{`+originJSON+`,"lead_id":"ld_1","external_lead_id":"ext","submission_id":"sub","contact":`+contactJSON+`,
		"is_new_contact":true,"match_type":"new","lead_status":"new","product_interest":"Bath Remodel",
		"service_interest":"bath","message":"call me","marketing_consent":true,"utm":{"utm_source":"google"},
		"page_url":"https://example.com/a","referrer":"https://google.com","score":80,
		"created_at":"2025-11-22T08:26:40.123Z"}`)
}

func TestBoardAssignedJSON(t *testing.T) {
	roundTrip(t, BoardAssigned{Origin: origin(), ContactID: "ct_1", BoardID: "bd_1", BoardName: "New Leads",
		RuleID: "rl_1", Contact: contact()},
		`{`+originJSON+`,"contact_id":"ct_1","board_id":"bd_1","board_name":"New Leads","rule_id":"rl_1",
		"contact":`+contactJSON+`}`)
}
