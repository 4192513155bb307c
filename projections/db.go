// Package projections is Hookstream's Postgres side: the connection pool,
// the migration engine that applies every projection package's migrations
// in one ordered line, the list of those packages' specs (Specs), and the
// private PostgreSQL cluster used when DATABASE_URL is unset. Each
// projection's tables, migrations, spec and queries live in its own
// package below this one (contacts, boards, payments, …).
package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects a pool and checks the server answers.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("projections: parse DATABASE_URL: %w", err)
	}
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("projections: connect: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("projections: ping: %w", err)
	}
	return pool, nil
}
