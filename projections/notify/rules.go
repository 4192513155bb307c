// Package notify holds the notification projection's queries: notify_rules
// (configuration) and notifications (one row per message to a channel and
// recipient, with its delivery state).
package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// Rule is a notify_rules row. Empty texts are stored as NULL; EmailTo and
// SMSTo are comma-separated lists.
type Rule struct {
	ID, WorkspaceID, Event string
	Channels               []string
	Board, Product         string
	MinAmount              *int64 // minor units
	Currency               string
	HighPriority           bool
	EmailTo, SMSTo         string
	Active                 bool
	CreatedAt              time.Time
}

const ruleCols = `id, workspace_id, event, channels, COALESCE(board,''), COALESCE(product,''), min_amount,
	COALESCE(currency,''), high_priority, COALESCE(email_to,''), COALESCE(sms_to,''), active, created_at`

// Rules lists a workspace's rules (active or not) by age.
func Rules(ctx context.Context, db dbtx.DB, workspace string) ([]Rule, error) {
	rows, err := db.Query(ctx, `SELECT `+ruleCols+` FROM notify_rules WHERE workspace_id=$1 ORDER BY created_at, id`, workspace)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Rule])
}

// InsertRule stores an active rule and returns it as stored.
func InsertRule(ctx context.Context, db dbtx.DB, r *Rule) (*Rule, error) {
	rows, err := db.Query(ctx, `INSERT INTO notify_rules (id, workspace_id, event, channels, board, product, min_amount,
		currency, high_priority, email_to, sms_to) VALUES ($1,$2,$3,$4,NULLIF($5,''),NULLIF($6,''),$7,NULLIF($8,''),$9,
		NULLIF($10,''),NULLIF($11,'')) RETURNING `+ruleCols,
		r.ID, r.WorkspaceID, r.Event, r.Channels, r.Board, r.Product, r.MinAmount, r.Currency, r.HighPriority,
		r.EmailTo, r.SMSTo)
	if err != nil {
		return nil, err
	}
	return pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByPos[Rule])
}

// DeleteRule deletes a rule.
func DeleteRule(ctx context.Context, db dbtx.DB, id string) error {
	tag, err := db.Exec(ctx, `DELETE FROM notify_rules WHERE id=$1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("no notification rule %q", id)
	}
	return nil
}
