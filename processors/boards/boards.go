// Package boards is the boards processor: it evaluates each workspace's
// board rules on every contact event (first match by priority) and records
// the evaluation in board_assignments. A contact's board
// (contacts.board_id/board_name) is the one of its latest matching
// evaluation, latest by the source event's arrival (received_at, then
// source event id), so a late or retried event never overwrites a newer
// assignment and a replay ends with the same boards. events.board.assigned
// is emitted when an evaluation becomes the contact's current board; an
// evaluation that matches no rule leaves the board as it is. An event whose
// contact is not projected yet (a rebuild running ahead) is retried.
package boards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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

// Config configures the boards processor; it has no settings yet.
type Config struct{}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{} }

// Validate checks the configuration.
func (c Config) Validate() error { return nil }

// Boards is the boards processor.
type Boards struct{ p processors.Processor }

// Processors is its one consumer (boards on EVENTS).
func (b *Boards) Processors() []processors.Processor { return []processors.Processor{b.p} }

// New builds the boards processor.
func New(deps processors.Deps, cfg Config) (*Boards, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	store := deps.Store()
	rules := &Store{DB: store.DB}
	h := func(ctx context.Context, m *processors.Message) error {
		var ev events.ContactChanged
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return processors.Reject(fmt.Errorf("contact event is not valid JSON: %w", err))
		}
		if ev.Contact.ID == "" || ev.Contact.WorkspaceID == "" {
			return processors.Reject(errors.New("contact event without contact.id or contact.workspace_id"))
		}
		var res Result
		err := store.Apply(ctx, Name, m, func(ctx context.Context, tx *processors.Tx) error {
			// Lock the contact: assignments of one contact are applied one
			// at a time, whichever runner handles them.
			var one int
			// No row lock yet: an evaluation that assigns nothing does not
			// touch the contact, and a lock held for a whole batch would
			// make the contacts processor wait.
			err := tx.QueryRow(ctx, `SELECT 1 FROM contacts WHERE id=$1`, ev.Contact.ID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				// During a rebuild the EVENTS stream can be ahead of the
				// contacts projection: retry until the contact is back.
				return fmt.Errorf("contact %s is not projected yet", ev.Contact.ID)
			}
			if err != nil {
				return err
			}
			rs, err := rules.Rules(ctx, tx, ev.Contact.WorkspaceID)
			if err != nil {
				return err
			}
			r := FirstMatch(rs, &ev)
			res = Result{}
			var boardID, boardName, ruleID any
			if r != nil {
				res = Result{RuleApplied: true, BoardID: r.BoardID, BoardName: r.BoardName, RuleID: r.ID}
				boardID, boardName, ruleID = r.BoardID, r.BoardName, r.ID
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
			if r == nil {
				return tx.Result(ctx, res)
			}
			// The contact's board is that of its latest matching evaluation
			// by source event arrival, not by processing order: a retried
			// or late event cannot overwrite a newer assignment, and a
			// replay ends with the same board.
			// Serialize with other evaluations of this contact (another
			// process): once the lock is ours, the UPDATE's snapshot sees
			// every assignment committed before.
			if _, err := tx.Exec(ctx, `SELECT 1 FROM contacts WHERE id=$1 FOR NO KEY UPDATE`, ev.Contact.ID); err != nil {
				return err
			}
			var current string
			if err := tx.QueryRow(ctx, `UPDATE contacts c SET board_id=a.board_id, board_name=a.board_name
				FROM (SELECT board_id, board_name, source_event_id FROM board_assignments
					WHERE contact_id=$1 AND board_id IS NOT NULL
					ORDER BY assigned_at DESC, source_event_id DESC LIMIT 1) a
				WHERE c.id=$1 RETURNING a.source_event_id`, ev.Contact.ID).Scan(&current); err != nil {
				return err
			}
			if current == ev.SourceEventID {
				ct := ev.Contact
				ct.BoardID, ct.BoardName = r.BoardID, r.BoardName
				if err := tx.Emit(ctx, streams.SubjectBoardAssigned, "board:"+ev.SourceEventID, events.BoardAssigned{
					Origin: ev.Origin, ContactID: ev.Contact.ID, BoardID: r.BoardID, BoardName: r.BoardName,
					RuleID: r.ID, Contact: ct}); err != nil {
					return err
				}
			}
			return tx.Result(ctx, res)
		})
		if err == nil {
			m.SetOutcome("", res)
		}
		return err
	}
	return &Boards{p: processors.Processor{
		Name:     Name,
		Stream:   streams.StreamEvents,
		Subjects: []string{"events.contact.>"},
		Handler:  h,
		// Its database work is all in Apply: batches share a transaction.
		Batch: store.Batched(h),
		// Small batches: the contact rows a batch locks stay locked until
		// it commits.
		// No BatchLinger: ?wait answers carry the board.
		BatchSize: 64,
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
		MaxDeliver:  20,
	}}, nil
}
