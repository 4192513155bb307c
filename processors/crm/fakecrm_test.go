package crm_test

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeCRM is a REST CRM that enforces the contract the crm processor must
// keep: POST only, Bearer key, X-API-Version, Idempotency-Key, a JSON body
// with the documented fields, purchases only for leads it knows. A
// violation is answered 4xx and fails the test. A repeated Idempotency-Key
// replays the first answer without creating anything (as Stripe-style APIs
// do). answer, when set, decides the status of the n-th request (1-based)
// before any of that.
type fakeCRM struct {
	t       *testing.T
	key     string
	version string
	answer  func(n int, r *http.Request) (status int, body string)

	mu        sync.Mutex
	n         int
	requests  []crmRequest
	byKey     map[string]string // Idempotency-Key → response body of the created object
	leads     map[string]map[string]any
	purchases map[string]map[string]any // by lead id
	created   map[string]int            // path kind → objects created
}

type crmRequest struct {
	Path, Key string
	Status    int
	Body      map[string]any
}

func newFakeCRM(t *testing.T) (*fakeCRM, *httptest.Server) {
	f := &fakeCRM{t: t, key: "crm_test_key", version: "2024-01-01", byKey: map[string]string{},
		leads: map[string]map[string]any{}, purchases: map[string]map[string]any{}, created: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeCRM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	rec := crmRequest{Path: r.URL.Path, Key: r.Header.Get("Idempotency-Key")}
	defer func() { f.requests = append(f.requests, rec) }()
	reply := func(status int, body string) {
		rec.Status = status
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	violation := func(status int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		f.t.Errorf("CRM contract violation: %s %s: %s", r.Method, r.URL.Path, msg)
		reply(status, fmt.Sprintf(`{"error":%q}`, msg))
	}
	if r.Method != http.MethodPost {
		violation(405, "method %s", r.Method)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+f.key {
		violation(401, "Authorization %q", got)
		return
	}
	if got := r.Header.Get("X-API-Version"); got != f.version {
		violation(400, "X-API-Version %q", got)
		return
	}
	if rec.Key == "" {
		violation(400, "no Idempotency-Key")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		violation(415, "Content-Type %q", r.Header.Get("Content-Type"))
		return
	}
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &rec.Body); err != nil {
		violation(400, "body is not a JSON object: %v", err)
		return
	}
	if f.answer != nil {
		if status, body := f.answer(f.n, r); status != 0 {
			reply(status, body)
			return
		}
	}
	if prev, ok := f.byKey[rec.Key]; ok {
		reply(200, prev)
		return
	}
	b := rec.Body
	switch {
	case r.URL.Path == "/api/leads":
		for _, k := range []string{"lead_id", "submission_id", "contact", "lead_source", "form_type", "service_interest",
			"message", "marketing_consent", "attribution", "metadata"} {
			if _, ok := b[k]; !ok {
				violation(422, "lead without %q", k)
				return
			}
		}
		attr, _ := b["attribution"].(map[string]any)
		for _, k := range []string{"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "page_url", "referrer"} {
			if _, ok := attr[k]; !ok {
				violation(422, "attribution without %q", k)
				return
			}
		}
		id, _ := b["lead_id"].(string)
		if id == "" {
			violation(422, "empty lead_id")
			return
		}
		f.leads[id] = b
		f.created["lead"]++
		resp := fmt.Sprintf(`{"id":"crm_lead_%d","status":"created"}`, len(f.leads))
		f.byKey[rec.Key] = resp
		reply(201, resp)
	case strings.HasPrefix(r.URL.Path, "/api/leads/") && strings.HasSuffix(r.URL.Path, "/purchase"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/leads/"), "/purchase")
		if _, ok := f.leads[id]; !ok {
			violation(404, "purchase for unknown lead %q", id)
			return
		}
		tx, _ := b["transaction"].(map[string]any)
		if b["stage"] != "customer" || b["lead_id"] != id || tx == nil || tx["id"] == nil || tx["currency"] == nil {
			violation(422, "purchase body %v", b)
			return
		}
		if _, ok := tx["value"].(float64); !ok {
			violation(422, "transaction.value is not a number: %v", tx["value"])
			return
		}
		f.purchases[id] = b
		f.created["purchase"]++
		resp := fmt.Sprintf(`{"id":"crm_purchase_%d"}`, len(f.purchases))
		f.byKey[rec.Key] = resp
		reply(200, resp)
	default:
		violation(404, "unknown path")
	}
}

func (f *fakeCRM) snapshot() (reqs []crmRequest, created map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	created = map[string]int{}
	for k, v := range f.created {
		created[k] = v
	}
	return append([]crmRequest(nil), f.requests...), created
}
