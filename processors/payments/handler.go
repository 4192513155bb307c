package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stripe/stripe-go/v76"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	paymentsdb "github.com/hookstream/hookstream/projections/payments"
	"github.com/hookstream/hookstream/streams"
)

type handler struct {
	store *processors.Store
	cfg   Config
	pm    pmLookup // nil without STRIPE_SECRET_KEY
}

// Detail is the outcome detail recorded for every Stripe event.
type Detail struct {
	Type          string   `json:"type"`
	StripeEventID string   `json:"stripe_event_id"`
	ObjectID      string   `json:"object_id,omitempty"`
	APIVersion    string   `json:"api_version,omitempty"`
	Current       *bool    `json:"current,omitempty"` // false: a newer state was already projected
	LeadID        string   `json:"lead_id,omitempty"`
	ContactID     string   `json:"contact_id,omitempty"`
	Reason        string   `json:"reason,omitempty"`
	Notes         []string `json:"notes,omitempty"`
}

// applyFunc projects one handled event inside the Apply transaction.
type applyFunc func(ctx context.Context, tx *processors.Tx) error

func (h *handler) handle(ctx context.Context, m *processors.Message) error {
	ev, err := parseEvent(m.Data)
	if err != nil {
		return processors.Reject(err)
	}
	ws := m.Workspace
	if ws == "" {
		ws = h.cfg.Workspace
	}
	d := &Detail{Type: string(ev.Type), StripeEventID: ev.ID, APIVersion: apiVersion(ev, m)}
	if id, ok := ev.Data.Object["id"].(string); ok {
		d.ObjectID = id
	}
	var apply applyFunc
	switch string(ev.Type) {
	case TypePaymentSucceeded, TypePaymentFailed:
		pi := new(stripe.PaymentIntent)
		if err := decodeObject(ev, pi, d); err != nil {
			return err
		}
		if pi.ID == "" {
			return processors.Reject(errors.New("payment intent without id"))
		}
		pmType, note, err := h.paymentMethodType(ctx, m, pi)
		if err != nil {
			return err
		}
		if note != "" {
			d.Notes = append(d.Notes, note)
		}
		apply = func(ctx context.Context, tx *processors.Tx) error {
			return h.applyPayment(ctx, tx, m, ws, ev, pi, pmType, d)
		}
	case TypeDisputeCreated:
		dp := new(stripe.Dispute)
		if err := decodeObject(ev, dp, d); err != nil {
			return err
		}
		if dp.ID == "" {
			return processors.Reject(errors.New("dispute without id"))
		}
		apply = func(ctx context.Context, tx *processors.Tx) error { return h.applyDispute(ctx, tx, m, ws, ev, dp, d) }
	case TypeInvoicePaid:
		in := new(stripe.Invoice)
		if err := decodeObject(ev, in, d); err != nil {
			return err
		}
		if in.ID == "" {
			return processors.Reject(errors.New("invoice without id"))
		}
		apply = func(ctx context.Context, tx *processors.Tx) error { return h.applyInvoice(ctx, tx, m, ws, ev, in, d) }
	case TypeSubscriptionCreated:
		sub := new(stripe.Subscription)
		if err := decodeObject(ev, sub, d); err != nil {
			return err
		}
		if sub.ID == "" {
			return processors.Reject(errors.New("subscription without id"))
		}
		apply = func(ctx context.Context, tx *processors.Tx) error {
			return h.applySubscription(ctx, tx, m, ws, ev, sub, d)
		}
	}

	dup := false
	err = h.store.Apply(ctx, Name, m, func(ctx context.Context, tx *processors.Tx) error {
		fresh, err := paymentsdb.InsertStripeEvent(ctx, tx, &paymentsdb.StripeEvent{ID: ev.ID, Type: string(ev.Type),
			WorkspaceID: ws, APIVersion: d.APIVersion, Livemode: ev.Livemode, ObjectID: d.ObjectID, Handled: apply != nil,
			StripeCreated: stripeTime(ev, m), SourceEventID: m.EventID, StreamSeq: int64(m.StreamSeq)})
		if err != nil {
			return err
		}
		if !fresh {
			// The same Stripe event under another message id (a retry
			// from Stripe after the INGEST dedup window, a hand replay).
			dup = true
			return nil
		}
		if apply == nil {
			return nil
		}
		return apply(ctx, tx)
	})
	if err != nil {
		return err
	}
	switch {
	case dup:
		d.Reason = "stripe event " + ev.ID + " was already applied"
		d.Current = nil
		m.SetOutcome(processors.StatusDuplicate, d)
	case apply == nil:
		d.Reason = "stripe event type not handled"
		m.SetOutcome(processors.StatusUnhandled, d)
	default:
		m.SetOutcome("", d)
	}
	return nil
}

