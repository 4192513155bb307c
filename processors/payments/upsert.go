package payments

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookstream/hookstream/processors"
)

// col is one column value of an upsert.
type col struct {
	name string
	val  any
}

// upsert writes one Stripe object's row keeping its newest state: state
// columns take the values of the newest event (by stripe_created, then
// status_rank when the table has it, then stripe_event_id); fill columns
// keep the newest non-null value, whatever the order events arrive in.
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
	names := []string{u.key.name}
	args := []any{u.key.val}
	for _, c := range u.state {
		names = append(names, c.name)
		args = append(args, c.val)
	}
	for _, c := range u.fill {
		names = append(names, c.name)
		args = append(args, nullable(c.val))
	}
	ph := make([]string, len(names))
	for i := range ph {
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	newer := "(EXCLUDED.stripe_created, EXCLUDED.stripe_event_id) > (o.stripe_created, o.stripe_event_id)"
	if u.rank {
		newer = "(EXCLUDED.stripe_created, EXCLUDED.status_rank, EXCLUDED.stripe_event_id) > (o.stripe_created, o.status_rank, o.stripe_event_id)"
	}
	var set []string
	for _, c := range u.state {
		set = append(set, fmt.Sprintf("%[1]s = CASE WHEN %[2]s THEN EXCLUDED.%[1]s ELSE o.%[1]s END", c.name, newer))
	}
	ret := []string{fmt.Sprintf("o.stripe_event_id = $%d", len(args)+1)}
	for _, c := range u.fill {
		set = append(set, fmt.Sprintf("%[1]s = CASE WHEN %[2]s THEN COALESCE(EXCLUDED.%[1]s, o.%[1]s) ELSE COALESCE(o.%[1]s, EXCLUDED.%[1]s) END", c.name, newer))
		ret = append(ret, "COALESCE(o."+c.name+", '')")
	}
	set = append(set, "updated_at = now()")
	args = append(args, eventID)
	q := fmt.Sprintf("INSERT INTO %s AS o (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s RETURNING %s",
		u.table, strings.Join(names, ", "), strings.Join(ph, ", "), u.key.name, strings.Join(set, ", "), strings.Join(ret, ", "))
	dest := make([]any, 1+len(u.fill))
	dest[0] = &current
	vals := make([]string, len(u.fill))
	for i := range vals {
		dest[i+1] = &vals[i]
	}
	if err := tx.QueryRow(ctx, q, args...).Scan(dest...); err != nil {
		return false, nil, fmt.Errorf("upsert %s: %w", u.table, err)
	}
	fill = make(map[string]string, len(u.fill))
	for i, c := range u.fill {
		fill[c.name] = vals[i]
	}
	return current, fill, nil
}

// nullable turns "" into NULL.
func nullable(v any) any {
	if s, ok := v.(string); ok && s == "" {
		return nil
	}
	return v
}
