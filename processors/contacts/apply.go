package contacts

import (
	"context"
	"errors"
	"time"

	"github.com/hookstream/hookstream/processors"
	contactsdb "github.com/hookstream/hookstream/projections/contacts"
	"github.com/hookstream/hookstream/streams"
)

// Every event is applied by apply, alone (handle: a batch of one) or with
// the others of its pull (handleBatch), in one transaction: one ledger
// insert, one advisory-lock statement, one query loading (and locking) every
// contact the events can reach, matching and merging in memory in stream
// order, then COPY for new contacts and leads, one UPDATE for changed
// contacts, COPY for the outbox and one upsert for the results. So the
// projection does not depend on how the events were batched.

// item is one event apply takes.
type item struct {
	m     *processors.Message
	c     *candidate
	w     Weights
	start time.Time // when its handling began (processing_time)
}

// handleBatch is the processor's BatchFunc. Events that need work outside a
// transaction first (a Facebook lead's fetch, a rejection, extracting again
// after an error) go to handle on their own.
func (h *handler) handleBatch(ctx context.Context, msgs []*processors.Message) ([]error, processors.FinishFunc) {
	errs := make([]error, len(msgs))
	var items []*item
	var at []int // items[j] is msgs[at[j]]
	start := time.Now()
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
		items = append(items, &item{m: m, c: c, w: w, start: start})
		at = append(at, i)
	}
	if len(items) == 0 {
		return errs, nil
	}
	applied, finish := h.apply(ctx, items)
	for j, i := range at {
		errs[i] = applied[j]
	}
	return errs, finish
}

// apply projects items in one transaction, in order, and returns one error
// per item (see Store.ApplyBatch) and the work that follows the commit.
func (h *handler) apply(ctx context.Context, items []*item) ([]error, processors.FinishFunc) {
	msgs := make([]*processors.Message, len(items))
	for i, it := range items {
		msgs[i] = it.m
	}
	results := make([]Result, len(items))
	var lockMS, writeMS float64
	errs, finish := h.store.ApplyBatch(ctx, Name, msgs, func(ctx context.Context, tx *processors.BatchTx, fresh []int) error {
		t0 := time.Now()
		var keys []string
		var ids []contactsdb.Identity
		for _, i := range fresh {
			m, f := items[i].m, items[i].c.fields
			keys = append(keys, identityKeys(m.Workspace, f)...)
			ids = append(ids, identities(m.Workspace, f)...)
		}
		if err := contactsdb.LockIdentities(ctx, tx, keys); err != nil {
			return err
		}
		loaded, err := contactsdb.LockContacts(ctx, tx, ids)
		if err != nil {
			return err
		}
		idx := newContactIndex(loaded)
		lockMS = ms(time.Since(t0))

		var created, changed []*contact
		touched := map[*contact]bool{}
		leads := make([]contactsdb.Lead, 0, len(fresh))
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
				touched[ct] = true
			} else {
				if !at.Before(ct.SourceTime) { // the contact carries its newest lead's score
					ct.Score = score
				}
				conflicts = merge(idx, ct, c.fields, at, received)
				if !touched[ct] {
					touched[ct] = true
					changed = append(changed, ct)
				}
			}
			c.steps["matching_ms"] = lockMS + ms(time.Since(t1))
			l := leadRow(m, c, ct, matchType, isNew, score, received)
			leads = append(leads, l)
			out := h.outputs(it, ct, l, conflicts)
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
		if err := contactsdb.InsertContacts(ctx, tx, created); err != nil {
			return err
		}
		if err := contactsdb.UpdateContacts(ctx, tx, changed); err != nil {
			return err
		}
		if err := contactsdb.InsertLeads(ctx, tx, leads); err != nil {
			return err
		}
		writeMS = ms(time.Since(t2))
		return nil
	})
	for i, it := range items {
		if errs[i] == nil {
			it.c.steps["lead_ms"] = writeMS
			// The batch's size beside the steps (which are all milliseconds).
			it.m.SetOutcome("", map[string]any{"steps": it.c.steps, "result": results[i], "batch_size": len(items)})
		}
	}
	return errs, finish
}

// applyOne applies one event as a batch of one, and finishes it.
func (h *handler) applyOne(ctx context.Context, it *item) error {
	errs, finish := h.apply(ctx, []*item{it})
	err := errs[0]
	if errors.Is(err, processors.ErrOneByOne) {
		return oneByOneCause(err) // there is nothing smaller to fall back to
	}
	if finish != nil {
		if ferr := finish(ctx); ferr != nil {
			return ferr // the redelivery publishes what is left
		}
	}
	return err
}

// oneByOneCause is the error ApplyBatch wrapped in ErrOneByOne.
func oneByOneCause(err error) error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range u.Unwrap() {
			if !errors.Is(e, processors.ErrOneByOne) {
				return e
			}
		}
	}
	return err
}
