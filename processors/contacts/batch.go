package contacts

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/lead"
	"github.com/hookstream/hookstream/streams"
)

// The batch path applies the webhook and form events of one pull in one
// transaction: one ledger insert, one advisory-lock statement, one query
// loading (and locking) every contact the batch can reach, matching and
// merging in memory in stream order, then COPY for new contacts and leads,
// one UPDATE for changed contacts, COPY for the outbox and one upsert for
// the results. It gives the same contacts, leads, events and answers as the
// one-event path (handle), which still takes Facebook leads, invalid
// payloads and any batch whose transaction failed.

// batchItem is one event of a batch the batch path takes.
type batchItem struct {
	at int // index in the batch the runner gave
	m  *processors.Message
	c  *candidate
	w  Weights
}

// identity is one value of an identity column in a workspace.
type identity struct{ ws, col, val string }

// contactIndex is the batch's view of the contacts its events can reach:
// by id, and by every identity value they hold (erased ones included: their
// values would still break uniqueness).
type contactIndex struct {
	byKey  map[identity]*contact
	erased map[*contact]bool
}

func (x *contactIndex) add(c *contact) {
	for col, v := range identityValues(c) {
		if v != "" {
			x.byKey[identity{c.WorkspaceID, col, v}] = c
		}
	}
}

// moved updates the index after merge changed c's identity values.
func (x *contactIndex) moved(c *contact, before map[string]string) {
	for col, v := range identityValues(c) {
		if old := before[col]; old != v {
			if k := (identity{c.WorkspaceID, col, old}); old != "" && x.byKey[k] == c {
				delete(x.byKey, k)
			}
			if v != "" {
				x.byKey[identity{c.WorkspaceID, col, v}] = c
			}
		}
	}
}

func identityValues(c *contact) map[string]string {
	return map[string]string{"crm_id": c.CRMID, "phone": c.Phone, "email": c.Email}
}

// match is store.go's match against the index: CRM id, then phone, then
// e-mail, among contacts that are not erased.
func (x *contactIndex) match(ws string, f lead.Fields) (*contact, string) {
	for _, t := range []struct{ kind, col, val string }{
		{"crm_id", "crm_id", f.CRMID}, {"phone", "phone", f.Phone}, {"email", "email", f.Email},
	} {
		if t.val == "" {
			continue
		}
		if c := x.byKey[identity{ws, t.col, t.val}]; c != nil && !x.erased[c] {
			return c, t.kind
		}
	}
	return nil, "new"
}

func (x *contactIndex) taken(c *contact, col, v string) (bool, error) {
	o := x.byKey[identity{c.WorkspaceID, col, v}]
	return o != nil && o.ID != c.ID, nil
}

// handleBatch is the processor's BatchFunc.
func (h *handler) handleBatch(ctx context.Context, msgs []*processors.Message) ([]error, processors.FinishFunc) {
	errs := make([]error, len(msgs))
	var items []batchItem
	var take []*processors.Message
	for i, m := range msgs {
		c, _ := m.Scratch.(*candidate)
		if c == nil || c.parseErr != nil || len(c.invalid) > 0 || c.source == streams.SourceFacebook {
			errs[i] = processors.ErrOneByOne
			continue
		}
		w, err := h.weights.get(ctx, m.Workspace)
		if err != nil {
			errs[i] = processors.ErrOneByOne
			continue
		}
		items = append(items, batchItem{at: i, m: m, c: c, w: w})
		take = append(take, m)
	}
	if len(take) == 0 {
		return errs, nil
	}
	start := time.Now()
	results := make([]Result, len(take))
	var lockMS, writeMS float64
	applied, finish := h.store.ApplyBatch(ctx, Name, take, func(ctx context.Context, tx *processors.BatchTx, fresh []int) error {
		t0 := time.Now()
		var keys []string
		for _, i := range fresh {
			keys = append(keys, identityKeys(items[i].m.Workspace, items[i].c.fields)...)
		}
		if err := lockIdentities(ctx, tx, keys); err != nil {
			return err
		}
		idx, err := loadContacts(ctx, tx, items, fresh)
		if err != nil {
			return err
		}
		lockMS = ms(time.Since(t0))

		var created, changed []*contact
		createdBy := map[*contact]string{}
		isChanged := map[*contact]bool{}
		leads := make([][]any, 0, len(fresh))
		for _, i := range fresh {
			it := items[i]
			m, c := it.m, it.c
			t1 := time.Now()
			received, at := h.eventTimes(m, c)
			ct, matchType := idx.match(m.Workspace, c.fields)
			isNew := ct == nil
			var conflicts []string
			score := it.w.Score(c.fields, !isNew)
			if isNew {
				ct = newContact(m.Workspace, m.EventID, c.fields, at, received)
				ct.Score = score
				idx.add(ct)
				created = append(created, ct)
				createdBy[ct] = m.EventID
			} else {
				newer := !at.Before(ct.SourceTime)
				before := identityValues(ct)
				if conflicts, err = merge(ct, c.fields, at, idx.taken); err != nil {
					return err
				}
				idx.moved(ct, before)
				if newer {
					ct.Score = score
				}
				if received.After(ct.UpdatedAt) {
					ct.UpdatedAt = received
				}
				if _, ok := createdBy[ct]; !ok && !isChanged[ct] {
					isChanged[ct] = true
					changed = append(changed, ct)
				}
			}
			c.steps["matching_ms"] = lockMS + ms(time.Since(t1))
			leadID := stableID("ld_", m.EventID)
			leads = append(leads, leadRow(leadID, m, c, ct, matchType, isNew, score, received))
			out := h.outputs(m, c, ct, matchType, isNew, score, leadID, received, conflicts, start)
			if err := tx.Emit(m, out.subject, "contact:"+m.EventID, out.changed); err != nil {
				return err
			}
			if err := tx.Emit(m, streams.SubjectLeadCreated, "lead:"+m.EventID, out.lead); err != nil {
				return err
			}
			results[i] = out.result
			if err := tx.Result(m, out.result); err != nil {
				return err
			}
		}

		t2 := time.Now()
		if len(created) > 0 {
			rows := make([][]any, len(created))
			for j, ct := range created {
				rows[j] = contactRow(ct, createdBy[ct])
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"contacts"}, contactInsertCols, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		}
		if err := updateContacts(ctx, tx, changed); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"leads"}, leadCols, pgx.CopyFromRows(leads)); err != nil {
			return err
		}
		writeMS = ms(time.Since(t2))
		return nil
	})
	for j, m := range take {
		errs[items[j].at] = applied[j]
		if applied[j] == nil {
			c := items[j].c
			c.steps["lead_ms"] = writeMS
			// The batch's size beside the steps (which are all milliseconds).
			m.SetOutcome("", map[string]any{"steps": c.steps, "result": results[j], "batch_size": len(take)})
		}
	}
	return errs, finish
}

