// Package boards holds the boards projection's queries: boards, board_rules
// and board_assignments, and the board columns it keeps on contacts.
package boards

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// ErrNotFound is returned for a missing board or rule.
var ErrNotFound = errors.New("not found")

// Board is a sales board (a boards row).
type Board struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	Name        string `json:"name"`
}

// Rule is a board_rules row with its board's name. Conditions is the
// stored JSON; the boards processor decodes and evaluates it.
type Rule struct {
	ID          string
	WorkspaceID string
	BoardID     string
	BoardName   string
	Priority    int
	Conditions  []byte
	Active      bool
}

// InsertBoard stores a board; names are unique per workspace.
func InsertBoard(ctx context.Context, db dbtx.DB, b *Board) error {
	if _, err := db.Exec(ctx, `INSERT INTO boards (id, workspace_id, name) VALUES ($1,$2,$3)`,
		b.ID, b.WorkspaceID, b.Name); err != nil {
		return fmt.Errorf("create board: %w", err)
	}
	return nil
}

// Boards lists a workspace's boards by name.
func Boards(ctx context.Context, db dbtx.DB, workspace string) ([]*Board, error) {
	rows, err := db.Query(ctx, `SELECT id, workspace_id, name FROM boards WHERE workspace_id=$1 ORDER BY name`, workspace)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToAddrOfStructByPos[Board])
}

// BoardByName finds a board by name.
func BoardByName(ctx context.Context, db dbtx.DB, workspace, name string) (*Board, error) {
	var b Board
	err := db.QueryRow(ctx, `SELECT id, workspace_id, name FROM boards WHERE workspace_id=$1 AND name=$2`,
		workspace, name).Scan(&b.ID, &b.WorkspaceID, &b.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("board %q in workspace %q: %w", name, workspace, ErrNotFound)
	}
	return &b, err
}

// InsertRule stores a rule (active).
func InsertRule(ctx context.Context, db dbtx.DB, r *Rule) error {
	if _, err := db.Exec(ctx, `INSERT INTO board_rules (id, workspace_id, board_id, priority, conditions)
		VALUES ($1,$2,$3,$4,$5)`, r.ID, r.WorkspaceID, r.BoardID, r.Priority, r.Conditions); err != nil {
		return fmt.Errorf("add rule: %w", err)
	}
	return nil
}

// Rules lists a workspace's rules in evaluation order: priority, then age.
func Rules(ctx context.Context, db dbtx.DB, workspace string) ([]Rule, error) {
	rows, err := db.Query(ctx, `SELECT r.id, r.workspace_id, r.board_id, b.name, r.priority, r.conditions, r.active
		FROM board_rules r JOIN boards b ON b.id = r.board_id
		WHERE r.workspace_id=$1 ORDER BY r.priority, r.created_at, r.id`, workspace)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Rule])
}

// DeleteRule deletes a rule.
func DeleteRule(ctx context.Context, db dbtx.DB, id string) error {
	tag, err := db.Exec(ctx, `DELETE FROM board_rules WHERE id=$1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("rule %s: %w", id, ErrNotFound)
	}
	return err
}

// ContactProjected reports whether the contact's row exists. It takes no
// row lock: an evaluation that assigns nothing does not touch the contact,
// and a lock held for a whole batch would make the contacts processor wait.
func ContactProjected(ctx context.Context, db dbtx.DB, contactID string) (bool, error) {
	var one int
	err := db.QueryRow(ctx, `SELECT 1 FROM contacts WHERE id=$1`, contactID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Assignment is one rule evaluation of a contact event (a board_assignments
// row); BoardID, BoardName and RuleID are empty when no rule matched.
type Assignment struct {
	EventID, SourceEventID, ContactID, WorkspaceID string
	BoardID, BoardName, RuleID                     string
	AssignedAt                                     time.Time
}

// InsertAssignment records an evaluation.
func InsertAssignment(ctx context.Context, db dbtx.DB, a *Assignment) error {
	_, err := db.Exec(ctx, `INSERT INTO board_assignments (event_id, source_event_id, contact_id,
		workspace_id, board_id, board_name, rule_id, assigned_at)
		VALUES ($1,$2,$3,$4,NULLIF($5,''),NULLIF($6,''),NULLIF($7,''),$8)`,
		a.EventID, a.SourceEventID, a.ContactID, a.WorkspaceID, a.BoardID, a.BoardName, a.RuleID, a.AssignedAt)
	return err
}

// SetContactBoard makes the contact's board (contacts.board_id/board_name)
// that of its latest matching evaluation by source event arrival, not by
// processing order: a retried or late event cannot overwrite a newer
// assignment, and a replay ends with the same board. It returns the source
// event of that evaluation.
//
// The columns live on contacts but are written only here: they are the
// boards projection's, and its rebuild clears them.
func SetContactBoard(ctx context.Context, db dbtx.DB, contactID string) (sourceEventID string, err error) {
	// Serialize with other evaluations of this contact (another process):
	// once the lock is ours, the UPDATE's snapshot sees every assignment
	// committed before.
	if _, err := db.Exec(ctx, `SELECT 1 FROM contacts WHERE id=$1 FOR NO KEY UPDATE`, contactID); err != nil {
		return "", err
	}
	err = db.QueryRow(ctx, `UPDATE contacts c SET board_id=a.board_id, board_name=a.board_name
		FROM (SELECT board_id, board_name, source_event_id FROM board_assignments
			WHERE contact_id=$1 AND board_id IS NOT NULL
			ORDER BY assigned_at DESC, source_event_id DESC LIMIT 1) a
		WHERE c.id=$1 RETURNING a.source_event_id`, contactID).Scan(&sourceEventID)
	return sourceEventID, err
}
