package projections

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// MigrateUpTo applies the migrations up to and including version: one step
// of an upgrade made one release at a time.
func MigrateUpTo(ctx context.Context, pool *pgxpool.Pool, version string) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	n := 0
	for n < len(ms) && ms[n].Version <= version {
		n++
	}
	return apply(ctx, pool, ms[:n])
}

// LegacyVersions exposes the mapping of the old migration versions.
func LegacyVersions() map[string][]string { return legacyVersions() }
