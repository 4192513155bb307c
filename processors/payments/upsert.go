package payments

import (
	"context"

	"github.com/hookstream/hookstream/processors"
	paymentsdb "github.com/hookstream/hookstream/projections/payments"
)

// col is one column value of an upsert.
type col struct {
	name string
	val  any
}

// upsert is a paymentsdb.Upsert written with short literals: which columns
// are state (newest event wins) and which are fill (newest non-null wins).
type upsert struct {
	table string
	key   col
	rank  bool
	state []col // must include stripe_created and stripe_event_id (and status_rank when rank)
	fill  []col // text columns
}

// exec runs the upsert and reports whether the event's state is now the
// row's (false: a newer event was applied before) and the row's fill
// columns after it.
func (u upsert) exec(ctx context.Context, tx *processors.Tx, eventID string) (current bool, fill map[string]string, err error) {
	return paymentsdb.Upsert{Table: u.table, Key: u.key.db(), Rank: u.rank,
		State: dbCols(u.state), Fill: dbCols(u.fill)}.Exec(ctx, tx, eventID)
}

func (c col) db() paymentsdb.Col { return paymentsdb.Col{Name: c.name, Val: c.val} }

func dbCols(cs []col) []paymentsdb.Col {
	out := make([]paymentsdb.Col, len(cs))
	for i, c := range cs {
		out[i] = c.db()
	}
	return out
}
