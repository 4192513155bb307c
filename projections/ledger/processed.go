package ledger

import (
	"context"
	"fmt"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// MarkProcessed records that processor applied eventID (its stream sequence
// seq) and reports whether the row is new: false means the effect was made
// before and must not be made again. Written in the transaction of the
// effect itself, so both commit or neither does.
func MarkProcessed(ctx context.Context, db dbtx.DB, processor, eventID string, seq int64) (bool, error) {
	tag, err := db.Exec(ctx, `INSERT INTO processed (processor, event_id, stream_seq)
		VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, processor, eventID, seq)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// MarkProcessedBatch is MarkProcessed for many events in one statement
// (eventIDs[i] at sequence seqs[i]); it returns the ids whose rows are new.
// An id given twice is new at most once.
func MarkProcessedBatch(ctx context.Context, db dbtx.DB, processor string, eventIDs []string, seqs []int64) (map[string]bool, error) {
	if len(eventIDs) != len(seqs) {
		return nil, fmt.Errorf("ledger: %d event ids but %d sequences", len(eventIDs), len(seqs))
	}
	rows, err := db.Query(ctx, `INSERT INTO processed (processor, event_id, stream_seq)
			SELECT $1, e, s FROM unnest($2::text[], $3::bigint[]) AS u(e, s)
			ON CONFLICT DO NOTHING RETURNING event_id`, processor, eventIDs, seqs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	inserted := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		inserted[id] = true
	}
	return inserted, rows.Err()
}

// Processed reports whether the ledger holds (processor, eventID).
func Processed(ctx context.Context, db dbtx.DB, processor, eventID string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM processed WHERE processor=$1 AND event_id=$2)`,
		processor, eventID).Scan(&ok)
	return ok, err
}