// loadContacts reads and row-locks every contact holding an identity value
// of the fresh events (in id order, so two batches lock rows alike).
func loadContacts(ctx context.Context, tx pgx.Tx, items []batchItem, fresh []int) (*contactIndex, error) {
	var args [6][]string // workspace and value arrays for crm_id, phone, email
	for _, i := range fresh {
		ws, f := items[i].m.Workspace, items[i].c.fields
		for j, v := range []string{f.CRMID, f.Phone, f.Email} {
			if v != "" {
				args[2*j] = append(args[2*j], ws)
				args[2*j+1] = append(args[2*j+1], v)
			}
		}
	}
	// One index probe per key (LATERAL ... LIMIT 1: each value is unique in
	// its workspace); a plain join let the generic plan scan a whole
	// identity index per batch. NO KEY UPDATE: the rows are updated, never
	// their ids, so this does not wait for the key-share locks of leads'
	// foreign key.
	rows, err := tx.Query(ctx, `SELECT `+contactCols+`, erased_at IS NOT NULL FROM contacts WHERE id IN (
		SELECT c.id FROM unnest($1::text[], $2::text[]) AS k(w, v),
			LATERAL (SELECT id FROM contacts WHERE workspace_id = k.w AND crm_id = k.v LIMIT 1) c
		UNION ALL SELECT c.id FROM unnest($3::text[], $4::text[]) AS k(w, v),
			LATERAL (SELECT id FROM contacts WHERE workspace_id = k.w AND phone = k.v LIMIT 1) c
		UNION ALL SELECT c.id FROM unnest($5::text[], $6::text[]) AS k(w, v),
			LATERAL (SELECT id FROM contacts WHERE workspace_id = k.w AND email = k.v LIMIT 1) c)
		ORDER BY id FOR NO KEY UPDATE`, args[0], args[1], args[2], args[3], args[4], args[5])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	idx := &contactIndex{byKey: map[identity]*contact{}, erased: map[*contact]bool{}}
	for rows.Next() {
		var erased bool
		c, err := scanContact(rows, &erased)
		if err != nil {
			return nil, err
		}
		idx.add(c)
		if erased {
			idx.erased[c] = true
		}
	}
	return idx, rows.Err()
}

// updateContacts writes the batch's changed contacts in one statement
// (updateContact for many rows).
func updateContacts(ctx context.Context, tx pgx.Tx, cs []*contact) error {
	if len(cs) == 0 {
		return nil
	}
	n := len(cs)
	ids := make([]string, n)
	text := [9][]*string{}
	for k := range text {
		text[k] = make([]*string, n)
	}
	consent := make([]*bool, n)
	score := make([]int32, n)
	custom := make([]string, n)
	sourceTime := make([]time.Time, n)
	updated := make([]time.Time, n)
	for i, c := range cs {
		ids[i] = c.ID
		for k, v := range []string{c.CRMID, c.Email, c.Phone, c.FirstName, c.LastName, c.Company, c.Product,
			c.LeadStatus, c.ServiceInterest} {
			if v != "" {
				text[k][i] = &v
			}
		}
		consent[i] = c.MarketingConsent
		score[i] = int32(c.Score)
		cm := c.Custom
		if cm == nil {
			cm = map[string]string{}
		}
		b, err := json.Marshal(cm)
		if err != nil {
			return err
		}
		custom[i] = string(b)
		sourceTime[i], updated[i] = c.SourceTime, c.UpdatedAt
	}
	_, err := tx.Exec(ctx, `UPDATE contacts AS c SET crm_id=u.crm_id, email=u.email, phone=u.phone,
		first_name=u.first_name, last_name=u.last_name, company=u.company, product=u.product,
		lead_status=u.lead_status, service_interest=u.service_interest, marketing_consent=u.consent,
		score=u.score, custom=u.custom::jsonb, source_time=u.source_time,
		updated_at=GREATEST(c.updated_at, u.updated_at)
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::boolean[], $12::int[], $13::text[], $14::timestamptz[],
			$15::timestamptz[]) AS u(id, crm_id, email, phone, first_name, last_name, company, product,
			lead_status, service_interest, consent, score, custom, source_time, updated_at)
		WHERE c.id = u.id`,
		ids, text[0], text[1], text[2], text[3], text[4], text[5], text[6], text[7], text[8], consent, score,
		custom, sourceTime, updated)
	return err
}
