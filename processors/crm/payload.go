package crm

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors/events"
)

// LeadPayload is the body of POST {endpoint}/leads. Absent values are JSON
// null; every key is always present.
type LeadPayload struct {
	LeadID           string          `json:"lead_id"` // Hookstream's leads.id (also the {lead_id} of purchases)
	ExternalLeadID   *string         `json:"external_lead_id"`
	SubmissionID     *string         `json:"submission_id"`
	Contact          ContactPayload  `json:"contact"`
	LeadSource       string          `json:"lead_source"` // website | facebook | webhook
	FormType         *string         `json:"form_type"`
	ServiceInterest  *string         `json:"service_interest"`
	ProductInterest  *string         `json:"product_interest"`
	Message          *string         `json:"message"`
	MarketingConsent *bool           `json:"marketing_consent"`
	LeadStatus       *string         `json:"lead_status"`
	Score            int             `json:"score"`
	Attribution      LeadAttribution `json:"attribution"`
	Metadata         LeadMetadata    `json:"metadata"`
}

// ContactPayload is the lead's contact.
type ContactPayload struct {
	ID        string  `json:"id"` // contacts.id
	CRMID     *string `json:"crm_id"`
	Email     *string `json:"email"`
	Name      *string `json:"name"`
	FirstName *string `json:"first_name"`
	LastName  *string `json:"last_name"`
	Phone     *string `json:"phone"` // E.164
	Company   *string `json:"company"`
}

// Attribution is the campaign a lead or purchase came from.
type Attribution struct {
	UTMSource   *string `json:"utm_source"`
	UTMMedium   *string `json:"utm_medium"`
	UTMCampaign *string `json:"utm_campaign"`
	UTMTerm     *string `json:"utm_term"`
	UTMContent  *string `json:"utm_content"`
}

// LeadAttribution adds where on the site the lead came from.
type LeadAttribution struct {
	Attribution
	PageURL  *string `json:"page_url"`
	Referrer *string `json:"referrer"`
}

// LeadMetadata says where the lead came from in Hookstream.
type LeadMetadata struct {
	SourceEventID string    `json:"source_event_id"`
	Source        string    `json:"source"` // form | webhook | facebook
	WebhookID     *string   `json:"webhook_id"`
	WorkspaceID   string    `json:"workspace_id"`
	MatchType     string    `json:"match_type"` // crm_id | phone | email | new
	IsNewContact  bool      `json:"is_new_contact"`
	SubmittedAt   time.Time `json:"submitted_at"` // when Hookstream received it
	CreatedAt     time.Time `json:"created_at"`
}

// PurchasePayload is the body of POST {endpoint}/leads/{lead_id}/purchase.
type PurchasePayload struct {
	LeadID      string             `json:"lead_id"`
	ContactID   *string            `json:"contact_id"`
	Transaction TransactionPayload `json:"transaction"`
	Stage       string             `json:"stage"` // always "customer"
	Attribution Attribution        `json:"attribution"`
	Metadata    PurchaseMetadata   `json:"metadata"`
}

// TransactionPayload is the payment.
type TransactionPayload struct {
	ID            string      `json:"id"`    // the Stripe PaymentIntent id
	Value         json.Number `json:"value"` // decimal in the currency's unit (1499.00)
	AmountMinor   int64       `json:"amount_minor"`
	Currency      string      `json:"currency"` // ISO 4217, upper case
	ServiceType   *string     `json:"service_type"`
	PaymentMethod *string     `json:"payment_method"`
	PurchasedAt   time.Time   `json:"purchased_at"` // the Stripe event's created
	TestMode      bool        `json:"test_mode"`    // !livemode
}

// PurchaseMetadata says where the purchase came from.
type PurchaseMetadata struct {
	SourceEventID string `json:"source_event_id"`
	StripeEventID string `json:"stripe_event_id"`
	WorkspaceID   string `json:"workspace_id"`
}

func str(s string) *string {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return &s
}

func leadPayload(ev *events.Lead, sourceID string) LeadPayload {
	c := ev.Contact
	name := strings.TrimSpace(c.FirstName + " " + c.LastName)
	src := ev.Source
	switch src {
	case "form", "":
		src = "website"
	}
	created := ev.CreatedAt
	if created.IsZero() {
		created = ev.ReceivedAt
	}
	return LeadPayload{
		LeadID: ev.LeadID, ExternalLeadID: str(ev.ExternalLeadID), SubmissionID: str(ev.SubmissionID),
		Contact: ContactPayload{ID: c.ID, CRMID: str(c.CRMID), Email: str(c.Email), Name: str(name),
			FirstName: str(c.FirstName), LastName: str(c.LastName), Phone: str(c.Phone), Company: str(c.Company)},
		LeadSource: src, FormType: str(ev.FormType), ServiceInterest: str(ev.ServiceInterest),
		ProductInterest: str(ev.ProductInterest), Message: str(ev.Message), MarketingConsent: ev.MarketingConsent,
		LeadStatus: str(ev.LeadStatus), Score: ev.Score,
		Attribution: LeadAttribution{Attribution: Attribution{UTMSource: str(ev.UTM["utm_source"]),
			UTMMedium: str(ev.UTM["utm_medium"]), UTMCampaign: str(ev.UTM["utm_campaign"]), UTMTerm: str(ev.UTM["utm_term"]),
			UTMContent: str(ev.UTM["utm_content"])}, PageURL: str(ev.PageURL), Referrer: str(ev.Referrer)},
		Metadata: LeadMetadata{SourceEventID: sourceID, Source: ev.Source, WebhookID: str(ev.WebhookID),
			WorkspaceID: c.WorkspaceID, MatchType: ev.MatchType, IsNewContact: ev.IsNewContact,
			SubmittedAt: ev.ReceivedAt, CreatedAt: created},
	}
}

func purchasePayload(p *events.Payment, sourceID string) PurchasePayload {
	return PurchasePayload{
		LeadID: p.LeadID, ContactID: str(p.ContactID), Stage: "customer",
		Transaction: TransactionPayload{ID: p.TransactionID, Value: p.Amount, AmountMinor: p.AmountMinor,
			Currency: p.Currency, ServiceType: str(p.ServiceType), PaymentMethod: str(p.PaymentMethodType),
			PurchasedAt: p.StripeCreated, TestMode: !p.Livemode},
		Attribution: Attribution{UTMSource: str(p.UTM.Source), UTMMedium: str(p.UTM.Medium), UTMCampaign: str(p.UTM.Campaign),
			UTMTerm: str(p.UTM.Term), UTMContent: str(p.UTM.Content)},
		Metadata: PurchaseMetadata{SourceEventID: sourceID, StripeEventID: p.StripeEventID, WorkspaceID: p.WorkspaceID},
	}
}
