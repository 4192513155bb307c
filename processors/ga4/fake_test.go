package ga4_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// fakeGA4 is a Measurement Protocol endpoint that enforces the contract
// strictly: the right path and credentials, a JSON body of the documented
// shape within GA4's limits, engagement params present, no reserved names
// and no personal data. Anything else fails the test: such a request must
// never have left the process.
type fakeGA4 struct {
	t      *testing.T
	srv    *httptest.Server
	mid    string
	secret string

	// flag, when set, is the validation server's extra findings for an
	// event (debug path only).
	flag func(name string, params map[string]any) []map[string]string

	mu   sync.Mutex
	reqs []fakeReq
}

type fakeReq struct {
	Path    string
	Payload map[string]any
}

func (r fakeReq) event() map[string]any {
	return r.Payload["events"].([]any)[0].(map[string]any)
}

func (r fakeReq) params() map[string]any {
	return r.event()["params"].(map[string]any)
}

func newFakeGA4(t *testing.T) *fakeGA4 {
	f := &fakeGA4{t: t, mid: "G-TEST123", secret: "s3cr3t-api"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

var (
	fakeNameRe   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,39}$`)
	fakeEmailRe  = regexp.MustCompile(`(?i)[a-z0-9._%+-]+(@|%40)[a-z0-9.-]+\.[a-z]{2,}`)
	fakePhoneRe  = regexp.MustCompile(`(^|[^\w])\+?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}($|[^\w])`)
	fakeReserved = map[string]bool{"session_start": true, "first_visit": true, "first_open": true,
		"user_engagement": true, "ad_click": true, "ad_impression": true, "app_remove": true,
		"error": true, "in_app_purchase": true, "notification_open": true}
	fakePII = map[string]bool{"email": true, "phone": true, "name": true, "first_name": true,
		"last_name": true, "address": true, "ip": true, "ip_address": true, "phone_number": true}
)

func (f *fakeGA4) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(format string, a ...any) {
		f.t.Errorf("fake GA4: "+format, a...)
		w.WriteHeader(http.StatusNoContent) // GA4 answers 2xx regardless
	}
	if r.Method != http.MethodPost {
		fail("method %s", r.Method)
		return
	}
	if r.URL.Path != "/mp/collect" && r.URL.Path != "/debug/mp/collect" {
		fail("path %s", r.URL.Path)
		return
	}
	q := r.URL.Query()
	if q.Get("measurement_id") != f.mid || q.Get("api_secret") != f.secret {
		fail("credentials %q/%q", q.Get("measurement_id"), q.Get("api_secret"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) >= 130_000 {
		fail("body of %d bytes", len(body))
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		fail("content type %q", ct)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var p map[string]any
	if err := dec.Decode(&p); err != nil {
		fail("body is not a JSON object: %v: %s", err, body)
		return
	}
	for k := range p {
		switch k {
		case "client_id", "user_id", "timestamp_micros", "events", "user_properties", "consent", "non_personalized_ads":
		default:
			fail("unknown top-level field %q", k)
		}
	}
	if s, _ := p["client_id"].(string); s == "" {
		fail("client_id missing")
	}
	if s, _ := p["client_id"].(string); fakeEmailRe.MatchString(s) {
		fail("client_id is personal: %q", s)
	}
	evs, _ := p["events"].([]any)
	if len(evs) == 0 || len(evs) > 25 {
		fail("%d events", len(evs))
		return
	}
	var findings []map[string]string
	for _, e := range evs {
		ev, ok := e.(map[string]any)
		if !ok {
			fail("event is not an object")
			return
		}
		name, _ := ev["name"].(string)
		if !fakeNameRe.MatchString(name) || fakeReserved[name] || strings.HasPrefix(name, "google_") ||
			strings.HasPrefix(name, "ga_") || strings.HasPrefix(name, "firebase_") {
			fail("invalid or reserved event name %q", name)
		}
		params, _ := ev["params"].(map[string]any)
		if len(params) > 25 {
			fail("%d params", len(params))
		}
		if _, ok := params["engagement_time_msec"].(json.Number); !ok {
			fail("%s: engagement_time_msec missing or not a number", name)
		}
		if _, ok := params["session_id"]; !ok {
			fail("%s: session_id missing", name)
		}
		f.checkParams(fail, name, params, true)
		if _, ok := params["value"]; ok {
			if c, _ := params["currency"].(string); !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(c) {
				fail("%s: value without a valid currency (%q)", name, c)
			}
		}
		if f.flag != nil {
			findings = append(findings, f.flag(name, params)...)
		}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, fakeReq{Path: r.URL.Path, Payload: p})
	f.mu.Unlock()
	if r.URL.Path == "/debug/mp/collect" {
		if findings == nil {
			findings = []map[string]string{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"validationMessages": findings})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeGA4) checkParams(fail func(string, ...any), ev string, params map[string]any, top bool) {
	for k, v := range params {
		if !fakeNameRe.MatchString(k) || strings.HasPrefix(k, "google_") || strings.HasPrefix(k, "ga_") || strings.HasPrefix(k, "firebase_") {
			fail("%s: invalid or reserved param name %q", ev, k)
		}
		if fakePII[strings.ToLower(k)] {
			fail("%s: PII param %q reached GA4", ev, k)
		}
		switch x := v.(type) {
		case string:
			if len([]rune(x)) > 100 {
				fail("%s: %s longer than 100 characters", ev, k)
			}
			if fakeEmailRe.MatchString(x) || fakePhoneRe.MatchString(x) {
				fail("%s: PII value in %s reached GA4: %q", ev, k, x)
			}
		case json.Number:
		case []any:
			if !top || k != "items" {
				fail("%s: list in %s", ev, k)
				continue
			}
			for _, it := range x {
				im, ok := it.(map[string]any)
				if !ok {
					fail("%s: item is not an object", ev)
					continue
				}
				if im["item_id"] == nil && im["item_name"] == nil {
					fail("%s: item without item_id/item_name", ev)
				}
				f.checkParams(fail, ev, im, false)
			}
		default:
			fail("%s: param %s of type %T", ev, k, v)
		}
	}
}

func (f *fakeGA4) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeReq(nil), f.reqs...)
}

func (f *fakeGA4) count() int { return len(f.requests()) }
