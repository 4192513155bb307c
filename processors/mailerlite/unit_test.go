package mailerlite_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/processors/mailerlite"
)

func TestParseWebhook(t *testing.T) {
	cases := []struct {
		name, body, fallback string
		want                 []mailerlite.Inbound
	}{
		{"new single", `{"type":"subscriber.unsubscribed","id":"7","email":" Jo@Example.com ","unsubscribed_at":"2025-11-22 08:26:40"}`, "",
			[]mailerlite.Inbound{{Type: "subscriber.unsubscribed", Email: "jo@example.com", SubscriberID: "7",
				At: time.Date(2025, 11, 22, 8, 26, 40, 0, time.UTC)}}},
		{"event field", `{"event":"subscriber.bounced","data":{"id":8,"email":"b@example.com"}}`, "",
			[]mailerlite.Inbound{{Type: "subscriber.bounced", Email: "b@example.com", SubscriberID: "8"}}},
		{"type from subject", `{"id":"9","email":"s@example.com"}`, "subscriber.spam_reported",
			[]mailerlite.Inbound{{Type: "subscriber.spam_reported", Email: "s@example.com", SubscriberID: "9"}}},
		{"classic batch", `{"events":[{"account_id":1,"type":"subscriber.unsubscribe","timestamp":1495551003,
			"data":{"subscriber":{"id":2300951083,"email":"c@example.com","type":"unsubscribed"}}},
			{"type":"subscriber.create","data":{"subscriber":{"email":"n@example.com"}}}]}`, "batch",
			[]mailerlite.Inbound{{Type: "subscriber.unsubscribe", Email: "c@example.com", SubscriberID: "2300951083", At: time.Unix(1495551003, 0).UTC()},
				{Type: "subscriber.create", Email: "n@example.com"}}},
		{"nested subscriber", `{"type":"subscriber.unsubscribed","subscriber":{"email":"x@example.com"}}`, "",
			[]mailerlite.Inbound{{Type: "subscriber.unsubscribed", Email: "x@example.com"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := mailerlite.ParseWebhook([]byte(c.body), c.fallback)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %+v", got)
			}
			for i := range got {
				if !got[i].At.Equal(c.want[i].At) {
					t.Errorf("[%d] at %v, want %v", i, got[i].At, c.want[i].At)
				}
				got[i].At, c.want[i].At = time.Time{}, time.Time{}
				if got[i] != c.want[i] {
					t.Errorf("[%d] %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
	for in, want := range map[string]string{"subscriber.unsubscribed": "unsubscribed", "subscriber.bounced": "bounced",
		"subscriber.spam_reported": "junk", "subscriber.created": ""} {
		if got := (mailerlite.Inbound{Type: in}).Status(); got != want {
			t.Errorf("Status(%s) = %q", in, got)
		}
	}
	for _, bad := range []string{`[]`, `"x"`, `{"events":{}}`, `{"events":[1]}`} {
		if _, err := mailerlite.ParseWebhook([]byte(bad), ""); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// The limiter alone: 100 callers at once, 40 per 500 ms allowed, never more
// in any window, and not slower than it needs to be.
func TestLimiter(t *testing.T) {
	t.Parallel()
	const limit, window, n = 40, 500 * time.Millisecond, 100
	l := mailerlite.NewLimiter(limit, window)
	var mu sync.Mutex
	var at []time.Time
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			if err := l.Wait(context.Background()); err != nil {
				t.Error(err)
			}
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
		})
	}
	wg.Wait()
	took := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	// Grants are observed when Wait returns, which on a loaded machine can be
	// late by a scheduling delay; late observations bunch up, so count in a
	// window shortened by that slack. Without the limiter all 100 grants
	// would still land in it.
	const slack = 150 * time.Millisecond
	for i := range at {
		k := 0
		for j := range at {
			if d := at[j].Sub(at[i]); d >= 0 && d < window-slack {
				k++
			}
		}
		if k > limit {
			t.Fatalf("%d grants within %v", k, window-slack)
		}
	}
	// Burst 3, then (40-3) per 525 ms: 97 more take ~1.38 s.
	if took < time.Second || took > 3*time.Second {
		t.Errorf("100 grants took %v", took)
	}

	// A pause (Retry-After) holds everyone.
	l2 := mailerlite.NewLimiter(120, time.Minute)
	l2.Pause(300 * time.Millisecond)
	t0 := time.Now()
	if err := l2.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 290*time.Millisecond {
		t.Errorf("paused wait returned after %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	l2.Pause(time.Second)
	if err := l2.Wait(ctx); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("wait past its context: %v", err)
	}
}

// Error answers never carry personal data or the key into errors (which
// reach logs, outcomes and dead letters), even from a server that echoes
// the request.
func TestErrorsAreRedacted(t *testing.T) {
	status := 422
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":"The email jo.doe@example.com (+1 626 663 3444) is invalid","errors":{"email":["jo.doe@example.com is taken"]},"echo":%q,"auth":%q}`,
			b, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	cfg := mailerlite.DefaultConfig()
	cfg.APIURL, cfg.APIKey = srv.URL, "key-Zq81-secret"
	c := mailerlite.NewClient(cfg, mailerlite.NewLimiter(100, time.Second))
	for _, st := range []int{422, 500, 400} {
		status = st
		_, err := c.Upsert(context.Background(), &mailerlite.SubscriberRequest{Email: "jo.doe@example.com",
			Fields: map[string]string{"name": "Jo", "last_name": "Pérez", "phone": "+16266633444"}})
		if err == nil {
			t.Fatalf("%d: no error", st)
		}
		msg := err.Error()
		for _, leak := range []string{"jo.doe", "Pérez", "6266633444", "626 663 3444", "key-Zq81-secret"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%d: error carries %q: %s", st, leak, msg)
			}
		}
		if !strings.Contains(msg, fmt.Sprint(st)) || !strings.Contains(msg, "[email]") {
			t.Errorf("%d: error %q", st, msg)
		}
	}
}