// parseEvent decodes a Stripe event with stripe-go's types.
func parseEvent(b []byte) (*stripe.Event, error) {
	var ev stripe.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("stripe event is not valid JSON: %w", err)
		}
		// A field of another shape (another API version): the rest is
		// decoded, and id/type/data are checked below.
	}
	switch {
	case ev.ID == "":
		return nil, errors.New("stripe event without id")
	case ev.Type == "":
		return nil, errors.New("stripe event without type")
	case ev.Data == nil || len(ev.Data.Raw) == 0 || ev.Data.Object == nil:
		return nil, errors.New("stripe event without data.object")
	}
	return &ev, nil
}

// decodeObject decodes data.object into v with stripe-go's types. A field
// whose JSON type differs from stripe-go v76's (another API version) is
// dropped and noted, and the rest decoded; anything else that does not
// decode is invalid input.
func decodeObject(ev *stripe.Event, v any, d *Detail) error {
	raw := []byte(ev.Data.Raw)
	for range 32 {
		err := json.Unmarshal(raw, v)
		if err == nil {
			return nil
		}
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) || te.Field == "" {
			return processors.Reject(fmt.Errorf("%s: data.object does not decode: %w", ev.Type, err))
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var obj any
		if dec.Decode(&obj) != nil || !dropPath(obj, strings.Split(te.Field, ".")) {
			return processors.Reject(fmt.Errorf("%s: data.object does not decode: %w", ev.Type, err))
		}
		d.Notes = append(d.Notes, fmt.Sprintf("field %s skipped: JSON %s where stripe-go v76 expects %s", te.Field, te.Value, te.Type))
		if raw, err = json.Marshal(obj); err != nil {
			return processors.Reject(err)
		}
	}
	return processors.Reject(fmt.Errorf("%s: data.object has too many fields of unexpected types", ev.Type))
}

// dropPath deletes the field at path (object keys; arrays are walked
// element by element) and reports whether it found one.
func dropPath(v any, path []string) bool {
	switch x := v.(type) {
	case map[string]any:
		child, ok := x[path[0]]
		if !ok {
			return false
		}
		if len(path) == 1 {
			delete(x, path[0])
			return true
		}
		return dropPath(child, path[1:])
	case []any:
		found := false
		for _, el := range x {
			found = dropPath(el, path) || found
		}
		return found
	}
	return false
}

func apiVersion(ev *stripe.Event, m *processors.Message) string {
	if ev.APIVersion != "" {
		return ev.APIVersion
	}
	return m.Header.Get(streams.HdrStripeAPIVersion)
}

// stripeTime is the event's created, the time its state is ordered by.
func stripeTime(ev *stripe.Event, m *processors.Message) time.Time {
	if ev.Created > 0 {
		return time.Unix(ev.Created, 0).UTC()
	}
	if !m.Received.IsZero() {
		return m.Received.UTC()
	}
	return time.Now().UTC()
}

func unixPtr(s int64) *time.Time {
	if s <= 0 {
		return nil
	}
	t := time.Unix(s, 0).UTC()
	return &t
}

