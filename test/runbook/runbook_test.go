// Package runbook checks docs/operations.md: every command in its ```sh
// blocks is run, in order, against a real `hookstream serve` (embedded NATS,
// private Postgres under the data dir) seeded with leads, a Stripe event and
// dead letters, with the pinned nats CLI (tools/bin/nats, built by `make
// tools`) and the PostgreSQL client tools on PATH.
//
// Conventions the runbook follows so its commands run unattended:
//   - the documented addresses 127.0.0.1:4222 (NATS) and 127.0.0.1:8080
//     (gateway) are replaced by the test server's random ports;
//   - `export` lines persist into the following blocks, as in one shell;
//   - a line ending in "# runs until Ctrl-C" is interrupted after 3 s;
//   - `nats stream view` (which needs a terminal) runs under script(1).
package runbook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/streams"
)

const stripeSecret = "whsec_runbook_test"

// block is one ```sh block of the runbook.
type block struct {
	line int // of the opening fence
	text string
}

func readBlocks(t *testing.T, path string) []block {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []block
	var cur *block
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(l) == "```sh":
			cur = &block{line: n}
		case cur != nil && strings.TrimSpace(l) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s: unterminated block at line %d", path, cur.line)
	}
	return out
}

func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// natsCLI finds tools/bin/nats or builds it from the tools module.
func natsCLI(t *testing.T, rootDir, binDir string) string {
	t.Helper()
	if p := filepath.Join(rootDir, "tools", "bin", "nats"); isExec(p) {
		return p
	}
	out := filepath.Join(binDir, "nats")
	cmd := exec.Command("go", "build", "-o", out, "github.com/nats-io/natscli/nats")
	cmd.Dir = filepath.Join(rootDir, "tools")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("the nats CLI is not built (tools/bin/nats) and cannot be built here (run `make tools`): %v\n%s", err, lastLines(b, 5))
	}
	return out
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// pgBin finds the PostgreSQL client tools.
func pgBin(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); isExec(filepath.Join(d, "pg_dump")) {
			return d
		}
	}
	if p, err := exec.LookPath("pg_dump"); err == nil {
		return filepath.Dir(p)
	}
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if len(ms) > 0 {
		return filepath.Dir(ms[len(ms)-1])
	}
	t.Skip("PostgreSQL client tools (pg_dump, psql) not found: run make deps-postgres")
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func lastLines(b []byte, n int) string {
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

func TestRunbook(t *testing.T) {
	if testing.Short() {
		t.Skip("runbook test skipped with -short")
	}
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) (util-linux) not found: needed to give `nats stream view` a terminal")
	}
	rootDir := root(t)
	blocks := readBlocks(t, filepath.Join(rootDir, "docs", "operations.md"))
	if len(blocks) < 10 {
		t.Fatalf("only %d sh blocks in docs/operations.md", len(blocks))
	}

	// A world-readable work dir: the private cluster runs as the postgres
	// user when the test runs as root, and must reach data/postgres.
	work, err := os.MkdirTemp("", "hookstream-runbook-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(work, 0o755)
	t.Cleanup(func() { os.RemoveAll(work) })
	binDir := filepath.Join(work, "bin")
	os.MkdirAll(binDir, 0o755)
	nats := natsCLI(t, rootDir, binDir)
	if filepath.Dir(nats) != binDir {
		os.Symlink(nats, filepath.Join(binDir, "nats"))
	}
	pgDir := pgBin(t)
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "hookstream"), "./cmd/hookstream")
	build.Dir = rootDir
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hookstream: %v\n%s", err, b)
	}

	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("access_token") == "" {
			http.Error(w, `{"error":{"message":"An access token is required","code":104}}`, http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"id":%q,"created_time":"2025-01-02T10:00:00+0000","field_data":[
			{"name":"email","values":["fay@runbook.example.com"]},{"name":"full_name","values":["Fay Book"]}]}`,
			strings.TrimPrefix(r.URL.Path, "/"))
	}))
	t.Cleanup(graph.Close)
	env := []string{"PATH=" + binDir + ":" + pgDir + ":" + os.Getenv("PATH"), "HOME=" + work,
		"NATS_URL=nats://" + natsAddr, "STRIPE_WEBHOOK_SECRET=" + stripeSecret, "HOOKSTREAM_LOG_LEVEL=warn",
		"FACEBOOK_APP_SECRET=" + fbSecret, "FACEBOOK_GRAPH_URL=" + graph.URL, "TERM=dumb", "LANG=C.UTF-8"}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GO") || strings.HasPrefix(kv, "TMPDIR=") || strings.HasPrefix(kv, "USER=") {
			env = append(env, kv)
		}
	}

	// serve, as an operator starts it (make run).
	logPath := filepath.Join(work, "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	serve := exec.Command(filepath.Join(binDir, "hookstream"), "serve",
		"--nats-listen", natsAddr, "--http-addr", httpAddr, "--data-dir", filepath.Join(work, "data"))
	var serveEnv []string // serve embeds NATS: no NATS_URL
	for _, kv := range env {
		if !strings.HasPrefix(kv, "NATS_URL=") {
			serveEnv = append(serveEnv, kv)
		}
	}
	// The operator's shell has the page token serve was started without:
	// the Facebook lead serve dead-letters is fetched by `dlq retry`.
	env = append(env, "FACEBOOK_PAGE_TOKEN=page-token")
	serve.Dir, serve.Env, serve.Stdout, serve.Stderr = work, serveEnv, logf, logf
	serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		serve.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-serve.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("serve log (tail):\n%s", lastLines(b, 40))
		}
	})
	base := "http://" + httpAddr
	testutil.CheckFor(t, 120*time.Second, 250*time.Millisecond, func() error {
		select {
		case err := <-exited:
			exited <- err
			b, _ := os.ReadFile(logPath)
			t.Fatalf("serve exited: %v\n%s", err, lastLines(b, 20))
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})

	run := func(name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, name), args...)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return out
	}
	wh := seed(t, run, base, natsAddr)

	// The runbook, block by block.
	var exports []string
	interrupt := regexp.MustCompile(`^(.*?)\s*#\s*runs until Ctrl-C\s*$`)
	for _, b := range blocks {
		text := strings.NewReplacer("127.0.0.1:4222", natsAddr, "127.0.0.1:8080", httpAddr).Replace(b.text)
		var script strings.Builder
		script.WriteString("set -euo pipefail\ntty_run() { script -qefc \"$(printf '%q ' \"$@\")\" /dev/null < /dev/null; }\n")
		for _, e := range exports {
			script.WriteString(e + "\n")
		}
		for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			trimmed := strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(trimmed, "export "):
				exports = append(exports, trimmed)
			case interrupt.MatchString(l):
				l = "timeout -s INT 3 " + interrupt.FindStringSubmatch(l)[1] + " || [ $? -eq 124 ]"
			case strings.HasPrefix(trimmed, "nats stream view"):
				l = "tty_run " + trimmed
			}
			script.WriteString("echo '$ " + strings.ReplaceAll(trimmed, "'", `'\''`) + "'\n")
			script.WriteString(l + "\n")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
		cmd.Dir, cmd.Env = work, env
		cmd.Stdin = nil
		out, err := cmd.CombinedOutput()
		cancel()
		t.Logf("docs/operations.md:%d\n%s", b.line, out)
		if err != nil {
			t.Fatalf("runbook block at docs/operations.md:%d failed: %v\n%s", b.line, err, out)
		}
		check(t, b, out)
	}

	// What the recipes did, from the outside.
	pgURL := fmt.Sprintf("postgres://hookstream:%s@127.0.0.1:%s/hookstream?sslmode=disable",
		strings.TrimSpace(readFile(t, filepath.Join(work, "data/postgres/password"))),
		strings.TrimSpace(strings.Split(readFile(t, filepath.Join(work, "data/postgres/pgdata/postmaster.pid")), "\n")[3]))
	conn, err := pgx.Connect(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	conn.QueryRow(context.Background(), `SELECT count(*) FROM leads WHERE event_id=$1`, fbEventID).Scan(&n)
	if n != 1 {
		t.Errorf("the retried dead letter made %d leads, want 1", n)
	}
	// The pipeline still works after the stream restore: a new post is
	// projected (the processors' consumers came back with the backup).
	body := []byte(`{"email":"after-restore@runbook.example.com","first_name":"After"}`)
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/"+wh, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", "after-restore")
	testutil.CheckFor(t, 30*time.Second, 250*time.Millisecond, func() error {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			req.Body = io.NopCloser(bytes.NewReader(body))
			return fmt.Errorf("post after restore: %d", resp.StatusCode)
		}
		return nil
	})
	testutil.CheckFor(t, 60*time.Second, 250*time.Millisecond, func() error {
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM leads`).Scan(&n); err != nil {
			return err
		}
		if n != seedLeads+2 {
			return fmt.Errorf("%d leads after the runbook and a post after the restore, want %d", n, seedLeads+2)
		}
		return nil
	})
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// check makes sure some commands did what the runbook says they do.
func check(t *testing.T, b block, out []byte) {
	t.Helper()
	s := string(out)
	want := map[string][]string{
		"hookstream dlq show 1":              {fbEventID, "FACEBOOK_PAGE_TOKEN is not configured"},
		"hookstream dlq retry 1\n":           {"applied; removed from the DLQ"},
		"hookstream dlq discard 2":           {"discarded dead letter 2"},
		"nats stream get INGEST 1":           {"Nats-Msg-Id"},
		"nats consumer info INGEST contacts": {"Unprocessed Messages", "Outstanding Acks", "Acknowledgment Floor"},
		"nats consumer pause EVENTS crm":     {"Paused"},
		"hookstream replay --rebuild":        {"rebuil"},
		"pg_restore --list":                  {"TABLE DATA public contacts"},
		"nats backup restore stream":         {"INGEST"},
	}
	for cmd, subs := range want {
		if !strings.Contains(b.text, cmd) {
			continue
		}
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				t.Errorf("docs/operations.md:%d: output of %q lacks %q", b.line, strings.TrimSpace(cmd), sub)
			}
		}
	}
}

const (
	seedLeads = 8
	fbSecret  = "runbook-fb-app-secret"
	fbEventID = "fb:4440001"
)

// seed gives the runbook something to look at: leads through a webhook, a
// Stripe event, a Facebook lead serve cannot fetch (no page token: dead
// letter 1, which `dlq retry` fetches with the operator's token) and an
// invalid event the contacts processor dead-letters (id 2). It returns the
// webhook id.
func seed(t *testing.T, run func(string, ...string) []byte, base, natsAddr string) string {
	t.Helper()
	var wh struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(run("hookstream", "webhooks", "create", "--workspace", "ws-runbook", "--name", "runbook",
		"--auth", "none", "--json"), &wh); err != nil || wh.ID == "" {
		t.Fatalf("webhook: %v", err)
	}
	post := func(path string, body []byte, h map[string]string) {
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d", path, resp.StatusCode)
		}
	}
	for i := range seedLeads {
		post("/webhooks/"+wh.ID, fmt.Appendf(nil, `{"email":"lead%d@runbook.example.com","first_name":"Lead %d","product":"Bath Remodel"}`, i, i),
			map[string]string{"webhook-id": fmt.Sprintf("runbook-%d", i)})
	}
	stripe := []byte(`{"id":"evt_runbook_1","object":"event","api_version":"2023-10-16","created":1735812000,
		"type":"payment_intent.succeeded","livemode":false,"data":{"object":{"id":"pi_runbook_1","object":"payment_intent",
		"amount":149900,"currency":"usd","status":"succeeded","receipt_email":"lead1@runbook.example.com","metadata":{}}}}`)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: stripe, Secret: stripeSecret, Timestamp: time.Now()})
	post("/webhooks/stripe", sp.Payload, map[string]string{"Stripe-Signature": sp.Header})
	fb := []byte(`{"object":"page","entry":[{"id":"9","time":1735812000,"changes":[{"field":"leadgen",
		"value":{"leadgen_id":"4440001","page_id":"9","form_id":"7","created_time":1735812000}}]}]}`)
	mac := hmac.New(sha256.New, []byte(fbSecret))
	mac.Write(fb)
	post("/webhooks/facebook", fb, map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil))})

	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := streams.JetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dlqMsgs := func(want uint64) {
		testutil.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
			s, err := js.Stream(ctx, streams.StreamDLQ)
			if err != nil {
				return err
			}
			info, err := s.Info(ctx)
			if err != nil {
				return err
			}
			if info.State.Msgs < want {
				return fmt.Errorf("%d dead letters, want %d", info.State.Msgs, want)
			}
			return nil
		})
	}
	dlqMsgs(1)
	// Dead letter 2: an event without e-mail or phone (published behind the
	// gateway's back), rejected by the contacts processor.
	bad := nats.NewMsg("ingest.webhook." + wh.ID)
	bad.Data = []byte(`{"first_name":"Nobody"}`)
	bad.Header.Set(streams.HdrMsgID, "runbook-invalid")
	bad.Header.Set(streams.HdrSource, streams.SourceWebhook)
	bad.Header.Set(streams.HdrWebhookID, wh.ID)
	bad.Header.Set(streams.HdrWorkspaceID, "ws-runbook")
	if _, err := js.PublishMsg(ctx, bad); err != nil {
		t.Fatal(err)
	}
	dlqMsgs(2)
	testutil.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		c, err := js.Consumer(ctx, streams.StreamIngest, "contacts")
		if err != nil {
			return err
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if ci.NumPending+uint64(ci.NumAckPending) > 0 {
			return fmt.Errorf("contacts still busy")
		}
		return nil
	})
	var dl []struct {
		ID      uint64 `json:"id"`
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(run("hookstream", "dlq", "list", "--json"), &dl); err != nil {
		t.Fatal(err)
	}
	if len(dl) != 2 || dl[0].ID != 1 || dl[0].EventID != fbEventID || dl[1].ID != 2 || dl[1].EventID != "runbook-invalid" {
		t.Fatalf("seeded dead letters: %+v, want 1 = %s and 2 = runbook-invalid", dl, fbEventID)
	}
	return wh.ID
}
