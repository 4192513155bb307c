package projections

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/projections/schema"
)

// Every projection package embeds its own migrations, named
// YYYYMMDDhhmmss_name.sql by when they were written, so the versions of all
// packages sort into one line; Migrate applies that line in version order,
// each step in its own transaction, once. A new step takes the current UTC
// time: it then sorts after everything that exists.

// migrateLockKey serialises concurrent migrators (several processes starting
// at once) with a session advisory lock.
const migrateLockKey = 7_310_001

// Migrations lists every projection's migrations in the order they apply.
func Migrations() ([]schema.Migration, error) {
	return gather(Specs())
}

func gather(specs []schema.Spec) ([]schema.Migration, error) {
	owner := map[string]string{}
	var out []schema.Migration
	for _, s := range specs {
		ms, err := schema.ReadMigrations(s.Migrations)
		if err != nil {
			return nil, fmt.Errorf("projections: %s: %w", s.Name, err)
		}
		for _, m := range ms {
			if o, dup := owner[m.Version]; dup {
				return nil, fmt.Errorf("projections: migration %s is in both %s and %s", m.Version, o, s.Name)
			}
			owner[m.Version] = s.Name
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Migrate applies every migration not yet applied and returns the versions
// it applied. Safe to run concurrently and on every start.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	return apply(ctx, pool, ms)
}

func apply(ctx context.Context, pool *pgxpool.Pool, ms []schema.Migration) ([]string, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("projections: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return nil, fmt.Errorf("projections: migrate lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("projections: migrate: %w", err)
	}
	done, err := appliedVersions(ctx, conn.Conn())
	if err != nil {
		return nil, err
	}
	if err := adoptLegacy(ctx, conn.Conn(), done); err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations(version) VALUES ($1)", m.Version)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("projections: migration %s: %w", m.Version, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

func appliedVersions(ctx context.Context, conn *pgx.Conn) (map[string]bool, error) {
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("projections: migrate: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("projections: migrate: %w", err)
	}
	done := make(map[string]bool, len(vs))
	for _, v := range vs {
		done[v] = true
	}
	return done, nil
}

// adoptLegacy replaces the rows of versions from before the per-package
// line with the versions that now hold their content (keeping when they
// were applied), in one transaction, and marks those done.
func adoptLegacy(ctx context.Context, conn *pgx.Conn, done map[string]bool) error {
	legacy := legacyVersions()
	var old []string
	for v := range done {
		if _, ok := legacy[v]; ok {
			old = append(old, v)
		}
	}
	if len(old) == 0 {
		return nil
	}
	sort.Strings(old)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, v := range old {
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at)
				SELECT n, applied_at FROM schema_migrations, unnest($2::text[]) AS n WHERE version = $1
				ON CONFLICT (version) DO NOTHING`, v, legacy[v]); err != nil {
				return fmt.Errorf("projections: adopt migration %s: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, v); err != nil {
				return fmt.Errorf("projections: adopt migration %s: %w", v, err)
			}
			for _, n := range legacy[v] {
				done[n] = true
			}
		}
		return nil
	})
}
