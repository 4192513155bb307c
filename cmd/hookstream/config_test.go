package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/streams/streamstest"
)

// TestRoles_ProcessorSettingStopsOnlyProcess: a bad processor setting
// (CRM_TIMEOUT=bogus) fails `process` with a message naming it, while
// `gateway`, which builds no processor, starts and accepts a form post.
func TestRoles_ProcessorSettingStopsOnlyProcess(t *testing.T) {
	ns := streamstest.RunServer(t)
	dbURL := pgtest.URL(t)
	t.Setenv("CRM_TIMEOUT", "bogus")
	t.Setenv("CORS_ORIGINS", "*")

	var errb bytes.Buffer
	code := Main(t.Context(), []string{"process", "--nats-url", ns.ClientURL(), "--database-url", dbURL}, &bytes.Buffer{}, &errb)
	if code != 1 || !strings.Contains(errb.String(), `CRM_TIMEOUT="bogus": want a positive duration`) {
		t.Fatalf("process: exit %d, stderr %q; want 1 and a message naming CRM_TIMEOUT", code, errb.String())
	}

	form, err := os.ReadFile("../../processors/crm/testdata/contact-form.json")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var gerr bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"gateway", "--nats-url", ns.ClientURL(), "--database-url", dbURL, "--http-addr", addr}, &bytes.Buffer{}, &gerr)
	}()
	t.Cleanup(func() { cancel(); <-done })
	testutil.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		select {
		case c := <-done:
			done <- c
			t.Fatalf("gateway exited %d: %s", c, gerr.String())
		default:
		}
		resp, err := http.Post("http://"+addr+"/forms/contact", "application/json", bytes.NewReader(form))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
			t.Fatalf("form post: %d, want 200 or 202", resp.StatusCode)
		}
		return nil
	})
}

