// Package events defines the JSON bodies of the domain events in the EVENTS
// stream, shared by the processors that emit and consume them.
package events

import "time"

// Contact is a contact snapshot as carried in events.
type Contact struct {
	ID               string            `json:"id"`
	WorkspaceID      string            `json:"workspace_id"`
	CRMID            string            `json:"crm_id,omitempty"`
	Email            string            `json:"email,omitempty"`
	Phone            string            `json:"phone,omitempty"`
	FirstName        string            `json:"first_name,omitempty"`
	LastName         string            `json:"last_name,omitempty"`
	Company          string            `json:"company,omitempty"`
	Product          string            `json:"product,omitempty"`
	LeadStatus       string            `json:"lead_status,omitempty"`
	ServiceInterest  string            `json:"service_interest,omitempty"`
	MarketingConsent *bool             `json:"marketing_consent,omitempty"`
	Score            int               `json:"score"`
	BoardID          string            `json:"board_id,omitempty"`
	BoardName        string            `json:"board_name,omitempty"`
	Custom           map[string]string `json:"custom,omitempty"`
}

// Origin says where the source event came from.
type Origin struct {
	SourceEventID string    `json:"source_event_id"`
	Source        string    `json:"source"` // webhook | form | facebook
	WebhookID     string    `json:"webhook_id,omitempty"`
	FormType      string    `json:"form_type,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
}

// ContactChanged is the body of events.contact.created and
// events.contact.updated.
type ContactChanged struct {
	Origin
	Contact      Contact `json:"contact"`
	MatchType    string  `json:"match_type"` // crm_id | phone | email | new
	IsNewContact bool    `json:"is_new_contact"`
	LeadID       string  `json:"lead_id"`
	// Lead attributes board rules match on.
	UTMSource   string `json:"utm_source,omitempty"`
	UTMMedium   string `json:"utm_medium,omitempty"`
	UTMCampaign string `json:"utm_campaign,omitempty"`
	LeadScore   int    `json:"lead_score"`
}

// Lead is the body of events.lead.created.
type Lead struct {
	Origin
	LeadID           string            `json:"lead_id"`
	ExternalLeadID   string            `json:"external_lead_id,omitempty"`
	SubmissionID     string            `json:"submission_id,omitempty"`
	Contact          Contact           `json:"contact"`
	IsNewContact     bool              `json:"is_new_contact"`
	MatchType        string            `json:"match_type"`
	LeadStatus       string            `json:"lead_status,omitempty"`
	ProductInterest  string            `json:"product_interest,omitempty"`
	ServiceInterest  string            `json:"service_interest,omitempty"`
	Message          string            `json:"message,omitempty"`
	MarketingConsent *bool             `json:"marketing_consent,omitempty"`
	UTM              map[string]string `json:"utm,omitempty"`
	PageURL          string            `json:"page_url,omitempty"`
	Referrer         string            `json:"referrer,omitempty"`
	Score            int               `json:"score"`
	CreatedAt        time.Time         `json:"created_at"`
}

// BoardAssigned is the body of events.board.assigned.
type BoardAssigned struct {
	Origin
	ContactID string  `json:"contact_id"`
	BoardID   string  `json:"board_id"`
	BoardName string  `json:"board_name"`
	RuleID    string  `json:"rule_id"`
	Contact   Contact `json:"contact"`
}
