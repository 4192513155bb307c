package processors

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/hookstream/hookstream/projections/ledger"
)

// Waiter answers ?wait: it listens for the results of one source event from
// a primary processor (contacts) and then, if the primary succeeded,
// follow-up processors (boards), and merges them into one JSON object (later
// processors' keys win). Results already stored (a duplicate delivery) are
// read from the results table.
type Waiter struct {
	NC        *nats.Conn
	DB        *pgxpool.Pool
	Primary   string
	FollowUps []string
	// FollowUpGrace bounds how long to wait for follow-ups once the primary
	// result is in (default 3s), so a deployment that does not run them
	// (process --only contacts) does not hold every ?wait to its deadline.
	FollowUpGrace time.Duration
}

// Expect subscribes before the event is published.
func (w *Waiter) Expect(eventID string) (*Pending, error) {
	ch := make(chan *nats.Msg, 8)
	subj := ResultSubject(eventID, "*")
	sub, err := w.NC.ChanSubscribe(subj, ch)
	if err != nil {
		return nil, err
	}
	return &Pending{w: w, eventID: eventID, sub: sub, ch: ch}, nil
}

// Pending is one expected result.
type Pending struct {
	w       *Waiter
	eventID string
	sub     *nats.Subscription
	ch      chan *nats.Msg
}

// Stop releases the subscription.
func (p *Pending) Stop() { _ = p.sub.Unsubscribe() } // fails only on a closed connection, which has none

// Wait returns the merged result, or ctx's error if the primary result does
// not arrive in time. If follow-ups do not arrive in time, the primary result
// is returned alone.
func (p *Pending) Wait(ctx context.Context) ([]byte, error) {
	got := map[string]json.RawMessage{}
	// Stored results first: the event may have been processed already.
	if err := p.loadStored(ctx, got); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	var grace <-chan time.Time
	for !p.complete(got) {
		if _, ok := got[p.w.Primary]; ok && grace == nil {
			g := p.w.FollowUpGrace
			if g <= 0 {
				g = 3 * time.Second
			}
			t := time.NewTimer(g)
			defer t.Stop()
			grace = t.C
		}
		select {
		case m := <-p.ch:
			proc := m.Subject[len(ResultSubject(p.eventID, "")):]
			got[proc] = json.RawMessage(m.Data)
		case <-grace:
			return p.merge(got), nil
		case <-ctx.Done():
			if _, ok := got[p.w.Primary]; ok {
				return p.merge(got), nil
			}
			return nil, ctx.Err()
		}
	}
	return p.merge(got), nil
}

func (p *Pending) complete(got map[string]json.RawMessage) bool {
	prim, ok := got[p.w.Primary]
	if !ok {
		return false
	}
	var s struct {
		Success *bool `json:"success"`
	}
	if json.Unmarshal(prim, &s) == nil && s.Success != nil && !*s.Success {
		return true // rejected: no follow-up will come
	}
	for _, f := range p.w.FollowUps {
		if _, ok := got[f]; !ok {
			return false
		}
	}
	return true
}

func (p *Pending) loadStored(ctx context.Context, got map[string]json.RawMessage) error {
	if p.w.DB == nil {
		return nil
	}
	rs, err := ledger.Results(ctx, p.w.DB, p.eventID)
	if err != nil {
		return err
	}
	for proc, body := range rs {
		got[proc] = body
	}
	return nil
}

func (p *Pending) merge(got map[string]json.RawMessage) []byte {
	out := map[string]json.RawMessage{}
	order := append([]string{p.w.Primary}, p.w.FollowUps...)
	for _, proc := range order {
		var obj map[string]json.RawMessage
		if json.Unmarshal(got[proc], &obj) != nil {
			continue
		}
		for k, v := range obj {
			out[k] = v
		}
	}
	b, _ := json.Marshal(out)
	return b
}