func numeric(n json.Number) pgtype.Numeric {
	var v pgtype.Numeric
	_ = v.Scan(string(n))
	return v
}

func metadataJSON(md map[string]string) []byte {
	if md == nil {
		return []byte("{}")
	}
	b, _ := json.Marshal(md)
	return b
}

func customerEmail(c *stripe.Customer) string {
	if c == nil {
		return ""
	}
	return c.Email
}

func customerID(c *stripe.Customer) string {
	if c == nil {
		return ""
	}
	return c.ID
}

func chargeEmail(c *stripe.Charge) string {
	if c == nil {
		return ""
	}
	if c.BillingDetails != nil && c.BillingDetails.Email != "" {
		return c.BillingDetails.Email
	}
	return c.ReceiptEmail
}

func utmCols(md map[string]string) []col {
	return []col{{"utm_source", md["utm_source"]}, {"utm_medium", md["utm_medium"]}, {"utm_campaign", md["utm_campaign"]},
		{"utm_term", md["utm_term"]}, {"utm_content", md["utm_content"]}}
}

func utmOf(f map[string]string) events.UTM {
	return events.UTM{Source: f["utm_source"], Medium: f["utm_medium"], Campaign: f["utm_campaign"],
		Term: f["utm_term"], Content: f["utm_content"]}
}

func (h *handler) ref(m *processors.Message, ev *stripe.Event, d *Detail, current bool) (events.Origin, events.StripeRef) {
	d.Current = &current
	return events.Origin{SourceEventID: "stripe:" + ev.ID, Source: streams.SourceStripe, ReceivedAt: m.Received},
		events.StripeRef{StripeEventID: ev.ID, StripeEventType: string(ev.Type), APIVersion: d.APIVersion,
			Livemode: ev.Livemode, StripeCreated: stripeTime(ev, m), Superseded: !current}
}

func linkOf(ws string, f map[string]string) events.Link {
	return events.Link{WorkspaceID: ws, ContactID: f["contact_id"], LeadID: f["lead_id"], LeadRef: f["lead_ref"],
		Email: f["email"], CustomerID: f["customer_id"]}
}

func (d *Detail) noteLink(l link, f map[string]string) {
	d.LeadID, d.ContactID = f["lead_id"], f["contact_id"]
	if l.leadMissing {
		d.Notes = append(d.Notes, fmt.Sprintf("metadata.lead_id %q names no lead in the workspace", l.leadRef))
	}
}

