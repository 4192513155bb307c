package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/hookstream/hookstream/processors/boards"
)

// multiFlag collects repeated --match field=value.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

const boardsUsage = `boards <create|list|rules> [flags]

  create --workspace W --name "New Leads" [--json]
  list --workspace W [--json]
  rules add --workspace W --board "New Leads" --match product="Bath Remodel" [--match lead_status=new]
            [--rule-file FILE] [--priority N] [--json]
  rules list --workspace W [--json]
  rules remove RULE_ID`

func runBoards(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verb, args, err := splitVerb(args, boardsUsage, stdout, stderr, "rules")
	if err != nil {
		return err
	}
	var s settings
	var asJSON bool
	var workspace, name, board, ruleFile string
	var priority int
	var matches multiFlag
	fs := newFlags("boards "+verb, boardsUsage, stderr)
	s.dbFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.StringVar(&workspace, "workspace", "", "workspace id")
	switch verb {
	case "create":
		fs.StringVar(&name, "name", "", "board name")
	case "list", "rules list", "rules remove":
	case "rules add":
		fs.StringVar(&board, "board", "", "board name")
		fs.Var(&matches, "match", "field=value equality condition (repeatable)")
		fs.StringVar(&ruleFile, "rule-file", "", `JSON file with conditions: [{"field":"score","op":"gte","value":60}, …]`)
		fs.IntVar(&priority, "priority", 100, "lower runs first")
	default:
		fmt.Fprintf(stderr, "hookstream boards: unknown verb %q\nUsage: hookstream %s\n", verb, boardsUsage)
		return errUsage
	}
	id, err := parseWithID(fs, args, stdout)
	if err != nil {
		return err
	}
	if verb != "rules remove" && workspace == "" {
		return errors.New("--workspace is required")
	}
	a, err := openDBOnly(ctx, s)
	if err != nil {
		return err
	}
	defer a.close()
	st := &boards.Store{DB: a.pool}
	switch verb {
	case "create":
		b, err := st.CreateBoard(ctx, workspace, name)
		if err != nil {
			return err
		}
		return show(stdout, asJSON, b, fmt.Sprintf("created board %s %q\n", b.ID, b.Name))
	case "list":
		bs, err := st.Boards(ctx, workspace)
		if err != nil {
			return err
		}
		if asJSON {
			if bs == nil {
				bs = []*boards.Board{}
			}
			return printJSON(stdout, bs)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME")
		for _, b := range bs {
			fmt.Fprintf(tw, "%s\t%s\n", b.ID, b.Name)
		}
		return tw.Flush()
	case "rules add":
		b, err := st.BoardByName(ctx, workspace, board)
		if err != nil {
			return err
		}
		conds, err := conditions(matches, ruleFile)
		if err != nil {
			return err
		}
		r, err := st.AddRule(ctx, &boards.Rule{WorkspaceID: workspace, BoardID: b.ID, BoardName: b.Name, Priority: priority, Conditions: conds})
		if err != nil {
			return err
		}
		return show(stdout, asJSON, r, fmt.Sprintf("added rule %s → %q (priority %d)\n", r.ID, b.Name, r.Priority))
	case "rules list":
		rs, err := st.Rules(ctx, nil, workspace)
		if err != nil {
			return err
		}
		if asJSON {
			if rs == nil {
				rs = []*boards.Rule{}
			}
			return printJSON(stdout, rs)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPRIORITY\tBOARD\tCONDITIONS")
		for _, r := range rs {
			c, _ := json.Marshal(r.Conditions)
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.ID, r.Priority, r.BoardName, c)
		}
		return tw.Flush()
	case "rules remove":
		if id == "" {
			return errors.New("rule id required")
		}
		if err := st.RemoveRule(ctx, id); err != nil {
			return err
		}
		return show(stdout, asJSON, map[string]any{"removed": id}, "removed rule "+id+"\n")
	}
	return nil
}

func conditions(matches []string, ruleFile string) ([]boards.Condition, error) {
	var out []boards.Condition
	for _, m := range matches {
		k, v, ok := strings.Cut(m, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--match %q: want field=value", m)
		}
		val, _ := json.Marshal(v)
		out = append(out, boards.Condition{Field: k, Op: "eq", Value: val})
	}
	if ruleFile != "" {
		b, err := os.ReadFile(ruleFile)
		if err != nil {
			return nil, err
		}
		var more []boards.Condition
		if err := json.Unmarshal(b, &more); err != nil {
			return nil, fmt.Errorf("--rule-file: %w", err)
		}
		out = append(out, more...)
	}
	for _, c := range out {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func show(w io.Writer, asJSON bool, v any, text string) error {
	if asJSON {
		return printJSON(w, v)
	}
	_, err := io.WriteString(w, text)
	return err
}
