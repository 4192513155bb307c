package boards

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	boardsdb "github.com/hookstream/hookstream/projections/boards"
	"github.com/hookstream/hookstream/projections/dbtx"
)

// Board is a sales board.
type Board = boardsdb.Board

// Store manages boards and rules.
type Store struct{ DB *pgxpool.Pool }

// ErrNotFound is returned for a missing board or rule.
var ErrNotFound = boardsdb.ErrNotFound

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
	if err := boardsdb.InsertBoard(ctx, s.DB, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Boards lists a workspace's boards.
func (s *Store) Boards(ctx context.Context, workspace string) ([]*Board, error) {
	return boardsdb.Boards(ctx, s.DB, workspace)
}

// BoardByName finds a board by name.
func (s *Store) BoardByName(ctx context.Context, workspace, name string) (*Board, error) {
	return boardsdb.BoardByName(ctx, s.DB, workspace, name)
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
	err := boardsdb.InsertRule(ctx, s.DB, &boardsdb.Rule{ID: r.ID, WorkspaceID: r.WorkspaceID, BoardID: r.BoardID,
		Priority: r.Priority, Conditions: conds})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Rules lists a workspace's rules in evaluation order; q is the transaction
// to read in (nil: the store's pool).
func (s *Store) Rules(ctx context.Context, q dbtx.DB, workspace string) ([]*Rule, error) {
	if q == nil {
		q = s.DB
	}
	rows, err := boardsdb.Rules(ctx, q, workspace)
	if err != nil {
		return nil, err
	}
	out := make([]*Rule, 0, len(rows))
	for _, row := range rows {
		r := &Rule{ID: row.ID, WorkspaceID: row.WorkspaceID, BoardID: row.BoardID, BoardName: row.BoardName,
			Priority: row.Priority, Active: row.Active}
		if err := json.Unmarshal(row.Conditions, &r.Conditions); err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// RemoveRule deletes a rule.
func (s *Store) RemoveRule(ctx context.Context, id string) error {
	return boardsdb.DeleteRule(ctx, s.DB, id)
}