func (h *handler) applyPayment(ctx context.Context, tx *processors.Tx, m *processors.Message, ws string,
	ev *stripe.Event, pi *stripe.PaymentIntent, pmType string, d *Detail) error {
	md := pi.Metadata
	l, err := h.resolve(ctx, tx, m, ws, md, pi.ReceiptEmail, customerEmail(pi.Customer), chargeEmail(pi.LatestCharge))
	if err != nil {
		return err
	}
	status, rank, subject := "succeeded", 2, streams.SubjectPaymentSucceeded
	var code, decline, msg, etype string
	if string(ev.Type) == TypePaymentFailed {
		status, rank, subject = "failed", 1, streams.SubjectPaymentFailed
		if e := pi.LastPaymentError; e != nil {
			code, decline, msg, etype = string(e.Code), string(e.DeclineCode), e.Msg, string(e.Type)
		}
	}
	cur := strings.ToUpper(string(pi.Currency))
	amount := Decimal(pi.Amount, cur)
	pmID := ""
	if pi.PaymentMethod != nil {
		pmID = pi.PaymentMethod.ID
	}
	u := upsert{table: "payments", key: col{"transaction_id", pi.ID}, rank: true,
		state: []col{{"workspace_id", ws}, {"amount_minor", pi.Amount}, {"amount", numeric(amount)}, {"currency", cur},
			{"status", status}, {"stripe_status", paymentsdb.Nullable(string(pi.Status))}, {"status_rank", rank},
			{"failure_code", paymentsdb.Nullable(code)}, {"decline_code", paymentsdb.Nullable(decline)}, {"failure_message", paymentsdb.Nullable(msg)},
			{"description", paymentsdb.Nullable(pi.Description)}, {"livemode", pi.Livemode || ev.Livemode},
			{"metadata", metadataJSON(md)}, {"stripe_created", stripeTime(ev, m)},
			{"api_version", paymentsdb.Nullable(d.APIVersion)}, {"stripe_event_id", ev.ID}},
		fill: append([]col{{"lead_id", l.leadID}, {"lead_ref", l.leadRef}, {"contact_id", l.contactID}, {"email", l.email},
			{"customer_id", customerID(pi.Customer)}, {"service_type", strings.TrimSpace(md["service_type"])},
			{"payment_method_type", pmType}, {"payment_method_id", pmID}}, utmCols(md)...),
	}
	current, f, err := u.exec(ctx, tx, ev.ID)
	if err != nil {
		return err
	}
	d.noteLink(l, f)
	origin, ref := h.ref(m, ev, d, current)
	return tx.Emit(ctx, subject, "payment:stripe:"+ev.ID, events.Payment{
		Origin: origin, StripeRef: ref, Link: linkOf(ws, f),
		TransactionID: pi.ID, AmountMinor: pi.Amount, Amount: amount, Currency: cur,
		Status: status, StripeStatus: string(pi.Status), ServiceType: f["service_type"],
		PaymentMethodType: f["payment_method_type"], Description: pi.Description, UTM: utmOf(f),
		ErrorCode: code, DeclineCode: decline, ErrorMessage: msg, ErrorType: etype,
	})
}

func (h *handler) applyDispute(ctx context.Context, tx *processors.Tx, m *processors.Message, ws string,
	ev *stripe.Event, dp *stripe.Dispute, d *Detail) error {
	var chargeID, piID string
	if dp.Charge != nil {
		chargeID = dp.Charge.ID
	}
	if dp.PaymentIntent != nil {
		piID = dp.PaymentIntent.ID
	}
	if piID == "" && dp.Charge != nil && dp.Charge.PaymentIntent != nil {
		piID = dp.Charge.PaymentIntent.ID
	}
	// The disputed payment's link, else the dispute's own metadata/e-mail.
	var l link
	found := false
	if piID != "" {
		pl, ok, err := paymentsdb.PaymentLink(ctx, tx, piID)
		if err != nil {
			return err
		}
		found = ok
		l.leadID, l.contactID, l.email = pl.LeadID, pl.ContactID, pl.Email
	}
	if !found {
		var err error
		if l, err = h.resolve(ctx, tx, m, ws, dp.Metadata, chargeEmail(dp.Charge)); err != nil {
			return err
		}
	}
	cur := strings.ToUpper(string(dp.Currency))
	amount := Decimal(dp.Amount, cur)
	var due *time.Time
	if dp.EvidenceDetails != nil {
		due = unixPtr(dp.EvidenceDetails.DueBy)
	}
	u := upsert{table: "disputes", key: col{"dispute_id", dp.ID},
		state: []col{{"workspace_id", ws}, {"charge_id", paymentsdb.Nullable(chargeID)}, {"transaction_id", paymentsdb.Nullable(piID)},
			{"amount_minor", dp.Amount}, {"amount", numeric(amount)}, {"currency", cur},
			{"reason", paymentsdb.Nullable(string(dp.Reason))}, {"status", string(dp.Status)}, {"evidence_due_by", due},
			{"livemode", dp.Livemode || ev.Livemode}, {"stripe_created", stripeTime(ev, m)},
			{"api_version", paymentsdb.Nullable(d.APIVersion)}, {"stripe_event_id", ev.ID}},
		fill: []col{{"lead_id", l.leadID}, {"contact_id", l.contactID}, {"email", l.email}},
	}
	current, f, err := u.exec(ctx, tx, ev.ID)
	if err != nil {
		return err
	}
	d.noteLink(l, f)
	origin, ref := h.ref(m, ev, d, current)
	return tx.Emit(ctx, streams.SubjectDisputeCreated, "dispute:stripe:"+ev.ID, events.Dispute{
		Origin: origin, StripeRef: ref, Link: linkOf(ws, f),
		DisputeID: dp.ID, ChargeID: chargeID, TransactionID: piID, AmountMinor: dp.Amount, Amount: amount,
		Currency: cur, Reason: string(dp.Reason), Status: string(dp.Status), EvidenceDueBy: due,
	})
}