// TestCORSOrigins: forms honour CORS_ORIGINS (the original system's name);
// HOOKSTREAM_CORS_ORIGINS, when also set, wins, and --cors-origins wins
// over both.
func TestCORSOrigins(t *testing.T) {
	for _, tc := range []struct {
		name        string
		env         map[string]string
		args        []string
		wantOrigins string
	}{
		{"CORS_ORIGINS", map[string]string{"CORS_ORIGINS": "https://a.example, https://b.example"}, nil, "https://a.example,https://b.example"},
		{"both set: HOOKSTREAM_ wins", map[string]string{"CORS_ORIGINS": "https://a.example", "HOOKSTREAM_CORS_ORIGINS": "https://h.example"}, nil, "https://h.example"},
		{"flag wins", map[string]string{"CORS_ORIGINS": "https://a.example", "HOOKSTREAM_CORS_ORIGINS": "https://h.example"},
			[]string{"--cors-origins", "https://f.example"}, "https://f.example"},
		{"none", nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CORS_ORIGINS", "")
			t.Setenv("HOOKSTREAM_CORS_ORIGINS", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var s settings
			fs := roleFlags(role{"gateway", "gateway", true, false}, &s, &bytes.Buffer{})
			if err := parse(fs, tc.args, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			cfg, err := s.pipelineConfig(func(string) string { return "" }, true, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(cfg.HTTP.CORSOrigins, ","); got != tc.wantOrigins {
				t.Errorf("CORS origins = %q, want %q", got, tc.wantOrigins)
			}
		})
	}
}

// TestOneOutcomeRecorderPerProcess: serve's runner and its dead-letter
// capture record outcomes through the same GroupedOutcomes.
func TestOneOutcomeRecorderPerProcess(t *testing.T) {
	p := startPipeline(t)
	if p.p.Runner.Outcomes != p.p.Outcomes || p.p.Capture.Outcomes != p.p.Outcomes {
		t.Fatalf("runner %p and capture %p record outcomes apart from the pipeline's %p",
			p.p.Runner.Outcomes, p.p.Capture.Outcomes, p.p.Outcomes)
	}
}

// TestHelpListsEnvironment: serve and process --help list every processor
// setting (the breakers of CRM, GA4 and MailerLite among them) and the
// gateway's --help none of them.
func TestHelpListsEnvironment(t *testing.T) {
	for _, verb := range []string{"serve", "process", "gateway"} {
		var out bytes.Buffer
		if code := Main(t.Context(), []string{verb, "--help"}, &out, &bytes.Buffer{}); code != 0 {
			t.Fatalf("%s --help: exit %d", verb, code)
		}
		for _, e := range envVars() {
			listed := strings.Contains(out.String(), "\n  "+e.name+"\n")
			if want := e.proc == "" && verb != "process" || e.proc != "" && verb != "gateway"; listed != want {
				t.Errorf("%s --help lists %s: %v, want %v", verb, e.name, listed, want)
			}
		}
	}
}

// TestBreakerSettings: the GA4 and MailerLite breakers are configurable
// like CRM's and validated the same way.
func TestBreakerSettings(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		wantErr string
	}{
		{env: map[string]string{"GA4_BREAKER_THRESHOLD": "7", "GA4_BREAKER_COOLDOWN": "1m",
			"MAILERLITE_BREAKER_THRESHOLD": "3", "MAILERLITE_BREAKER_COOLDOWN": "5s", "CRM_BREAKER_THRESHOLD": "2"}},
		{env: map[string]string{"GA4_BREAKER_THRESHOLD": "0"}, wantErr: `GA4_BREAKER_THRESHOLD="0": want a positive number of failures`},
		{env: map[string]string{"MAILERLITE_BREAKER_COOLDOWN": "-1s"}, wantErr: `MAILERLITE_BREAKER_COOLDOWN="-1s": want a positive duration`},
	} {
		var s settings
		if err := roleFlags(role{"process", "process", false, true}, &s, &bytes.Buffer{}).Parse(nil); err != nil {
			t.Fatal(err)
		}
		cfg, err := s.pipelineConfig(func(k string) string { return tc.env[k] }, false, true)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want %q", tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if cfg.GA4.BreakerThreshold != 7 || cfg.GA4.BreakerCooldown != time.Minute || cfg.MailerLite.BreakerThreshold != 3 ||
			cfg.MailerLite.BreakerCooldown != 5*time.Second || cfg.CRM.BreakerThreshold != 2 {
			t.Errorf("breakers not applied: ga4 %d/%v mailerlite %d/%v crm %d", cfg.GA4.BreakerThreshold, cfg.GA4.BreakerCooldown,
				cfg.MailerLite.BreakerThreshold, cfg.MailerLite.BreakerCooldown, cfg.CRM.BreakerThreshold)
		}
	}
}

// TestProcess_MetricsAddr: `process --metrics-addr` serves the processors'
// series (which only that process registers) and /healthz, so Prometheus
// can scrape a copy that has no gateway.
func TestProcess_MetricsAddr(t *testing.T) {
	ns := streamstest.RunServer(t)
	dbURL := pgtest.URL(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var perr bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"process", "--only", "boards", "--nats-url", ns.ClientURL(), "--database-url", dbURL,
			"--metrics-addr", addr}, &bytes.Buffer{}, &perr)
	}()
	t.Cleanup(func() { cancel(); <-done })
	get := func(path string) (int, string, error) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, err = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String(), err
	}
	testutil.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		select {
		case c := <-done:
			done <- c
			t.Fatalf("process exited %d: %s", c, perr.String())
		default:
		}
		code, body, err := get("/metrics")
		if err != nil {
			return err
		}
		if code != http.StatusOK || !strings.Contains(body, "hookstream_consumer_pending") {
			return fmt.Errorf("/metrics: %d without hookstream_consumer_pending yet", code)
		}
		return nil
	})
	if code, body, err := get("/healthz"); err != nil || code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz: %d %q %v", code, body, err)
	}
}
