package outbound

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/processors"
)

// kindOf reads the runner's classification of err (processors keeps it
// unexported; reflection reads it without depending on anything else).
func kindOf(t *testing.T, err error) (string, time.Duration) {
	t.Helper()
	if err == nil {
		return "", 0
	}
	v := reflect.ValueOf(err)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return "plain", 0
	}
	k, d := v.Elem().FieldByName("kind"), v.Elem().FieldByName("delay")
	if !k.IsValid() || !d.IsValid() {
		return "plain", 0
	}
	return k.String(), time.Duration(d.Int())
}

func get(t *testing.T, c *Client, url string) (*Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(context.Background(), req)
}

func TestDoClassifiesStatus(t *testing.T) {
	cases := []struct {
		status     int
		retryAfter string
		kind       string
		delay      time.Duration
	}{
		{200, "", "", 0},
		{201, "", "", 0},
		{204, "", "", 0},
		{408, "", processors.StatusRetry, 0},
		{429, "7", processors.StatusRetry, 7 * time.Second},
		{429, "", processors.StatusRetry, 0},
		{500, "", processors.StatusRetry, 0},
		{502, "", processors.StatusRetry, 0},
		{503, "120", processors.StatusRetry, 2 * time.Minute},
		{504, "garbage", processors.StatusRetry, 0},
		{400, "", processors.StatusDead, 0},
		{401, "", processors.StatusDead, 0},
		{403, "", processors.StatusDead, 0},
		{404, "", processors.StatusDead, 0},
		{409, "", processors.StatusDead, 0},
		{422, "5", processors.StatusDead, 0},
		{302, "", processors.StatusDead, 0},
	}
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			if tc.status == 302 {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(tc.status)
			w.Write([]byte(`{"message":"status body"}`))
		}))
		c := &Client{Name: "dest", HTTP: &http.Client{Timeout: 2 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
		resp, err := get(t, c, srv.URL+"/path?api_secret=hush")
		srv.Close()
		kind, delay := kindOf(t, err)
		if kind != tc.kind || delay != tc.delay {
			t.Errorf("%d: kind %q delay %v, want %q %v (err %v)", tc.status, kind, delay, tc.kind, tc.delay, err)
		}
		if resp == nil || resp.Status != tc.status || (tc.status != 204 && string(resp.Body) != `{"message":"status body"}`) {
			t.Errorf("%d: response %+v", tc.status, resp)
		}
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "dest: GET /path: ") || !strings.Contains(msg, `{"message":"status body"}`) {
				t.Errorf("%d: error %q lacks destination, status or body", tc.status, msg)
			}
			if strings.Contains(msg, "hush") {
				t.Errorf("%d: error leaks the query string: %q", tc.status, msg)
			}
			var he *HTTPError
			if !errors.As(err, &he) || he.Status != tc.status {
				t.Errorf("%d: no HTTPError in %v", tc.status, err)
			}
		}
	}
}

func TestPermanentErrorBodyTruncated(t *testing.T) {
	big := strings.Repeat("é", 3000) // 6000 bytes
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		w.Write([]byte(big))
	}))
	defer srv.Close()
	resp, err := get(t, New("crm", time.Second, nil), srv.URL)
	if k, _ := kindOf(t, err); k != processors.StatusDead {
		t.Fatalf("kind %q", k)
	}
	var he *HTTPError
	errors.As(err, &he)
	if len(he.Body) > MaxErrorBody+len("…") || !strings.HasSuffix(string(he.Body), "…") || !strings.HasPrefix(string(he.Body), "éé") {
		t.Fatalf("error body %d bytes", len(he.Body))
	}
	if !strings.Contains(err.Error(), "400 Bad Request") || !utf8.ValidString(err.Error()) {
		t.Fatalf("error %q", err)
	}
	if len(resp.Body) != len(big) {
		t.Fatalf("response body cut: %d", len(resp.Body))
	}
}

