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

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/events"
	boardsdb "github.com/hookstream/hookstream/projections/boards"
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
			// During a rebuild the EVENTS stream can be ahead of the contacts
			// projection: retry until the contact is back.
			if ok, err := boardsdb.ContactProjected(ctx, tx, ev.Contact.ID); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("contact %s is not projected yet", ev.Contact.ID)
			}
			rs, err := rules.Rules(ctx, tx, ev.Contact.WorkspaceID)
			if err != nil {
				return err
			}
			r := FirstMatch(rs, &ev)
			res = Result{}
			a := &boardsdb.Assignment{EventID: m.EventID, SourceEventID: ev.SourceEventID, ContactID: ev.Contact.ID,
				WorkspaceID: ev.Contact.WorkspaceID, AssignedAt: ev.ReceivedAt}
			if r != nil {
				res = Result{RuleApplied: true, BoardID: r.BoardID, BoardName: r.BoardName, RuleID: r.ID}
				a.BoardID, a.BoardName, a.RuleID = r.BoardID, r.BoardName, r.ID
			}
			if a.AssignedAt.IsZero() {
				a.AssignedAt = time.Now().UTC()
			}
			if err := boardsdb.InsertAssignment(ctx, tx, a); err != nil {
				return err
			}
			if r == nil {
				return tx.Result(ctx, res)
			}
			current, err := boardsdb.SetContactBoard(ctx, tx, ev.Contact.ID)
			if err != nil {
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
