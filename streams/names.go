// Package streams holds everything JetStream: the stream and subject names other
// parts rely on, the raw-event envelope headers, stream definitions, the embedded
// server and the publish helpers.
package streams

// Stream names, as operators see them in `nats stream ls`.
const (
	StreamIngest = "INGEST" // raw requests exactly as received
	StreamEvents = "EVENTS" // domain events emitted by processors
	StreamDLQ    = "DLQ"    // messages a processor gave up on
)

// Subject roots. Full subjects are built with the helpers below.
const (
	SubjectIngestAll = "ingest.>"
	SubjectEventsAll = "events.>"
	SubjectDLQAll    = "dlq.>"

	SubjectIngestStripe     = "ingest.stripe"  // + .<event_type>
	SubjectIngestWebhook    = "ingest.webhook" // + .<webhook_id>
	SubjectIngestForm       = "ingest.form"    // + .<form_type>
	SubjectIngestFacebook   = "ingest.facebook.leadgen"
	SubjectIngestMailerLite = "ingest.mailerlite" // + .<event>

	SubjectContactCreated      = "events.contact.created"
	SubjectContactUpdated      = "events.contact.updated"
	SubjectLeadCreated         = "events.lead.created"
	SubjectBoardAssigned       = "events.board.assigned"
	SubjectPaymentSucceeded    = "events.payment.succeeded"
	SubjectPaymentFailed       = "events.payment.failed"
	SubjectDisputeCreated      = "events.dispute.created"
	SubjectInvoicePaid         = "events.invoice.paid"
	SubjectSubscriptionCreated = "events.subscription.created"

	// SubjectNotificationLive carries the live feed: the notify processor
	// publishes there, the admin API reads it (ops/live).
	SubjectNotificationLive = "events.notification.live"
)

// Envelope headers carried by every raw event in INGEST.
const (
	HdrMsgID            = "Nats-Msg-Id"
	HdrSource           = "Hs-Source" // stripe | webhook | form | facebook | mailerlite
	HdrWebhookID        = "Hs-Webhook-Id"
	HdrWorkspaceID      = "Hs-Workspace-Id"
	HdrReceivedAt       = "Hs-Received-At" // RFC 3339 with nanoseconds
	HdrRequestID        = "Hs-Request-Id"
	HdrRemoteAddr       = "Hs-Remote-Addr"
	HdrUserAgent        = "Hs-User-Agent"
	HdrContentType      = "Content-Type"
	HdrStripeAPIVersion = "Hs-Stripe-Api-Version"
	HdrFormType         = "Hs-Form-Type"
	HdrEventType        = "Hs-Event-Type" // source event type (Stripe type, MailerLite event, …)
	HdrIdempotencyKey   = "Hs-Idempotency-Key"
	HdrOrigin           = "Hs-Origin"
	// HdrCausationID names the source event a domain event derives from.
	HdrCausationID = "Hs-Causation-Id"
)

// Dead-letter headers: what a message in DLQ carries besides the original
// message's own headers. Processors write them, operator tooling and the
// notify processor read them.
const (
	HdrDLQEventID   = "Hs-Dlq-Event-Id"
	HdrDLQProcessor = "Hs-Dlq-Processor"
	HdrDLQSubject   = "Hs-Dlq-Subject"
	HdrDLQStream    = "Hs-Dlq-Stream"
	HdrDLQSeq       = "Hs-Dlq-Seq"
	HdrDLQError     = "Hs-Dlq-Error"
	HdrDLQAttempts  = "Hs-Dlq-Attempts"
	HdrDLQStatus    = "Hs-Dlq-Status"
	HdrDLQAt        = "Hs-Dlq-At" // RFC 3339 with nanoseconds
)

// Sources, the values of HdrSource.
const (
	SourceStripe     = "stripe"
	SourceWebhook    = "webhook"
	SourceForm       = "form"
	SourceFacebook   = "facebook"
	SourceMailerLite = "mailerlite"
)
