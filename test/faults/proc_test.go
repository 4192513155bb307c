package faults

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testutil"
)

// proc is one hookstream process under test.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// settingEnv are variables a developer's shell may hold that would change
// what the binary connects to; children start without them.
var settingEnv = []string{"DATABASE_URL", "NATS_URL", "HOOKSTREAM_", "CRM_", "MAILERLITE_", "GA4_", "FACEBOOK_",
	"STRIPE_", "SMTP_URL", "SLACK_WEBHOOK_URL", "TWILIO_"}

// childEnv is the test's environment without settingEnv, plus extra.
func childEnv(extra ...string) []string {
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, p := range settingEnv {
			if strings.HasPrefix(kv, p) {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startProc runs `hookstream args…` with env (see childEnv), its output in a
// log file shown when the test fails. The process is stopped (SIGTERM, then
// SIGKILL) at test end if it still runs, and killed if the test binary dies.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	bin := hookstreamBin(t)
	logPath := filepath.Join(root, fmt.Sprintf("%s-%d.log", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano()))
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("---- %s log (last 60 lines) ----\n%s", name, tail(logPath, 60))
		}
		os.Remove(logPath)
	})
	return p
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *proc) Kill() {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("%s exited before it was killed: %v", p.name, p.err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill -9 %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s still running 10s after SIGKILL", p.name)
	}
}

// Stop sends SIGTERM and waits up to 40 s (serve drains HTTP, processors and
// stops its private Postgres), then SIGKILLs. It returns the exit error.
func (p *proc) Stop() error {
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within 40s of SIGTERM", p.name)
	}
	return p.err
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Log is the process's output so far.
func (p *proc) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// waitReady polls base/readyz until it answers 200 (at most total), failing
// early if the process exits.
func (p *proc) waitReady(base string, total time.Duration) {
	p.t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	eventually(p.t, total, 100*time.Millisecond, p.name+" ready", func() error {
		if p.exited() {
			p.t.Fatalf("%s exited while starting: %v\n%s", p.name, p.err, tail(p.log, 30))
		}
		resp, err := c.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
}

// runCLI runs a hookstream verb to completion (at most 60 s) and returns its
// stdout.
func runCLI(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(hookstreamBin(t), args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hookstream %s: %v: %s", strings.Join(args, " "), err, errb.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("hookstream %s did not finish within 60s", strings.Join(args, " "))
	}
	return out.Bytes()
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// postmaster reads a cluster's postmaster.pid: the postmaster's pid when it
// is alive, else 0.
func postmaster(pgdata string) int {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0
	}
	return pid
}

// stopPostmaster asks a cluster left running (by a killed serve) to stop and
// waits up to 30 s.
func stopPostmaster(pgdata string) {
	pid := postmaster(pgdata)
	if pid == 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGINT)
	_ = testutil.Poll(30*time.Second, 100*time.Millisecond, func() error {
		if postmaster(pgdata) == pid {
			return errors.New("postmaster still running")
		}
		return nil
	})
}
