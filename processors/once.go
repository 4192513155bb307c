package processors

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/projections/ledger"
)

// ErrAlreadyProcessed reports that the processed ledger already holds this
// (processor, event id): the effect exists, nothing was done again.
var ErrAlreadyProcessed = errors.New("processors: event already processed")

// Once runs fn in a transaction together with the processed-ledger row for
// (processor, m.EventID); both commit or neither does. If the row already
// exists, fn does not run and ErrAlreadyProcessed is returned — this is what
// makes redelivery and replay a no-op in Postgres.
//
// db is a pool, or a transaction (the shared one of a Batched run): the work
// then runs in a savepoint, undone alone when it fails.
func Once(ctx context.Context, db Beginner, processor string, m *Message, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return onceIn(ctx, tx, processor, m, fn) })
}

// onceIn is Once's work inside tx itself (no transaction or savepoint of its
// own): the caller undoes it if it fails.
func onceIn(ctx context.Context, tx pgx.Tx, processor string, m *Message, fn func(tx pgx.Tx) error) error {
	fresh, err := ledger.MarkProcessed(ctx, tx, processor, m.EventID, int64(m.StreamSeq))
	if err != nil {
		return err
	}
	if !fresh {
		return ErrAlreadyProcessed
	}
	return fn(tx)
}

// Beginner starts a transaction: a pool, or a transaction (a savepoint).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Processed reports whether the ledger holds (processor, eventID).
func Processed(ctx context.Context, db *pgxpool.Pool, processor, eventID string) (bool, error) {
	return ledger.Processed(ctx, db, processor, eventID)
}