func (h *handler) applyInvoice(ctx context.Context, tx *processors.Tx, m *processors.Message, ws string,
	ev *stripe.Event, in *stripe.Invoice, d *Detail) error {
	// Lead metadata may sit on the invoice, the subscription snapshot or a line.
	md := map[string]string{}
	if in.Lines != nil {
		for i := len(in.Lines.Data) - 1; i >= 0; i-- {
			if li := in.Lines.Data[i]; li != nil {
				merge(md, li.Metadata)
			}
		}
	}
	if in.SubscriptionDetails != nil {
		merge(md, in.SubscriptionDetails.Metadata)
	}
	merge(md, in.Metadata)
	l, err := h.resolve(ctx, tx, m, ws, md, in.CustomerEmail, customerEmail(in.Customer))
	if err != nil {
		return err
	}
	var subID, piID string
	if in.Subscription != nil {
		subID = in.Subscription.ID
	}
	if in.PaymentIntent != nil {
		piID = in.PaymentIntent.ID
	}
	cur := strings.ToUpper(string(in.Currency))
	amount := Decimal(in.AmountPaid, cur)
	u := upsert{table: "invoices", key: col{"invoice_id", in.ID},
		state: []col{{"workspace_id", ws}, {"number", paymentsdb.Nullable(in.Number)}, {"customer_id", paymentsdb.Nullable(customerID(in.Customer))},
			{"subscription_id", paymentsdb.Nullable(subID)}, {"transaction_id", paymentsdb.Nullable(piID)},
			{"amount_minor", in.AmountPaid}, {"amount", numeric(amount)}, {"currency", cur},
			{"status", string(in.Status)}, {"billing_reason", paymentsdb.Nullable(string(in.BillingReason))},
			{"livemode", in.Livemode || ev.Livemode}, {"stripe_created", stripeTime(ev, m)},
			{"api_version", paymentsdb.Nullable(d.APIVersion)}, {"stripe_event_id", ev.ID}},
		fill: []col{{"lead_id", l.leadID}, {"lead_ref", l.leadRef}, {"contact_id", l.contactID}, {"email", l.email},
			{"service_type", strings.TrimSpace(md["service_type"])}},
	}
	current, f, err := u.exec(ctx, tx, ev.ID)
	if err != nil {
		return err
	}
	d.noteLink(l, f)
	origin, ref := h.ref(m, ev, d, current)
	link := linkOf(ws, f)
	link.CustomerID = customerID(in.Customer)
	return tx.Emit(ctx, streams.SubjectInvoicePaid, "invoice:stripe:"+ev.ID, events.Invoice{
		Origin: origin, StripeRef: ref, Link: link,
		InvoiceID: in.ID, Number: in.Number, SubscriptionID: subID, TransactionID: piID,
		AmountMinor: in.AmountPaid, Amount: amount, Currency: cur, Status: string(in.Status),
		BillingReason: string(in.BillingReason), ServiceType: f["service_type"], UTM: events.UTM{
			Source: md["utm_source"], Medium: md["utm_medium"], Campaign: md["utm_campaign"],
			Term: md["utm_term"], Content: md["utm_content"]},
	})
}

