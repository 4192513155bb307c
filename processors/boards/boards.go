// Package boards is the boards processor: it evaluates each workspace's
// board rules on every contact event (first match by priority), assigns the
// contact to that board, records the assignment and emits
// events.board.assigned.
package boards

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	"github.com/hookstream/hookstream/streams"
)

// Name is the processor's and its durable consumer's name.
const Name = "boards"

// Result is what boards adds to the ?wait answer.
type Result struct {
	RuleApplied bool   `json:"rule_applied"`
	BoardID     string `json:"board_id,omitempty"`
	BoardName   string `json:"board_name,omitempty"`
	RuleID      string `json:"rule_id,omitempty"`
}

// New builds the boards processor.
func New(store *processors.Store) processors.Processor {
	rules := &Store{DB: store.DB}
	h := func(ctx context.Context, m *processors.Message) error {
		var ev events.ContactChanged
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Contact.ID == "" {
			return processors.Reject(err)
		}
		return store.Apply(ctx, Name, m, func(ctx context.Context, tx *processors.Tx) error {
			rs, err := rules.Rules(ctx, tx, ev.Contact.WorkspaceID)
			if err != nil {
				return err
			}
			r := FirstMatch(rs, &ev)
			res := Result{}
			var boardID, boardName, ruleID any
			if r != nil {
				res = Result{RuleApplied: true, BoardID: r.BoardID, BoardName: r.BoardName, RuleID: r.ID}
				boardID, boardName, ruleID = r.BoardID, r.BoardName, r.ID
				if _, err := tx.Exec(ctx, `UPDATE contacts SET board_id=$2, board_name=$3 WHERE id=$1`,
					ev.Contact.ID, r.BoardID, r.BoardName); err != nil {
					return err
				}
			}
			at := ev.ReceivedAt
			if at.IsZero() {
				at = time.Now().UTC()
			}
			if _, err := tx.Exec(ctx, `INSERT INTO board_assignments (event_id, source_event_id, contact_id,
				workspace_id, board_id, board_name, rule_id, assigned_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
				m.EventID, ev.SourceEventID, ev.Contact.ID, ev.Contact.WorkspaceID, boardID, boardName, ruleID, at); err != nil {
				return err
			}
			if r != nil {
				ct := ev.Contact
				ct.BoardID, ct.BoardName = r.BoardID, r.BoardName
				if err := tx.Emit(ctx, streams.SubjectBoardAssigned, "board:"+ev.SourceEventID, events.BoardAssigned{
					Origin: ev.Origin, ContactID: ev.Contact.ID, BoardID: r.BoardID, BoardName: r.BoardName,
					RuleID: r.ID, Contact: ct}); err != nil {
					return err
				}
			}
			m.SetOutcome("", res)
			return tx.Result(ctx, res)
		})
	}
	return processors.Processor{
		Name:     Name,
		Stream:   streams.StreamEvents,
		Subjects: []string{"events.contact.>"},
		Handler:  h,
		OrderKeys: func(m *processors.Message) []string {
			var ev struct {
				Contact struct {
					ID string `json:"id"`
				} `json:"contact"`
			}
			if json.Unmarshal(m.Data, &ev) != nil || ev.Contact.ID == "" {
				return nil
			}
			return []string{ev.Contact.ID}
		},
		Concurrency: 16,
		MaxDeliver:  10,
	}
}
