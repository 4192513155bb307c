package mailerlite_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeML is MailerLite's API as far as the processor uses it, enforcing the
// contract the way the real one does: Bearer token, JSON in and out, 422
// with field errors for invalid input, and at most `limit` requests in any
// `window` (429 with Retry-After beyond it — which also fails the test: the
// client-side limiter must never let that happen).
type fakeML struct {
	t      *testing.T
	srv    *httptest.Server
	key    string
	limit  int
	window time.Duration

	mu         sync.Mutex
	arrivals   []time.Time
	calls      []fakeCall
	subs       map[string]*fakeSub // by e-mail
	byID       map[string]*fakeSub
	groups     map[string]string // id → name
	nextID     int
	force429   int    // answer the next n requests 429 (a limit hit elsewhere on the account)
	retryAfter string // Retry-After of forced 429s
	exceeded   int
}

type fakeCall struct {
	Method, Path string
	At           time.Time
	Body         map[string]any
	Status       int
}

type fakeSub struct {
	ID     string
	Email  string
	Status string
	Fields map[string]string
	Groups []string
}

func newFakeML(t *testing.T, limit int, window time.Duration) *fakeML {
	f := &fakeML{t: t, key: "ml-test-key", limit: limit, window: window, subs: map[string]*fakeSub{},
		byID: map[string]*fakeSub{}, groups: map[string]string{"grp_news": "Newsletter", "grp_customers": "Customer onboarding"}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeML) url() string { return f.srv.URL + "/api" }

var (
	groupPath  = regexp.MustCompile(`^/api/subscribers/([^/]+)/groups/([^/]+)$`)
	knownField = map[string]bool{"name": true, "last_name": true, "phone": true, "company": true,
		"country": true, "city": true, "state": true, "z_i_p": true}
	knownStatus = map[string]bool{"active": true, "unsubscribed": true, "unconfirmed": true, "bounced": true, "junk": true}
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeML) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	call := fakeCall{Method: r.Method, Path: r.URL.Path, At: now}
	defer func() { f.calls = append(f.calls, call) }()
	reply := func(status int, v any) {
		call.Status = status
		writeJSON(w, status, v)
	}

	// Rate limit: every request counts.
	inWindow := 0
	for _, a := range f.arrivals {
		if now.Sub(a) < f.window {
			inWindow++
		}
	}
	f.arrivals = append(f.arrivals, now)
	if inWindow >= f.limit {
		f.exceeded++
		f.t.Errorf("fake MailerLite: rate limit exceeded: request %d within %v", inWindow+1, f.window)
		oldest := f.arrivals[len(f.arrivals)-1-inWindow]
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(f.window.Seconds()-now.Sub(oldest).Seconds()))))
		reply(http.StatusTooManyRequests, map[string]string{"message": "Too Many Attempts."})
		return
	}
	if f.force429 > 0 {
		f.force429--
		w.Header().Set("Retry-After", f.retryAfter)
		reply(http.StatusTooManyRequests, map[string]string{"message": "Too Many Attempts."})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		f.t.Errorf("fake MailerLite: Authorization %q", r.Header.Get("Authorization"))
		reply(http.StatusUnauthorized, map[string]string{"message": "Unauthenticated."})
		return
	}
	if !strings.Contains(r.Header.Get("Accept"), "application/json") {
		f.t.Errorf("fake MailerLite: Accept %q", r.Header.Get("Accept"))
		reply(http.StatusNotAcceptable, map[string]string{"message": "Accept application/json."})
		return
	}
	if len(body) > 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.t.Errorf("fake MailerLite: Content-Type %q", r.Header.Get("Content-Type"))
		reply(http.StatusUnsupportedMediaType, map[string]string{"message": "Content-Type must be application/json."})
		return
	}
	if r.Method != http.MethodPost {
		f.t.Errorf("fake MailerLite: %s %s", r.Method, r.URL.Path)
		reply(http.StatusMethodNotAllowed, map[string]string{"message": "Method not allowed."})
		return
	}
	if len(body) > 0 {
		json.Unmarshal(body, &call.Body)
	}
	switch {
	case r.URL.Path == "/api/subscribers":
		f.upsert(body, reply)
	case groupPath.MatchString(r.URL.Path):
		m := groupPath.FindStringSubmatch(r.URL.Path)
		s, g := f.byID[m[1]], m[2]
		if s == nil || f.groups[g] == "" {
			reply(http.StatusNotFound, map[string]string{"message": "Resource not found."})
			return
		}
		if !slices.Contains(s.Groups, g) {
			s.Groups = append(s.Groups, g)
		}
		reply(http.StatusOK, map[string]any{"data": map[string]any{"id": g, "name": f.groups[g]}})
	default:
		f.t.Errorf("fake MailerLite: unexpected %s %s", r.Method, r.URL.Path)
		reply(http.StatusNotFound, map[string]string{"message": "Resource not found."})
	}
}

