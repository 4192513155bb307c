package ledger

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// PutResult stores processor's answer for a source event (what ?wait
// returns), replacing an earlier one. body is JSON.
func PutResult(ctx context.Context, db dbtx.DB, sourceEventID, processor string, body []byte) error {
	_, err := db.Exec(ctx, `INSERT INTO results (event_id, processor, body) VALUES ($1,$2,$3)
		ON CONFLICT (event_id, processor) DO UPDATE SET body = EXCLUDED.body`, sourceEventID, processor, body)
	return err
}

// PutResults is PutResult for many source events in one statement:
// sourceEventIDs[i] is answered with the JSON text bodies[i]; a source event
// appears once.
func PutResults(ctx context.Context, db dbtx.DB, processor string, sourceEventIDs, bodies []string) error {
	_, err := db.Exec(ctx, `INSERT INTO results (event_id, processor, body)
			SELECT e, $1, b::jsonb FROM unnest($2::text[], $3::text[]) AS u(e, b)
			ON CONFLICT (event_id, processor) DO UPDATE SET body = EXCLUDED.body`, processor, sourceEventIDs, bodies)
	return err
}

// Results are the answers stored for a source event, by processor.
func Results(ctx context.Context, db dbtx.DB, sourceEventID string) (map[string][]byte, error) {
	rows, err := db.Query(ctx, `SELECT processor, body FROM results WHERE event_id=$1`, sourceEventID)
	if err != nil {
		return nil, err
	}
	type r struct {
		Proc string
		Body []byte
	}
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[r])
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(rs))
	for _, x := range rs {
		out[x.Proc] = x.Body
	}
	return out, nil
}
