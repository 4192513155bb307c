package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/internal/testutil"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
)

// testWaiter is an in-memory gateway.ResultWaiter: results are set by event
// id; Expect records how many INGEST messages existed when it was called.
type testWaiter struct {
	mu        sync.Mutex
	results   map[string][]byte
	expectErr error
	countAt   func() uint64
	expected  map[string]uint64
	stopped   int
}

func (w *testWaiter) Expect(id string) (gateway.ResultWait, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.expectErr != nil {
		return nil, w.expectErr
	}
	w.expected[id] = w.countAt()
	return &testWait{w: w, id: id}, nil
}

type testWait struct {
	w  *testWaiter
	id string
}

func (p *testWait) Wait(ctx context.Context) ([]byte, error) {
	p.w.mu.Lock()
	res := p.w.results[p.id]
	p.w.mu.Unlock()
	if res != nil {
		return res, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (p *testWait) Stop() {
	p.w.mu.Lock()
	p.w.stopped++
	p.w.mu.Unlock()
}

// TestWebhook_Wait: ?wait= answers with the contacts processor's result (422
// when it rejected the lead), 202 with the event id when the wait runs out,
// caps the wait at MaxWait and listens before publishing.
func TestWebhook_Wait(t *testing.T) {
	t.Parallel()
	w := &testWaiter{results: map[string][]byte{}, expected: map[string]uint64{}}
	env := newTestGateway(t, withConfig(func(c *gateway.Config) { c.MaxWait = 300 * time.Millisecond }),
		withWaiter(w))
	w.countAt = func() uint64 { return env.streamCount() }
	wh := env.createWebhook(webhooksdb.Webhook{AuthScheme: "none"})
	path := "/webhooks/" + wh.ID
	ok := []byte(`{"success":true,"contact_id":"c_1","match_type":"new","is_new_contact":true}`)
	w.results["wh:"+wh.ID+":lead-ok"] = ok
	w.results["wh:"+wh.ID+":lead-bad"] = []byte(`{"success":false,"error":"invalid phone"}`)

	r := env.post(path+"?wait=5s", []byte(`{"email":"w1@example.com"}`), hdrs("webhook-id", "lead-ok"))
	if r.Status != 200 || string(r.Body) != string(ok) || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if got := w.expected["wh:"+wh.ID+":lead-ok"]; got != 0 {
		t.Fatalf("Expect called after the publish (%d messages stored)", got)
	}
	if r := env.post(path+"?wait=1", []byte(`{"email":"w2@example.com"}`), hdrs("webhook-id", "lead-bad")); r.Status != 422 {
		t.Fatalf("rejected lead: %d %s", r.Status, r.Body)
	}
	start := time.Now()
	r = env.post(path+"?wait=60s", []byte(`{"email":"w3@example.com"}`), hdrs("webhook-id", "lead-slow"))
	if d := time.Since(start); r.Status != 202 || d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("slow result: %d after %v: %s", r.Status, d, r.Body)
	}
	var a accepted
	mustJSON(t, r.Body, &a)
	if a.EventID != "wh:"+wh.ID+":lead-slow" || !a.Accepted || a.StreamSeq != 3 {
		t.Fatalf("202 body %s", r.Body)
	}
	if env.streamCount() != 3 {
		t.Fatalf("%d messages", env.streamCount())
	}
	r = env.post(path+"?wait=0.1", []byte(`{"email":"w4@example.com"}`), nil)
	if r.Status != 202 {
		t.Fatalf("plain seconds: %d %s", r.Status, r.Body)
	}
	for _, huge := range []string{"1e10", "1e400", "Inf"} { // capped, not wrapped to negative
		start := time.Now()
		r = env.post(path+"?wait="+huge, []byte(`{"email":"w-`+huge+`@example.com"}`), nil)
		if d := time.Since(start); r.Status != 202 || d > 5*time.Second {
			t.Fatalf("wait=%s: %d after %v: %s", huge, r.Status, d, r.Body)
		}
	}
	for _, bad := range []string{"-1s", "-2", "NaN", "soon", "-Inf"} {
		env.rejects(t, 400, "invalid_payload", func() *result {
			return env.post(path+"?wait="+bad, []byte(`{"email":"w5@example.com"}`), nil)
		})
	}
	testutil.CheckFor(t, 2*time.Second, 10*time.Millisecond, func() error { // Stop runs after the answer
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.stopped != 7 {
			return fmt.Errorf("Stop called %d times, want 7", w.stopped)
		}
		return nil
	})
	// Without ?wait the answer is the usual one.
	env.post(path, []byte(`{"email":"w6@example.com"}`), nil).wantAccepted(t)
	// A waiter that cannot listen does not cost the sender its event.
	w.mu.Lock()
	w.expectErr = errors.New("no subscription")
	w.mu.Unlock()
	env.post(path+"?wait=1s", []byte(`{"email":"w7@example.com"}`), nil).wantAccepted(t)
}