func (f *fakeML) upsert(body []byte, reply func(int, any)) {
	var req struct {
		Email  string            `json:"email"`
		Fields map[string]string `json:"fields"`
		Groups []string          `json:"groups"`
		Status string            `json:"status"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		f.t.Errorf("fake MailerLite: subscriber body %s: %v", body, err)
		reply(http.StatusUnprocessableEntity, map[string]any{"message": "The given data was invalid.", "errors": map[string][]string{"body": {err.Error()}}})
		return
	}
	errs := map[string][]string{}
	if a, err := mail.ParseAddress(req.Email); err != nil || a.Address != req.Email || !validDomain(req.Email) {
		errs["email"] = []string{"The email must be a valid email address."}
	}
	for i, g := range req.Groups {
		if f.groups[g] == "" {
			errs[fmt.Sprintf("groups.%d", i)] = []string{fmt.Sprintf("The selected groups.%d is invalid.", i)}
		}
	}
	for k := range req.Fields {
		if !knownField[k] {
			f.t.Errorf("fake MailerLite: unknown field %q", k)
			errs["fields."+k] = []string{"The field does not exist."}
		}
	}
	if req.Status != "" && !knownStatus[req.Status] {
		errs["status"] = []string{"The selected status is invalid."}
	}
	if len(errs) > 0 {
		var first string
		for _, v := range errs {
			first = v[0]
			break
		}
		reply(http.StatusUnprocessableEntity, map[string]any{"message": first, "errors": errs})
		return
	}
	s, status := f.subs[req.Email], http.StatusOK
	if s == nil {
		f.nextID++
		s = &fakeSub{ID: fmt.Sprintf("%d", 31986843064993000+f.nextID), Email: req.Email, Fields: map[string]string{}, Status: "active"}
		f.subs[req.Email], f.byID[s.ID] = s, s
		status = http.StatusCreated
	}
	for k, v := range req.Fields {
		s.Fields[k] = v
	}
	for _, g := range req.Groups {
		if !slices.Contains(s.Groups, g) {
			s.Groups = append(s.Groups, g)
		}
	}
	if req.Status != "" {
		s.Status = req.Status
	}
	groups := []map[string]string{}
	for _, g := range s.Groups {
		groups = append(groups, map[string]string{"id": g, "name": f.groups[g]})
	}
	reply(status, map[string]any{"data": map[string]any{"id": s.ID, "email": s.Email, "status": s.Status,
		"fields": s.Fields, "groups": groups, "created_at": "2025-11-22 08:26:40"}})
}

func validDomain(email string) bool {
	at := strings.LastIndexByte(email, '@')
	d := email[at+1:]
	return strings.Contains(d, ".") && !strings.HasSuffix(d, ".invalid") && !strings.HasSuffix(d, ".test")
}

func (f *fakeML) sub(email string) *fakeSub {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.subs[email]; s != nil {
		c := *s
		c.Groups = slices.Clone(s.Groups)
		return &c
	}
	return nil
}

func (f *fakeML) callList() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeML) count() int { return len(f.callList()) }

// maxInWindow is the most requests that arrived within any window.
func (f *fakeML) maxInWindow() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	best := 0
	for i := range f.arrivals {
		n := 0
		for j := i; j < len(f.arrivals) && f.arrivals[j].Sub(f.arrivals[i]) < f.window; j++ {
			n++
		}
		best = max(best, n)
	}
	return best
}