func TestNetworkErrorsRetry(t *testing.T) {
	// A closed port.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err := get(t, New("crm", time.Second, nil), "http://"+addr+"/x?key=secret")
	if k, d := kindOf(t, err); k != processors.StatusRetry || d != 0 {
		t.Fatalf("refused: kind %q %v: %v", k, d, err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("leaks query: %v", err)
	}
	// A server slower than the client timeout.
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	_, err = get(t, New("crm", 100*time.Millisecond, nil), srv.URL)
	if k, _ := kindOf(t, err); k != processors.StatusRetry {
		t.Fatalf("timeout: kind %q: %v", k, err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("timeout not applied")
	}
	// No Timeout on the http.Client: DefaultTimeout or the context bounds it.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	if _, err := (&Client{Name: "x", HTTP: &http.Client{}}).Do(ctx, req); err == nil {
		t.Fatal("no error")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                                  0,
		"0":                                 0,
		"-3":                                0,
		"2":                                 2 * time.Second,
		" 30 ":                              30 * time.Second,
		"99999999":                          MaxRetryAfter,
		"soon":                              0,
		"1.5":                               0,
		"Wed, 01 May 2024 12:00:10 GMT":     10 * time.Second,
		"Wednesday, 01-May-24 12:01:00 GMT": time.Minute,
		"Wed May  1 12:00:05 2024":          5 * time.Second,
		"Wed, 01 May 2024 11:00:00 GMT":     0,
		"Thu, 01 May 2025 12:00:00 GMT":     MaxRetryAfter,
	}
	for in, want := range cases {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(5*time.Second).UTC().Format(http.TimeFormat))
		w.WriteHeader(503)
	}))
	defer srv.Close()
	_, err := get(t, New("x", time.Second, nil), srv.URL)
	k, d := kindOf(t, err)
	if k != processors.StatusRetry || d < 3*time.Second || d > 5*time.Second {
		t.Fatalf("kind %q delay %v", k, d)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	var status atomic.Int32
	status.Store(503)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	clk := &clock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := NewBreaker(3, 10*time.Second, clk.now)
	c := New("crm", time.Second, b)

	// Two failures, a success: the count restarts.
	get(t, c, srv.URL)
	get(t, c, srv.URL)
	status.Store(200)
	if _, err := get(t, c, srv.URL); err != nil {
		t.Fatal(err)
	}
	// A 4xx is an answer: it does not count.
	status.Store(400)
	for range 5 {
		get(t, c, srv.URL)
	}
	if b.State() != StateClosed {
		t.Fatalf("4xx opened the breaker")
	}
	status.Store(503)
	for range 3 {
		get(t, c, srv.URL)
	}
	if b.State() != StateOpen || b.Opened() != 1 {
		t.Fatalf("state %s after 3 failures", b.State())
	}
	n := calls.Load()
	clk.add(4 * time.Second)
	_, err := get(t, c, srv.URL)
	if !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("open: %v", err)
	}
	if k, d := kindOf(t, err); k != processors.StatusRetry || d != 6*time.Second {
		t.Fatalf("open: kind %q delay %v", k, d)
	}
	if calls.Load() != n {
		t.Fatal("an open breaker called the server")
	}

	// Cooldown over: one probe; it fails, so open again for a full cooldown.
	clk.add(6 * time.Second)
	if b.State() != StateHalfOpen {
		t.Fatalf("state %s after cooldown", b.State())
	}
	if _, err := get(t, c, srv.URL); errors.Is(err, ErrCircuitOpen) || calls.Load() != n+1 {
		t.Fatalf("probe not sent: %v", err)
	}
	if b.State() != StateOpen || b.Opened() != 2 {
		t.Fatalf("failed probe left %s", b.State())
	}
	_, err = get(t, c, srv.URL)
	if _, d := kindOf(t, err); !errors.Is(err, ErrCircuitOpen) || d != 10*time.Second {
		t.Fatalf("reopened: %v %v", err, d)
	}

	// Only one probe at a time.
	clk.add(10 * time.Second)
	done, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	_, err = get(t, c, srv.URL)
	if k, d := kindOf(t, err); !errors.Is(err, ErrCircuitOpen) || k != processors.StatusRetry || d != time.Second {
		t.Fatalf("second probe allowed: %v %v", err, d)
	}
	done(true)
	if b.State() != StateOpen {
		t.Fatal("failed manual probe did not reopen")
	}

	// Recovery: the probe succeeds and the breaker closes.
	clk.add(10 * time.Second)
	status.Store(200)
	if _, err := get(t, c, srv.URL); err != nil {
		t.Fatal(err)
	}
	if b.State() != StateClosed {
		t.Fatalf("state %s after a good probe", b.State())
	}
	for range 5 {
		if _, err := get(t, c, srv.URL); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBreakerIgnoresCancelledCaller(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	b := NewBreaker(1, time.Minute, nil)
	c := New("x", 5*time.Second, b)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	if _, err := c.Do(ctx, req); err == nil {
		t.Fatal("no error")
	}
	if b.State() != StateClosed {
		t.Fatal("a cancelled call opened the breaker")
	}

	// A cancelled probe neither closes nor re-opens: the next call probes.
	clk := &clock{t: time.Now()}
	b = NewBreaker(1, time.Second, clk.now)
	c = New("x", 5*time.Second, b)
	done, _ := b.Allow()
	done(true)
	clk.add(time.Second)
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ = http.NewRequest("GET", srv.URL, nil)
	c.Do(ctx, req)
	if b.State() != StateHalfOpen || b.Opened() != 1 {
		t.Fatalf("after a cancelled probe: %s, opened %d", b.State(), b.Opened())
	}
	if _, err := b.Allow(); err != nil {
		t.Fatalf("no probe after a cancelled one: %v", err)
	}
}

func TestBreakerConcurrent(t *testing.T) {
	b := NewBreaker(10, time.Hour, nil)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if done, err := b.Allow(); err == nil {
				done(i%2 == 0)
				done(true) // a second call is ignored
			}
			_ = b.State()
		}()
	}
	wg.Wait()
}

func TestJSONRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" || r.Method != "POST" {
			w.WriteHeader(415)
			return
		}
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		w.WriteHeader(201)
		w.Write(b[:n])
	}))
	defer srv.Close()
	req, err := JSONRequest(context.Background(), "POST", srv.URL+"/leads", map[string]string{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := New("x", time.Second, nil).Do(context.Background(), req)
	if err != nil || resp.Status != 201 || string(resp.Body) != `{"a":"b"}` {
		t.Fatalf("%v %+v", err, resp)
	}
	if _, err := JSONRequest(context.Background(), "POST", srv.URL, func() {}); err == nil {
		t.Fatal("no error for an unencodable body")
	}
}

func TestRegisterBreaker(t *testing.T) {
	reg := prometheus.NewRegistry()
	b1, b2 := NewBreaker(1, time.Hour, nil), NewBreaker(1, time.Hour, nil)
	for _, err := range []error{RegisterBreaker(reg, "crm", b1), RegisterBreaker(reg, "ga4", b2), RegisterBreaker(reg, "crm", b1)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	done, _ := b1.Allow()
	done(true)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			got[mf.GetName()+"/"+m.GetLabel()[0].GetValue()] = v
		}
	}
	want := map[string]float64{
		"hookstream_outbound_circuit_state/crm": 2, "hookstream_outbound_circuit_state/ga4": 0,
		"hookstream_outbound_circuit_opened_total/crm": 1, "hookstream_outbound_circuit_opened_total/ga4": 0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestErrorTextIsClean(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(422)
		w.Write([]byte("bad\x00\xff\r\nfield"))
	}))
	defer srv.Close()
	_, err := get(t, New("x", time.Second, nil), srv.URL)
	if msg := err.Error(); !strings.HasSuffix(msg, ": bad\uFFFD  field") {
		t.Fatalf("%q", msg)
	}
}
