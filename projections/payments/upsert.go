package payments

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// Col is one column value of an upsert.
type Col struct {
	Name string
	Val  any
}

// Upsert writes one Stripe object's row (payments, disputes, invoices,
// subscriptions) keeping its newest state: State columns take the values of
// the newest event (by stripe_created, then status_rank when Rank, then
// stripe_event_id); Fill columns keep the newest non-null value, whatever
// the order events arrive in. Table and column names are the caller's
// constants, never input.
type Upsert struct {
	Table string
	Key   Col
	Rank  bool
	State []Col // must include stripe_created and stripe_event_id (and status_rank when Rank)
	Fill  []Col // text columns; "" is stored as NULL
}

// Exec runs the upsert in one statement and reports whether the event's
// state is now the row's (false: a newer event was applied before) and the
// row's fill columns after it.
func (u Upsert) Exec(ctx context.Context, db dbtx.DB, eventID string) (current bool, fill map[string]string, err error) {
	names := []string{u.Key.Name}
	args := []any{u.Key.Val}
	for _, c := range u.State {
		names = append(names, c.Name)
		args = append(args, c.Val)
	}
	for _, c := range u.Fill {
		names = append(names, c.Name)
		args = append(args, Nullable(c.Val))
	}
	ph := make([]string, len(names))
	for i := range ph {
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	newer := "(EXCLUDED.stripe_created, EXCLUDED.stripe_event_id) > (o.stripe_created, o.stripe_event_id)"
	if u.Rank {
		newer = "(EXCLUDED.stripe_created, EXCLUDED.status_rank, EXCLUDED.stripe_event_id) > (o.stripe_created, o.status_rank, o.stripe_event_id)"
	}
	var set []string
	for _, c := range u.State {
		set = append(set, fmt.Sprintf("%[1]s = CASE WHEN %[2]s THEN EXCLUDED.%[1]s ELSE o.%[1]s END", c.Name, newer))
	}
	ret := []string{fmt.Sprintf("o.stripe_event_id = $%d", len(args)+1)}
	for _, c := range u.Fill {
		set = append(set, fmt.Sprintf("%[1]s = CASE WHEN %[2]s THEN COALESCE(EXCLUDED.%[1]s, o.%[1]s) ELSE COALESCE(o.%[1]s, EXCLUDED.%[1]s) END", c.Name, newer))
		ret = append(ret, "COALESCE(o."+c.Name+", '')")
	}
	set = append(set, "updated_at = now()")
	args = append(args, eventID)
	q := fmt.Sprintf("INSERT INTO %s AS o (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s RETURNING %s",
		u.Table, strings.Join(names, ", "), strings.Join(ph, ", "), u.Key.Name, strings.Join(set, ", "), strings.Join(ret, ", "))
	dest := make([]any, 1+len(u.Fill))
	dest[0] = &current
	vals := make([]string, len(u.Fill))
	for i := range vals {
		dest[i+1] = &vals[i]
	}
	if err := db.QueryRow(ctx, q, args...).Scan(dest...); err != nil {
		return false, nil, fmt.Errorf("upsert %s: %w", u.Table, err)
	}
	fill = make(map[string]string, len(u.Fill))
	for i, c := range u.Fill {
		fill[c.Name] = vals[i]
	}
	return current, fill, nil
}

// Nullable turns "" into NULL.
func Nullable(v any) any {
	if s, ok := v.(string); ok && s == "" {
		return nil
	}
	return v
}