func (h *handler) applySubscription(ctx context.Context, tx *processors.Tx, m *processors.Message, ws string,
	ev *stripe.Event, sub *stripe.Subscription, d *Detail) error {
	md := sub.Metadata
	l, err := h.resolve(ctx, tx, m, ws, md, customerEmail(sub.Customer))
	if err != nil {
		return err
	}
	var priceID, productID, interval string
	var intervalCount, amountMinor int64
	cur := strings.ToUpper(string(sub.Currency))
	if sub.Items != nil {
		for i, it := range sub.Items.Data {
			if it == nil || it.Price == nil {
				continue
			}
			q := it.Quantity
			if q == 0 {
				q = 1
			}
			amountMinor += it.Price.UnitAmount * q
			if i == 0 {
				priceID = it.Price.ID
				if it.Price.Product != nil {
					productID = it.Price.Product.ID
				}
				if r := it.Price.Recurring; r != nil {
					interval, intervalCount = string(r.Interval), r.IntervalCount
				}
				if cur == "" {
					cur = strings.ToUpper(string(it.Price.Currency))
				}
			}
		}
	}
	amount := Decimal(amountMinor, cur)
	start, end, trial := unixPtr(sub.CurrentPeriodStart), unixPtr(sub.CurrentPeriodEnd), unixPtr(sub.TrialEnd)
	u := upsert{table: "subscriptions", key: col{"subscription_id", sub.ID},
		state: []col{{"workspace_id", ws}, {"customer_id", paymentsdb.Nullable(customerID(sub.Customer))},
			{"status", string(sub.Status)}, {"price_id", paymentsdb.Nullable(priceID)}, {"product_id", paymentsdb.Nullable(productID)},
			{"interval", paymentsdb.Nullable(interval)}, {"interval_count", intervalCount},
			{"amount_minor", amountMinor}, {"amount", numeric(amount)}, {"currency", cur},
			{"current_period_start", start}, {"current_period_end", end}, {"trial_end", trial},
			{"livemode", sub.Livemode || ev.Livemode}, {"stripe_created", stripeTime(ev, m)},
			{"api_version", paymentsdb.Nullable(d.APIVersion)}, {"stripe_event_id", ev.ID}},
		fill: []col{{"lead_id", l.leadID}, {"lead_ref", l.leadRef}, {"contact_id", l.contactID}, {"email", l.email},
			{"service_type", strings.TrimSpace(md["service_type"])}},
	}
	current, f, err := u.exec(ctx, tx, ev.ID)
	if err != nil {
		return err
	}
	d.noteLink(l, f)
	origin, ref := h.ref(m, ev, d, current)
	link := linkOf(ws, f)
	link.CustomerID = customerID(sub.Customer)
	return tx.Emit(ctx, streams.SubjectSubscriptionCreated, "subscription:stripe:"+ev.ID, events.Subscription{
		Origin: origin, StripeRef: ref, Link: link,
		SubscriptionID: sub.ID, Status: string(sub.Status), PriceID: priceID, ProductID: productID,
		Interval: interval, IntervalCount: intervalCount, AmountMinor: amountMinor, Amount: amount, Currency: cur,
		CurrentPeriodStart: start, CurrentPeriodEnd: end, TrialEnd: trial, ServiceType: f["service_type"],
		UTM: events.UTM{Source: md["utm_source"], Medium: md["utm_medium"], Campaign: md["utm_campaign"],
			Term: md["utm_term"], Content: md["utm_content"]},
	})
}

func merge(dst, src map[string]string) {
	for k, v := range src {
		if strings.TrimSpace(v) != "" {
			dst[k] = v
		}
	}
}

// orderKeys serialises events of the same Stripe object.
func orderKeys(m *processors.Message) []string {
	var ev struct {
		Data struct {
			Object struct {
				ID string `json:"id"`
			} `json:"object"`
		} `json:"data"`
	}
	if json.Unmarshal(m.Data, &ev) != nil || ev.Data.Object.ID == "" {
		return nil
	}
	return []string{"stripe:" + ev.Data.Object.ID}
}
