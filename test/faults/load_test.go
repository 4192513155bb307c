package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/gateway/verify"
)

// hook is a Standard Webhooks–signed webhook to post leads to.
type hook struct {
	ID, Secret string
}

// lead is one request a vendor sends: a distinct person, so each accepted
// request maps to exactly one lead row. ID is the webhook-id header; a retry
// reuses it (and the body), as a Standard Webhooks sender does.
type lead struct {
	ID   string
	Body []byte
}

func newLead(prefix string, n int) lead {
	body, _ := json.Marshal(map[string]string{
		"email":      fmt.Sprintf("%s-%d@example.com", prefix, n),
		"first_name": fmt.Sprintf("Lead%d", n),
		"last_name":  "Fault",
		"source":     "faults",
	})
	return lead{ID: fmt.Sprintf("%s-%d", prefix, n), Body: body}
}

// EventID is the event id the gateway gives a post of l to h.
func (h hook) EventID(l lead) string { return "wh:" + h.ID + ":" + l.ID }

// answer is the outcome of one attempt.
type answer struct {
	Lead       string
	Sent, Done time.Time
	Status     int   // 0: no answer
	Err        error // transport error (no answer)
	EventID    string
	Duplicate  bool
	Code       string // error code of a JSON error body
	RetryAfter string
	Body       string
}

func (a answer) ok() bool { return a.Status >= 200 && a.Status < 300 }

// sender posts leads to a gateway and remembers every attempt.
type sender struct {
	t    *testing.T
	base string
	hook hook
	hc   *http.Client

	mu      sync.Mutex
	leads   map[string]lead
	answers []answer
}

func newSender(t *testing.T, base string, h hook) *sender {
	tr := &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &sender{t: t, base: base, hook: h, leads: map[string]lead{},
		hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// post signs and sends l once and records the answer.
func (s *sender) post(ctx context.Context, l lead) answer {
	s.mu.Lock()
	s.leads[l.ID] = l
	s.mu.Unlock()
	a := answer{Lead: l.ID, Sent: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/webhooks/"+s.hook.ID, bytes.NewReader(l.Body))
	if err != nil {
		s.t.Errorf("request: %v", err)
		return a
	}
	ts := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", l.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", verify.SignStandard(s.hook.Secret, l.ID, ts, l.Body))
	resp, err := s.hc.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			a.Status, a.Body, a.RetryAfter = resp.StatusCode, string(b), resp.Header.Get("Retry-After")
			var m struct {
				EventID   string `json:"event_id"`
				Duplicate bool   `json:"duplicate"`
				Error     string `json:"error"`
			}
			_ = json.Unmarshal(b, &m)
			a.EventID, a.Duplicate, a.Code = m.EventID, m.Duplicate, m.Error
		}
	}
	a.Err, a.Done = err, time.Now()
	if ctx.Err() != nil && a.Status == 0 {
		return a // the test stopped the load: not an attempt that counts
	}
	s.mu.Lock()
	s.answers = append(s.answers, a)
	s.mu.Unlock()
	return a
}

// load posts new leads prefix-0, prefix-1, … at about rate per second from
// workers goroutines until ctx ends or limit leads were sent. It returns when
// every request in flight has finished.
func (s *sender) load(ctx context.Context, prefix string, rate, workers, limit int) {
	tokens := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range tokens {
				s.post(ctx, newLead(prefix, n))
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
send:
	for n := 0; n < limit; n++ {
		select {
		case <-ctx.Done():
			break send
		case <-tick.C:
		}
		select {
		case tokens <- n:
		case <-ctx.Done():
			break send
		}
	}
	close(tokens)
	wg.Wait()
}

// acceptedCount is the number of attempts answered 2xx so far.
func (s *sender) acceptedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.answers {
		if a.ok() {
			n++
		}
	}
	return n
}

// waitAccepted waits until at least n attempts were answered 2xx: the load
// is under way and the gateway is taking it.
func (s *sender) waitAccepted(n int, total time.Duration) {
	s.t.Helper()
	eventually(s.t, total, 20*time.Millisecond, fmt.Sprintf("%d accepted posts", n), func() error {
		if got := s.acceptedCount(); got < n {
			return fmt.Errorf("%d accepted", got)
		}
		return nil
	})
}

// retryUnaccepted re-sends every lead that has no 2xx yet, as a sender
// does after errors and 503s, until each is accepted; at most total, and at
// most 30 attempts per lead.
func (s *sender) retryUnaccepted(total time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(total)
	backoff := time.NewTicker(200 * time.Millisecond)
	defer backoff.Stop()
	for _, id := range s.unaccepted() {
		l := s.lead(id)
		for i := 0; ; i++ {
			a := s.post(context.Background(), l)
			if a.ok() {
				break
			}
			if i >= 30 || time.Now().After(deadline) {
				s.t.Fatalf("lead %s still not accepted after %d retries: %d %v %s", id, i+1, a.Status, a.Err, a.Body)
			}
			<-backoff.C // a sender's pause between retries
		}
	}
}

func (s *sender) lead(id string) lead {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leads[id]
}

// snapshot is every answer so far.
func (s *sender) snapshot() []answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]answer(nil), s.answers...)
}

// accepted is the set of leads with at least one 2xx, by lead id, mapped to
// the event id of its first 2xx. A 2xx for another event id fails the test.
func (s *sender) accepted() map[string]string {
	s.t.Helper()
	out := map[string]string{}
	for _, a := range s.snapshot() {
		if !a.ok() {
			continue
		}
		want := s.hook.EventID(lead{ID: a.Lead})
		if a.EventID != want {
			s.t.Errorf("lead %s accepted as event %q, want %q (%s)", a.Lead, a.EventID, want, a.Body)
		}
		if _, ok := out[a.Lead]; !ok {
			out[a.Lead] = a.EventID
		}
	}
	return out
}

// unaccepted lists the leads sent but never answered 2xx, sorted.
func (s *sender) unaccepted() []string {
	acc := s.accepted()
	s.mu.Lock()
	var out []string
	for id := range s.leads {
		if _, ok := acc[id]; !ok {
			out = append(out, id)
		}
	}
	s.mu.Unlock()
	sort.Strings(out)
	return out
}

// sentIDs is every lead sent at least once.
func (s *sender) sentIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.leads))
	for id := range s.leads {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// summary counts answers by status (0 = no answer).
func summary(as []answer) map[int]int {
	m := map[int]int{}
	for _, a := range as {
		m[a.Status]++
	}
	return m
}
