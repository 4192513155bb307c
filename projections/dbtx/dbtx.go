// Package dbtx names what a projection's queries run on. A pool, a
// connection and a transaction (pgx.Tx, or the runner's *processors.Tx that
// embeds one) all satisfy DB, so the same statement runs inside the runner's
// transaction or on its own.
package dbtx

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is the part of pgx that queries use.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}
