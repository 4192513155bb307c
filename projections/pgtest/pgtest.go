// Package pgtest gives each test its own database on a real PostgreSQL
// server: DATABASE_URL's server when set, otherwise one private cluster per
// test binary (started on first use, stopped by Main). Databases are cloned
// from a migrated template, so a new one costs milliseconds.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/projections"
)

var (
	mu       sync.Mutex
	adminURL string
	local    *projections.Local
	baseDir  string
	template string
	seq      atomic.Int64
	startErr error
)

// Main runs the tests and then stops the private cluster. Use it from the
// package's TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if local != nil {
		local.Stop()
	}
	if baseDir != "" {
		os.RemoveAll(baseDir)
	}
	mu.Unlock()
	os.Exit(code)
}

// URL returns the connection string of a new, migrated database that is
// dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin, tmpl := setup(t)
	name := fmt.Sprintf("hst_%d_%d", os.Getpid(), seq.Add(1))
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	mu.Lock()
	_, err = conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl))
	mu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		// Best effort: the whole cluster goes when the test binary ends.
		_, _ = c.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return withDB(admin, name)
}

// New returns a pool on a new, migrated database, closed at test end.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := projections.Open(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// AdminURL returns the server's maintenance connection string (for tests that
// stop and start the server or need a raw database).
func AdminURL(t testing.TB) string {
	admin, _ := setup(t)
	return admin
}

func setup(t testing.TB) (string, string) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if startErr != nil {
		t.Fatalf("pgtest: %v", startErr)
	}
	if template != "" {
		return adminURL, template
	}
	startErr = start()
	if startErr != nil {
		t.Fatalf("pgtest: %v", startErr)
	}
	return adminURL, template
}

func start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv("DATABASE_URL"); u != "" {
		adminURL = u
	} else {
		dir, err := os.MkdirTemp("", "hookstream-pgtest-")
		if err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		baseDir = dir
		l, err := projections.StartLocal(ctx, projections.LocalConfig{Dir: dir, Fast: true})
		if err != nil {
			return err
		}
		local = l
		adminURL = l.URL
	}
	tmpl := fmt.Sprintf("hst_%d_template", os.Getpid())
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+tmpl); err != nil {
		return fmt.Errorf("drop old template: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+tmpl); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	pool, err := projections.Open(ctx, withDB(adminURL, tmpl))
	if err != nil {
		return err
	}
	_, err = projections.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return err
	}
	template = tmpl
	return nil
}
