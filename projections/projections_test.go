package projections_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/projections/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestMigrate_IdempotentAndConcurrent(t *testing.T) {
	pool := pgtest.New(t) // already migrated from the template
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied, err := projections.Migrate(ctx, pool)
			if err == nil && len(applied) != 0 {
				t.Errorf("re-run applied %v, want nothing", applied)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := projections.Migrations()
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || n == 0 {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(ms))
	}
}

func TestMigrate_FreshDatabase(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"); err != nil {
		t.Fatal(err)
	}
	applied, err := projections.Migrate(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := projections.Migrations()
	if len(applied) != len(ms) {
		t.Fatalf("applied %d of %d migrations", len(applied), len(ms))
	}
	for _, table := range []string{"webhooks", "processed", "event_outcomes"} {
		var ok bool
		pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok)
		if !ok {
			t.Errorf("table %s missing after migrate", table)
		}
	}
}

func TestStartLocal_RestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := projections.StartLocal(ctx, projections.LocalConfig{Dir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := projections.Open(ctx, l.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, "CREATE TABLE keep(x int); INSERT INTO keep VALUES (42)")
	pool.Close()
	l.Stop()
	if err != nil {
		t.Fatal(err)
	}
	l2, err := projections.StartLocal(ctx, projections.LocalConfig{Dir: dir, Fast: true})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer l2.Stop()
	pool2, err := projections.Open(ctx, l2.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool2.Close()
	var x int
	if err := pool2.QueryRow(ctx, "SELECT x FROM keep").Scan(&x); err != nil || x != 42 {
		t.Fatalf("after restart: x=%d err=%v", x, err)
	}
}
