package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/projections/pgtest"
)

// root is this test binary's scratch directory: the hookstream binary, data
// dirs, Postgres clusters. Mode 0755 all the way down, because as root the
// private clusters run as the postgres user, which must reach them.
var root string

var (
	binOnce sync.Once
	binPath string
	binErr  error

	pgOnce  sync.Once
	sharedL *projections.Local
	pgErr   error
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hookstream-faults-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	root = dir
	defer os.RemoveAll(dir)
	defer func() {
		if sharedL != nil {
			sharedL.Stop()
		}
	}()
	return m.Run()
}

// slow skips the test in -short mode; every test here runs for seconds.
func slow(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault tests run the real pipeline for tens of seconds; skipped with -short")
	}
}

// hookstreamBin builds ./cmd/hookstream once per test binary and returns its
// path.
func hookstreamBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(root, "bin", "hookstream")
		// go test puts its own GOROOT/bin first in PATH.
		cmd := exec.Command("go", "build", "-buildvcs=false", "-o", binPath, "github.com/hookstream/hookstream/cmd/hookstream")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/hookstream: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freshDB returns the URL of a new migrated database (pgtest), dropped at
// test end. Unless DATABASE_URL names a server, the databases live on one
// private cluster this package starts on first use and stops in TestMain
// (pgtest's own cluster would need pgtest.Main, which exits before our
// cleanup runs).
func freshDB(t *testing.T) string {
	t.Helper()
	pgOnce.Do(func() {
		if os.Getenv("DATABASE_URL") != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		dir := filepath.Join(root, "shared-pg")
		if pgErr = os.MkdirAll(dir, 0o755); pgErr != nil {
			return
		}
		sharedL, pgErr = projections.StartLocal(ctx, projections.LocalConfig{Dir: dir, Fast: true})
		if pgErr == nil {
			pgErr = os.Setenv("DATABASE_URL", sharedL.URL)
		}
	})
	if pgErr != nil {
		t.Fatalf("shared postgres: %v", pgErr)
	}
	return pgtest.URL(t)
}

// newDir makes a scratch directory under root, removed at test end.
func newDir(t *testing.T, name string) string {
	t.Helper()
	d, err := os.MkdirTemp(root, name+"-")
	if err == nil {
		err = os.Chmod(d, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeAddr(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }

// ctxFor is a context that ends after d or at test end.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls f every interval until it returns nil; after total it
// fails the test with f's last error.
func eventually(t *testing.T, total, interval time.Duration, what string, f func() error) {
	t.Helper()
	if err := testutil.Poll(total, interval, f); err != nil {
		t.Fatalf("%s: not reached after %v: %v", what, total, err)
	}
}
