package crm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/internal/textcut"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/processors/outbound"
	crmdb "github.com/hookstream/hookstream/projections/crm"
	"github.com/hookstream/hookstream/projections/ledger"
	"github.com/hookstream/hookstream/streams"
)

// Detail is the outcome detail of every message.
type Detail struct {
	Kind          string `json:"kind"`
	SourceEventID string `json:"source_event_id,omitempty"`
	LeadID        string `json:"lead_id,omitempty"`
	RemoteID      string `json:"remote_id,omitempty"`
	Attempts      int    `json:"attempts,omitempty"`
	Reason        string `json:"reason,omitempty"`
}

// call is one CRM request to make for a message.
type call struct {
	kind, sourceID, workspace, leadID, contactID, txID string
	path                                               string
	body                                               any
}

func (c *CRM) handle(ctx context.Context, m *processors.Message) error {
	switch m.Subject {
	case streams.SubjectLeadCreated:
		var ev events.Lead
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return processors.Reject(fmt.Errorf("lead event is not valid JSON: %w", err))
		}
		if ev.LeadID == "" {
			return processors.Reject(errors.New("lead event without lead_id"))
		}
		src := sourceID(m, ev.SourceEventID)
		return c.sync(ctx, m, call{kind: KindLead, sourceID: src, workspace: ev.Contact.WorkspaceID, leadID: ev.LeadID,
			contactID: ev.Contact.ID, path: "/leads", body: leadPayload(&ev, src)})
	case streams.SubjectPaymentSucceeded:
		var p events.Payment
		if err := json.Unmarshal(m.Data, &p); err != nil {
			return processors.Reject(fmt.Errorf("payment event is not valid JSON: %w", err))
		}
		if p.TransactionID == "" {
			return processors.Reject(errors.New("payment event without transaction_id"))
		}
		src := sourceID(m, p.SourceEventID)
		if p.LeadID == "" {
			reason := "payment has no lead (no metadata.lead_id naming a known lead): no CRM purchase"
			if p.LeadRef != "" {
				reason = fmt.Sprintf("payment's metadata.lead_id %q names no lead: no CRM purchase", p.LeadRef)
			}
			m.SetOutcome(processors.StatusSkipped, Detail{Kind: KindPurchase, SourceEventID: src, Reason: reason})
			return nil
		}
		cl := call{kind: KindPurchase, sourceID: src, workspace: p.WorkspaceID, leadID: p.LeadID, contactID: p.ContactID,
			txID: p.TransactionID, path: "/leads/" + url.PathEscape(p.LeadID) + "/purchase", body: purchasePayload(&p, src)}
		if c.cfg.Configured() {
			if err := c.waitForLead(ctx, m, p.LeadID); err != nil {
				return err
			}
		}
		return c.sync(ctx, m, cl)
	}
	m.SetOutcome(processors.StatusUnhandled, Detail{Reason: "subject " + m.Subject + " is not handled"})
	return nil
}

// sourceID is the ingest event a domain event derives from: the Idempotency-Key.
func sourceID(m *processors.Message, fromBody string) string {
	if fromBody != "" {
		return fromBody
	}
	return processors.SourceEventID(m)
}

// waitForLead keeps a purchase back while its lead is on its way to the CRM
// (not synced yet, its last failure retryable) so the CRM knows the lead
// first; bounded by LeadWaitAttempts when crm has not seen the lead at all.
func (c *CRM) waitForLead(ctx context.Context, m *processors.Message, leadID string) error {
	s, err := crmdb.LeadSyncOf(ctx, c.store.DB, leadID)
	switch {
	case err != nil:
		return err
	case s.Status == "":
		known, err := crmdb.LeadProjected(ctx, c.store.DB, leadID)
		if err != nil {
			return err
		}
		if known && m.Attempt < c.cfg.LeadWaitAttempts {
			return processors.RetryAfter(fmt.Errorf("lead %s not sent to the CRM yet", leadID), c.cfg.LeadWaitDelay)
		}
		return nil
	case s.Status == "synced":
		return nil
	case s.LastStatus != nil && !outbound.Retryable(*s.LastStatus):
		return nil // the lead was refused for good: the purchase goes on its own
	}
	return processors.RetryAfter(fmt.Errorf("lead %s is not synced to the CRM yet", leadID), c.cfg.LeadWaitDelay)
}

// sync makes one call unless crm_sync already records it, and records it.
func (c *CRM) sync(ctx context.Context, m *processors.Message, cl call) error {
	d := Detail{Kind: cl.kind, SourceEventID: cl.sourceID, LeadID: cl.leadID}
	if !c.cfg.Configured() {
		d.Reason = "CRM not configured (CRM_API_ENDPOINT and CRM_API_KEY)"
		m.SetOutcome(processors.StatusSkipped, d)
		return nil
	}
	prior, _, err := crmdb.SyncOf(ctx, c.store.DB, cl.kind, cl.sourceID)
	if err != nil {
		return err
	}
	remote, attempts := prior.RemoteID, prior.Attempts
	if prior.Status == "synced" {
		d.Reason, d.RemoteID, d.Attempts = "already synced", remote, attempts
		m.SetOutcome(processors.StatusSkipped, d)
		return nil
	}

	req, err := outbound.JSONRequest(ctx, http.MethodPost, c.base+cl.path, cl.body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("X-API-Version", c.cfg.APIVersion)
	req.Header.Set("Idempotency-Key", cl.sourceID)
	req.Header.Set("User-Agent", "hookstream")
	resp, callErr := c.client.Do(ctx, req)
	if errors.Is(callErr, outbound.ErrCircuitOpen) {
		return callErr // nothing was sent
	}
	var lastStatus *int
	if resp != nil {
		lastStatus = &resp.Status
	}
	if callErr == nil {
		remote = remoteID(resp.Body)
	}
	err = pgx.BeginFunc(ctx, c.store.DB, func(tx pgx.Tx) error {
		rec := &crmdb.Sync{Kind: cl.kind, SourceEventID: cl.sourceID, WorkspaceID: cl.workspace, LeadID: cl.leadID,
			ContactID: cl.contactID, TransactionID: cl.txID, RemoteID: remote, Status: "synced", LastStatus: lastStatus}
		if callErr != nil {
			rec.Status, rec.LastError = "failed", textcut.PGText(callErr.Error(), 4000)
		}
		var err error
		if attempts, err = crmdb.RecordAttempt(ctx, tx, rec); err != nil {
			return err
		}
		if callErr != nil {
			return nil //nolint:nilerr // the failed call is recorded; callErr is returned below
		}
		// The processed ledger is the runner's; this call is recorded
		// outside Apply because the CRM was called outside a transaction.
		_, err = ledger.MarkProcessed(ctx, tx, Name, m.EventID, int64(m.StreamSeq))
		return err
	})
	if callErr != nil {
		if err != nil {
			return fmt.Errorf("%w (and recording the failure: %w)", callErr, err)
		}
		return callErr
	}
	if err != nil {
		// Sent but not recorded: the retry sends again with the same
		// Idempotency-Key, which the CRM deduplicates.
		return fmt.Errorf("recording the CRM answer: %w", err)
	}
	d.RemoteID, d.Attempts = remote, attempts
	m.SetOutcome("", d)
	return nil
}

// remoteID reads "id" (string or number) from a JSON response.
func remoteID(b []byte) string {
	var r struct {
		ID any `json:"id"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&r) != nil {
		return ""
	}
	switch v := r.ID.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}
