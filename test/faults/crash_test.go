package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookstream/hookstream/projections"
)

// TestCrashRecovery kills `hookstream serve` with SIGKILL while signed leads
// arrive at ~300/s, restarts it on the same data dir and checks:
//
//   - every request answered 2xx is in INGEST after the crash (before any
//     retry) — nothing acknowledged is lost;
//   - the private Postgres, which outlives its killed parent, is adopted by
//     the new serve (same postmaster) and stopped by it on exit;
//   - the requests that got no answer, re-sent by the client after the
//     restart, are accepted; re-sent 2xx ones are answered duplicate:true; in
//     the end INGEST holds every lead exactly once;
//   - the contacts projection has each event exactly once (one lead, one
//     contact, one events.lead.created), although the deliveries in flight at
//     the crash come back only after their AckWait (30 s);
//   - round 2: serve and its postmaster SIGKILLed together (a container's OOM
//     kill), the stale postmaster.pid naming a live process that is not
//     postgres (a reused pid): serve starts Postgres itself, which recovers,
//     and every lead is still there.
func TestCrashRecovery(t *testing.T) {
	slow(t)
	t.Parallel()
	data := newDir(t, "crash")
	pgdata := filepath.Join(data, "postgres", "pgdata")
	// Runs after the serve processes' own cleanup (cleanups are LIFO): a
	// cluster a failed test leaves behind is stopped.
	t.Cleanup(func() { stopPostmaster(pgdata) })
	httpAddr, natsAddr := freeAddr(t), freeAddr(t)
	base, natsURL := "http://"+httpAddr, "nats://"+natsAddr
	env := childEnv()
	args := []string{"serve", "--data-dir", data, "--http-addr", httpAddr, "--nats-listen", natsAddr}

	start := time.Now()
	serve := startProc(t, "serve", env, args...)
	serve.waitReady(base, 120*time.Second) // initdb on first start
	t.Logf("serve ready after %v", time.Since(start).Round(time.Millisecond))
	var created struct {
		ID      string `json:"id"`
		Secrets []struct {
			Value string `json:"value"`
		} `json:"secrets"`
	}
	out := runCLI(t, env, "webhooks", "create", "--data-dir", data, "--workspace", "crash", "--name", "crash test",
		"--auth", "standard", "--json")
	if err := json.Unmarshal(out, &created); err != nil || created.ID == "" || len(created.Secrets) == 0 {
		t.Fatalf("webhooks create --json: %v: %s", err, out)
	}
	h := hook{ID: created.ID, Secret: created.Secrets[0].Value}
	s := newSender(t, base, h)
	pid := postmaster(pgdata)
	if pid == 0 {
		t.Fatalf("no running postmaster in %s", pgdata)
	}

	// Load for 3 s; SIGKILL after 2 s, so the last second's requests find
	// nobody listening (and some are cut off mid-flight).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		s.load(ctx, "crash", 300, 16, 1200)
	}()
	s.waitAccepted(300, 30*time.Second) // about a second of load
	serve.Kill()
	killedAt := time.Now()
	<-loaded
	before := s.snapshot()
	acceptedBefore := s.accepted()
	t.Logf("before the crash: %d requests, by status %v", len(before), summary(before))
	if len(acceptedBefore) < 100 {
		t.Fatalf("only %d leads accepted before the kill; the load did not run", len(acceptedBefore))
	}
	if len(s.unaccepted()) == 0 {
		t.Fatalf("no request went unanswered: the kill did not happen under load")
	}
	survived := postmaster(pgdata) == pid
	t.Logf("private postgres (pid %d) survived the SIGKILL of serve: %v", pid, survived)

	serve2 := startProc(t, "serve (restarted)", env, args...)
	serve2.waitReady(base, 60*time.Second)
	t.Logf("restarted serve ready %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	if survived {
		if got := postmaster(pgdata); got != pid {
			t.Errorf("restarted serve runs postmaster %d, want the surviving %d adopted", got, pid)
		}
	}

	// Nothing acknowledged was lost, before any client retry.
	js := connectNATS(t, natsURL)
	checkStreams(t, js, 90*24*time.Hour, 10*time.Minute) // the defaults
	checkInIngest(t, js, h, acceptedBefore)

	// The client re-sends what got no answer (or a 5xx) …
	unanswered := s.unaccepted()
	s.retryUnaccepted(30 * time.Second)
	// … and a sender that missed a 2xx re-sends an accepted lead too.
	n := 0
	for lid := range acceptedBefore {
		if n == 20 {
			break
		}
		n++
		a := s.post(context.Background(), s.lead(lid))
		if !a.ok() || !a.Duplicate {
			t.Errorf("re-sent accepted lead %s: %d duplicate=%v %s", lid, a.Status, a.Duplicate, a.Body)
		}
	}
	stored := 0 // unanswered, yet stored before the crash: the retry is a duplicate
	for _, a := range s.snapshot() {
		if a.ok() && a.Duplicate && acceptedBefore[a.Lead] == "" {
			stored++
		}
	}
	t.Logf("after the restart: %d unanswered leads re-sent and accepted (%d of them had been stored before the crash), %d accepted leads re-sent",
		len(unanswered), stored, n)

	all := s.accepted()
	if sent := s.sentIDs(); len(all) != len(sent) {
		t.Fatalf("%d leads sent, %d accepted in the end", len(sent), len(all))
	}
	ingest := checkInIngest(t, js, h, all)
	if len(ingest) != len(all) {
		t.Errorf("INGEST holds %d events for the webhook, %d leads were sent", len(ingest), len(all))
	}

	l, err := projections.StartLocal(ctxFor(t, time.Minute), projections.LocalConfig{Dir: filepath.Join(data, "postgres")})
	if err != nil {
		t.Fatal(err)
	}
	pool := openPool(t, l.URL)
	checkProjectedOnce(t, js, pool, h, "crash", ingest, 75*time.Second)
	t.Logf("all %d events projected exactly once %v after the kill (deliveries in flight at the crash wait out their 30 s AckWait)",
		len(ingest), time.Since(killedAt).Round(time.Millisecond))
	pool.Close()

	// serve stops the cluster it adopted when it exits.
	if err := serve2.Stop(); err != nil {
		t.Errorf("restarted serve: %v", err)
	}
	if survived && syscall.Kill(pid, 0) == nil {
		t.Errorf("postmaster %d still runs after the serve that adopted it exited", pid)
	}

	// Round 2: the whole process group dies at once (a container's OOM
	// kill): serve and its postmaster, both SIGKILLed, leaving a stale
	// postmaster.pid. In a restarted container PIDs start over, so the pid
	// in that file soon belongs to some other process: serve must then start
	// Postgres itself (which recovers from its WAL) instead of waiting for
	// the stranger to accept connections.
	serve3 := startProc(t, "serve (clean start)", env, args...)
	serve3.waitReady(base, 60*time.Second)
	pm := postmaster(pgdata)
	if pm == 0 {
		t.Fatalf("no postmaster after a clean start")
	}
	serve3.Kill()
	_ = syscall.Kill(pm, syscall.SIGKILL)
	eventually(t, 20*time.Second, 50*time.Millisecond, "postmaster gone after SIGKILL", func() error {
		if syscall.Kill(pm, 0) == nil {
			return fmt.Errorf("postmaster %d still alive", pm)
		}
		return nil
	})
	stranger := exec.Command("sleep", "300")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stranger.Process.Kill(); _ = stranger.Wait() })
	reusePid(t, pgdata, stranger.Process.Pid)
	restartAt := time.Now()
	serve4 := startProc(t, "serve (after a group kill)", env, args...)
	serve4.waitReady(base, 90*time.Second)
	t.Logf("serve ready %v after a group kill with a stale postmaster.pid naming a live non-postgres process",
		time.Since(restartAt).Round(time.Millisecond))
	l, err = projections.StartLocal(ctxFor(t, time.Minute), projections.LocalConfig{Dir: filepath.Join(data, "postgres")})
	if err != nil {
		t.Fatal(err)
	}
	pool = openPool(t, l.URL)
	var leads int
	if err := pool.QueryRow(ctxFor(t, 10*time.Second), `SELECT count(*) FROM leads WHERE webhook_id=$1`, h.ID).Scan(&leads); err != nil {
		t.Fatal(err)
	}
	if leads != len(ingest) {
		t.Errorf("%d leads after the group kill, want %d", leads, len(ingest))
	}
	pool.Close()
	if err := serve4.Stop(); err != nil {
		t.Errorf("serve after the group kill: %v", err)
	}
}

// reusePid rewrites the pid in a stale postmaster.pid, as if the dead
// postmaster's pid had been given to another process.
func reusePid(t *testing.T, pgdata string, pid int) {
	t.Helper()
	path := filepath.Join(pgdata, "postmaster.pid")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("stale postmaster.pid: %v", err)
	}
	lines := strings.SplitN(string(b), "\n", 2)
	if len(lines) != 2 {
		t.Fatalf("postmaster.pid: %q", b)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"+lines[1]), 0o600); err != nil {
		t.Fatal(err)
	}
}
