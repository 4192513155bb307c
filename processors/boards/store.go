package boards

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Board is a sales board.
type Board struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	Name        string `json:"name"`
}

// Store manages boards and rules.
type Store struct{ DB *pgxpool.Pool }

// ErrNotFound is returned for a missing board or rule.
var ErrNotFound = errors.New("not found")

func newID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// CreateBoard creates a board (names are unique per workspace).
func (s *Store) CreateBoard(ctx context.Context, workspace, name string) (*Board, error) {
	if workspace == "" || name == "" {
		return nil, errors.New("workspace and name are required")
	}
	b := &Board{ID: newID("bd_"), WorkspaceID: workspace, Name: name}
	_, err := s.DB.Exec(ctx, `INSERT INTO boards (id, workspace_id, name) VALUES ($1,$2,$3)`, b.ID, workspace, name)
	if err != nil {
		return nil, fmt.Errorf("create board: %w", err)
	}
	return b, nil
}

// Boards lists a workspace's boards.
func (s *Store) Boards(ctx context.Context, workspace string) ([]*Board, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, workspace_id, name FROM boards WHERE workspace_id=$1 ORDER BY name`, workspace)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToAddrOfStructByPos[Board])
}

// BoardByName finds a board by name.
func (s *Store) BoardByName(ctx context.Context, workspace, name string) (*Board, error) {
	var b Board
	err := s.DB.QueryRow(ctx, `SELECT id, workspace_id, name FROM boards WHERE workspace_id=$1 AND name=$2`,
		workspace, name).Scan(&b.ID, &b.WorkspaceID, &b.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("board %q in workspace %q: %w", name, workspace, ErrNotFound)
	}
	return &b, err
}

// AddRule stores a rule after validating its conditions.
func (s *Store) AddRule(ctx context.Context, r *Rule) (*Rule, error) {
	for _, c := range r.Conditions {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	if r.Conditions == nil {
		r.Conditions = []Condition{}
	}
	r.ID, r.Active = newID("rl_"), true
	conds, _ := json.Marshal(r.Conditions)
	_, err := s.DB.Exec(ctx, `INSERT INTO board_rules (id, workspace_id, board_id, priority, conditions)
		VALUES ($1,$2,$3,$4,$5)`, r.ID, r.WorkspaceID, r.BoardID, r.Priority, conds)
	if err != nil {
		return nil, fmt.Errorf("add rule: %w", err)
	}
	return r, nil
}

// Rules lists a workspace's rules in evaluation order.
func (s *Store) Rules(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, workspace string) ([]*Rule, error) {
	if q == nil {
		q = s.DB
	}
	rows, err := q.Query(ctx, `SELECT r.id, r.workspace_id, r.board_id, b.name, r.priority, r.conditions, r.active
		FROM board_rules r JOIN boards b ON b.id = r.board_id
		WHERE r.workspace_id=$1 ORDER BY r.priority, r.created_at, r.id`, workspace)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Rule
	for rows.Next() {
		var r Rule
		var conds []byte
		if err := rows.Scan(&r.ID, &r.WorkspaceID, &r.BoardID, &r.BoardName, &r.Priority, &conds, &r.Active); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(conds, &r.Conditions); err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// RemoveRule deletes a rule.
func (s *Store) RemoveRule(ctx context.Context, id string) error {
	tag, err := s.DB.Exec(ctx, `DELETE FROM board_rules WHERE id=$1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("rule %s: %w", id, ErrNotFound)
	}
	return err
}
