package events

import (
	"encoding/json"
	"time"
)

// Stripe-derived domain events, emitted by the payments processor (the only
// code that parses Stripe events). Each carries the Stripe event it came
// from; its Nats-Msg-Id is "<kind>:stripe:<stripe event id>", so a Stripe
// event redelivered days later never emits twice.
//
// Amounts are given twice: in the currency's minor unit as Stripe sends them
// (AmountMinor, 149900) and as an exact decimal (Amount, 1499.00 — a JSON
// number written with the currency's decimals; decode it into json.Number
// or float64). Currency is the upper-case ISO 4217 code.
//
// Email is the payer's address, for destinations that need it (CRM,
// MailerLite); analytics destinations must drop it.

// StripeRef identifies the Stripe event behind a domain event.
type StripeRef struct {
	StripeEventID   string    `json:"stripe_event_id"`
	StripeEventType string    `json:"stripe_event_type"`
	APIVersion      string    `json:"api_version,omitempty"`
	Livemode        bool      `json:"livemode"`
	StripeCreated   time.Time `json:"stripe_created"` // the Stripe event's created
	// Superseded is true when the projection already held a newer state of
	// the same Stripe object (this event arrived late): the fact happened,
	// but it is not the object's current state.
	Superseded bool `json:"superseded,omitempty"`
}

// Link is who a Stripe object belongs to in Hookstream.
type Link struct {
	WorkspaceID string `json:"workspace_id"`
	ContactID   string `json:"contact_id,omitempty"` // contacts.id
	LeadID      string `json:"lead_id,omitempty"`    // leads.id
	// LeadRef is metadata.lead_id as given to Stripe (a leads.id,
	// external_lead_id or submission_id).
	LeadRef    string `json:"lead_ref,omitempty"`
	Email      string `json:"email,omitempty"`
	CustomerID string `json:"customer_id,omitempty"` // Stripe customer (cus_…)
}

// UTM holds the campaign fields carried in Stripe metadata.
type UTM struct {
	Source   string `json:"utm_source,omitempty"`
	Medium   string `json:"utm_medium,omitempty"`
	Campaign string `json:"utm_campaign,omitempty"`
	Term     string `json:"utm_term,omitempty"`
	Content  string `json:"utm_content,omitempty"`
}

// Payment is the body of events.payment.succeeded and events.payment.failed
// (one per payment_intent.succeeded / payment_intent.payment_failed).
type Payment struct {
	Origin
	StripeRef
	Link
	TransactionID     string      `json:"transaction_id"` // the PaymentIntent id (pi_…)
	AmountMinor       int64       `json:"amount_minor"`
	Amount            json.Number `json:"amount"`
	Currency          string      `json:"currency"`
	Status            string      `json:"status"`        // succeeded | failed
	StripeStatus      string      `json:"stripe_status"` // the PaymentIntent's status
	ServiceType       string      `json:"service_type,omitempty"`
	PaymentMethodType string      `json:"payment_method_type,omitempty"`
	Description       string      `json:"description,omitempty"`
	UTM               UTM         `json:"utm"`
	// Failures (events.payment.failed): last_payment_error.
	ErrorCode    string `json:"error_code,omitempty"`
	DeclineCode  string `json:"decline_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
	ErrorType    string `json:"error_type,omitempty"`
}

// Dispute is the body of events.dispute.created.
type Dispute struct {
	Origin
	StripeRef
	Link
	DisputeID     string      `json:"dispute_id"`
	ChargeID      string      `json:"charge_id,omitempty"`
	TransactionID string      `json:"transaction_id,omitempty"` // the disputed PaymentIntent
	AmountMinor   int64       `json:"amount_minor"`
	Amount        json.Number `json:"amount"`
	Currency      string      `json:"currency"`
	Reason        string      `json:"reason,omitempty"`
	Status        string      `json:"status"`
	EvidenceDueBy *time.Time  `json:"evidence_due_by,omitempty"`
}

// Invoice is the body of events.invoice.paid (invoice.payment_succeeded).
type Invoice struct {
	Origin
	StripeRef
	Link
	InvoiceID      string      `json:"invoice_id"`
	Number         string      `json:"number,omitempty"`
	SubscriptionID string      `json:"subscription_id,omitempty"`
	TransactionID  string      `json:"transaction_id,omitempty"` // its PaymentIntent, if any
	AmountMinor    int64       `json:"amount_minor"`             // amount_paid
	Amount         json.Number `json:"amount"`
	Currency       string      `json:"currency"`
	Status         string      `json:"status"`
	BillingReason  string      `json:"billing_reason,omitempty"`
	ServiceType    string      `json:"service_type,omitempty"`
	UTM            UTM         `json:"utm"`
}

// Subscription is the body of events.subscription.created.
type Subscription struct {
	Origin
	StripeRef
	Link
	SubscriptionID     string      `json:"subscription_id"`
	Status             string      `json:"status"`
	PriceID            string      `json:"price_id,omitempty"`
	ProductID          string      `json:"product_id,omitempty"`
	Interval           string      `json:"interval,omitempty"` // day | week | month | year
	IntervalCount      int64       `json:"interval_count,omitempty"`
	AmountMinor        int64       `json:"amount_minor"` // per interval, all items
	Amount             json.Number `json:"amount"`
	Currency           string      `json:"currency"`
	CurrentPeriodStart *time.Time  `json:"current_period_start,omitempty"`
	CurrentPeriodEnd   *time.Time  `json:"current_period_end,omitempty"`
	TrialEnd           *time.Time  `json:"trial_end,omitempty"`
	ServiceType        string      `json:"service_type,omitempty"`
	UTM                UTM         `json:"utm"`
}
