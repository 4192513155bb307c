// Package boards is the boards projection: sales boards, the rules that
// route contacts to them and the assignments made.
package boards

import "github.com/hookstream/hookstream/projections/schema"

// Spec describes the boards projection's tables.
func Spec() schema.Spec {
	return schema.Spec{
		Name:       "boards",
		Processor:  "boards",
		Migrations: migrations(),
		Rebuild:    []string{"board_assignments"},
		// Boards writes its result onto the contact as well.
		Undo: []schema.Statement{{Table: "contacts", SQL: `UPDATE contacts SET board_id = NULL, board_name = NULL
			WHERE board_id IS NOT NULL OR board_name IS NOT NULL`}},
		Config: []string{"boards", "board_rules"},
		NotPersonal: map[string]string{
			"boards":                       "configuration",
			"boards.name":                  "a board's name",
			"board_rules":                  "configuration",
			"board_assignments":            "ids of the contact, event, board and rule",
			"board_assignments.board_name": "a board's name",
		},
	}
}
