package projections_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/projections/pgtest"
)

// emptyDB is a database of the test server with nothing in it.
func emptyDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.New(t)
	if _, err := pool.Exec(context.Background(), "DROP SCHEMA public CASCADE; CREATE SCHEMA public"); err != nil {
		t.Fatal(err)
	}
	return pool
}

// applyLegacy builds the schema the way releases before the per-package
// line did: testdata/legacy holds those files as they shipped, applied in
// name order, each recorded under its name. It stops after the file named
// last ("" for all).
func applyLegacy(t *testing.T, pool *pgxpool.Pool, last string) []string {
	t.Helper()
	ctx := context.Background()
	files, err := filepath.Glob("testdata/legacy/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("legacy files: %v %v", files, err)
	}
	sort.Strings(files)
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (
		version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v := strings.TrimSuffix(filepath.Base(f), ".sql")
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(b)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations(version) VALUES ($1)", v)
			return err
		})
		if err != nil {
			t.Fatalf("legacy %s: %v", v, err)
		}
		versions = append(versions, v)
		if v == last {
			break
		}
	}
	return versions
}

// dump describes a database's schema: tables, columns with types, defaults
// and nullability, indexes, constraints, functions, triggers, sequences.
func dump(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	queries := []string{
		`SELECT format('column %s.%s %s default=%s null=%s', table_name, column_name, data_type || '/' || udt_name,
			coalesce(column_default, '-'), is_nullable)
		FROM information_schema.columns WHERE table_schema = 'public'`,
		`SELECT format('index %s: %s', indexname, indexdef) FROM pg_indexes WHERE schemaname = 'public'`,
		`SELECT format('constraint %s.%s: %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
		FROM pg_constraint WHERE connamespace = 'public'::regnamespace`,
		`SELECT format('function %s: %s', proname, pg_get_functiondef(oid))
		FROM pg_proc WHERE pronamespace = 'public'::regnamespace`,
		`SELECT format('trigger %s: %s', tgname, pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal`,
		`SELECT format('sequence %s', sequencename) FROM pg_sequences WHERE schemaname = 'public'`,
	}
	var out []string
	for _, q := range queries {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lines...)
	}
	sort.Strings(out)
	return out
}

func appliedVersions(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func versionsOf(t *testing.T) []string {
	t.Helper()
	ms, err := projections.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	vs := make([]string, len(ms))
	for i, m := range ms {
		vs[i] = m.Version
	}
	return vs
}

// TestMigrate_SameSchemaEveryWay: a fresh database, one upgraded a
// migration at a time, and ones built with the legacy files (all of them,
// or the releases up to payments) then migrated, end with the same schema
// and the same recorded versions.
func TestMigrate_SameSchemaEveryWay(t *testing.T) {
	ctx := context.Background()
	all := versionsOf(t)

	fresh := emptyDB(t)
	if _, err := projections.Migrate(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	want := dump(t, fresh)
	if len(want) == 0 {
		t.Fatal("empty dump")
	}

	stepwise := emptyDB(t)
	for _, v := range all {
		applied, err := projections.MigrateUpTo(ctx, stepwise, v)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(applied, []string{v}) {
			t.Fatalf("step %s applied %v", v, applied)
		}
	}

	legacy := emptyDB(t)
	applyLegacy(t, legacy, "")
	applied, err := projections.Migrate(ctx, legacy)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("a database with every legacy version ran %v again", applied)
	}

	partial := emptyDB(t)
	applyLegacy(t, partial, "0030_payments")
	applied, err = projections.Migrate(ctx, partial)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0] != "20261122004000_crm_init" {
		t.Errorf("after the legacy files up to payments, applied %v, want crm onwards", applied)
	}

	for name, pool := range map[string]*pgxpool.Pool{"fresh": fresh, "stepwise": stepwise, "legacy": legacy, "partial legacy": partial} {
		if got := dump(t, pool); !slices.Equal(got, want) {
			t.Errorf("%s schema differs from a fresh one:\n%s", name, diff(want, got))
		}
		if got := appliedVersions(t, pool); !slices.Equal(got, all) {
			t.Errorf("%s schema_migrations = %v, want %v", name, got, all)
		}
	}
}

func diff(want, got []string) string {
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

// TestMigrations_OneLine: versions have the timestamped form and sort in
// the order the legacy files applied their content, and the legacy mapping
// covers every version from before the line and names only real ones.
func TestMigrations_OneLine(t *testing.T) {
	all := versionsOf(t)
	legacy := projections.LegacyVersions()
	var covered []string
	for _, news := range legacy {
		for _, n := range news {
			if !slices.Contains(all, n) {
				t.Errorf("legacy mapping names %s, which no package has", n)
			}
			covered = append(covered, n)
		}
	}
	sort.Strings(covered)
	if !slices.Equal(covered, all[:len(covered)]) {
		t.Errorf("legacy mapping covers %v, want the first %d versions %v", covered, len(covered), all[:len(covered)])
	}
	files, _ := fs.Glob(os.DirFS("testdata/legacy"), "*.sql")
	if len(files) != len(legacy) {
		t.Errorf("%d legacy files, %d mapped versions", len(files), len(legacy))
	}
	// The legacy order (by old version) must be the new order.
	olds := make([]string, 0, len(legacy))
	for o := range legacy {
		olds = append(olds, o)
	}
	sort.Strings(olds)
	var inOrder []string
	for _, o := range olds {
		inOrder = append(inOrder, legacy[o]...)
	}
	if !slices.Equal(inOrder, covered) {
		t.Errorf("legacy content in old order %v does not sort the same in the new line %v", inOrder, covered)
	}
}
