package projections_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/projections/pgtest"
	"github.com/hookstream/hookstream/projections/schema"
)

type column struct {
	nullable bool
}

// columns reads the migrated schema: table → column → facts.
func columns(t *testing.T, pool *pgxpool.Pool) map[string]map[string]column {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT c.table_name, c.column_name, c.is_nullable = 'YES'
		FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]column{}
	for rows.Next() {
		var table, col string
		var c column
		if err := rows.Scan(&table, &col, &c.nullable); err != nil {
			t.Fatal(err)
		}
		if out[table] == nil {
			out[table] = map[string]column{}
		}
		out[table][col] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSpecs_ClassifyEveryTable: every table of the migrated schema is
// classified (rebuild, keep, config, ledger, by processor) by exactly one
// spec, and no spec names a table that does not exist. A new table thus
// fails here until its package says what a rebuild does with it.
func TestSpecs_ClassifyEveryTable(t *testing.T) {
	pool := pgtest.New(t)
	for _, p := range classifyProblems(t, pool, projections.Specs()) {
		t.Error(p)
	}
}

func classifyProblems(t *testing.T, pool *pgxpool.Pool, specs []schema.Spec) []string {
	t.Helper()
	var problems []string
	problem := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	cols := columns(t, pool)
	owner := map[string]string{}
	for _, s := range specs {
		for _, table := range s.Tables() {
			if o, dup := owner[table]; dup {
				problem("table %s is classified by %s and by %s", table, o, s.Name)
			}
			owner[table] = s.Name
			if cols[table] == nil {
				problem("%s names table %s, which does not exist", s.Name, table)
			}
		}
		for _, u := range s.Undo {
			if cols[u.Table] == nil {
				problem("%s undoes writes to table %s, which does not exist", s.Name, u.Table)
			}
			if err := explain(pool, u.SQL); err != nil {
				problem("%s undo: %v", s.Name, err)
			}
		}
	}
	for table := range cols {
		if _, ok := owner[table]; !ok {
			problem("table %s is not classified by any projection spec (Rebuild, Keep, Config, Ledger or ByProcessor)", table)
		}
	}
	return problems
}

// personalName are column names that suggest personal data; each such
// column must be declared personal or explained as not.
var personalName = regexp.MustCompile(`(^|_)(email|phone|name|company|message|body|payload|metadata|description|` +
	`error|referrer|url|recipient|title|custom|detail|address|note|reason|requested_by|headers|to|ip|user_agent)($|_)`)

// TestSpecs_DeclarePersonalData: every table either has an erasure rule or
// says why it holds no personal data; every column whose name suggests
// personal data is blanked or explained; erasure rules name real tables
// and columns, blank to NULL only nullable columns, and are valid SQL.
func TestSpecs_DeclarePersonalData(t *testing.T) {
	pool := pgtest.New(t)
	for _, p := range personalProblems(t, pool, projections.Specs()) {
		t.Error(p)
	}
}

func personalProblems(t *testing.T, pool *pgxpool.Pool, specs []schema.Spec) []string {
	t.Helper()
	var problems []string
	problem := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	cols := columns(t, pool)
	declared := map[string]bool{} // "table" or "table.column"
	for _, s := range specs {
		for key := range s.NotPersonal {
			table, col, _ := strings.Cut(key, ".")
			if _, ok := cols[table][col]; cols[table] == nil || (col != "" && !ok) {
				problem("%s: NotPersonal names %s, which does not exist", s.Name, key)
			}
			declared[key] = true
		}
		for _, p := range s.Personal {
			if !slices.Contains(s.Tables(), p.Table) {
				problem("%s erases from %s, a table it does not own", s.Name, p.Table)
			}
			declared[p.Table] = true
			if p.Delete {
				for c := range cols[p.Table] {
					declared[p.Table+"."+c] = true
				}
			}
			for _, b := range p.Blank {
				c, ok := cols[p.Table][b.Column]
				switch {
				case !ok:
					problem("%s blanks %s.%s, which does not exist", s.Name, p.Table, b.Column)
				case b.To == "" && !c.nullable:
					problem("%s blanks %s.%s to NULL, but the column is NOT NULL", s.Name, p.Table, b.Column)
				}
				declared[p.Table+"."+b.Column] = true
			}
			if err := explain(pool, p.SQL()); err != nil {
				problem("%s erasure of %s: %v", s.Name, p.Table, err)
			}
		}
		for _, q := range s.Events {
			if err := explain(pool, q); err != nil {
				problem("%s events: %v", s.Name, err)
			}
		}
	}
	for table, cs := range cols {
		if !declared[table] {
			problem("table %s has no erasure rule (Personal) and no NotPersonal entry saying why it needs none", table)
		}
		for c := range cs {
			if personalName.MatchString(c) && !declared[table+"."+c] {
				problem("column %s.%s looks personal: blank it in a Personal rule or explain it in NotPersonal", table, c)
			}
		}
	}
	return problems
}

// explain checks that q plans against the migrated schema with the
// erasure's named arguments.
func explain(pool *pgxpool.Pool, q string) error {
	args := pgx.NamedArgs{"contact": "c1", "email": "a@example.com", "phone": "+15550100", "workspace": "w1", "events": []string{"e1"}}
	if _, err := pool.Exec(context.Background(), "EXPLAIN "+q, args); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

// TestSpecs_CatchNewTable: the checks above report a table no spec knows
// and a spec that names what does not exist.
func TestSpecs_CatchNewTable(t *testing.T) {
	pool := pgtest.New(t)
	if _, err := pool.Exec(context.Background(), "CREATE TABLE sneaky (id text PRIMARY KEY, email text)"); err != nil {
		t.Fatal(err)
	}
	bogus := schema.Spec{Name: "bogus", Keep: []string{"nope"},
		Personal: []schema.Personal{{Table: "nope", Where: "true", Blank: schema.Null("email")}}}
	specs := append(projections.Specs(), bogus)
	want := []string{
		"table sneaky is not classified",
		"bogus names table nope, which does not exist",
		"table sneaky has no erasure rule",
		"column sneaky.email looks personal",
		"bogus blanks nope.email, which does not exist",
	}
	got := strings.Join(append(classifyProblems(t, pool, specs), personalProblems(t, pool, specs)...), "\n")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("problems do not say %q:\n%s", w, got)
		}
	}
}

// TestSpecs_Unique: spec names and processors are unique (SpecOf finds
// only the first) and every spec's migrations read.
func TestSpecs_Unique(t *testing.T) {
	names, procs := map[string]bool{}, map[string]bool{}
	for _, s := range projections.Specs() {
		if names[s.Name] {
			t.Errorf("two specs named %s", s.Name)
		}
		names[s.Name] = true
		if s.Processor != "" && procs[s.Processor] {
			t.Errorf("two specs of processor %s", s.Processor)
		}
		procs[s.Processor] = true
		if _, err := schema.ReadMigrations(s.Migrations); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
}
