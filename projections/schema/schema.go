// Package schema is the vocabulary projection packages describe themselves
// with: their migrations and a Spec that says, for every table they own,
// what a rebuild does with it and where it keeps personal data. It imports
// nothing of Hookstream's, so every projection package can use it; the
// ordered list of all specs lives in package projections.
package schema

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Spec is what one projection package declares about the tables it owns.
// Every table belongs to exactly one of Rebuild, Keep, Config, Ledger and
// ByProcessor, so a new table cannot be forgotten by replay.
type Spec struct {
	// Name is the package's name (contacts, boards, …).
	Name string
	// Processor is the processor that writes the projection ("" when no
	// single processor does: webhooks, the runner's ledger, the audit trail).
	Processor string
	// Migrations holds the package's YYYYMMDDhhmmss_name.sql files at its
	// root; see ReadMigrations.
	Migrations fs.FS

	// Rebuild tables are derived from the streams: a rebuild empties them
	// and the processor writes them again.
	Rebuild []string
	// Undo are statements a rebuild runs to take back the processor's
	// writes to tables another projection owns.
	Undo []Statement
	// Keep tables are left alone by a rebuild: caches of data fetched from
	// outside (it may no longer be there) and records that outlive the
	// projections (the audit trail).
	Keep []string
	// Config tables are written by operators, not derived from events.
	Config []string
	// Ledger tables record effects on outside systems (what reached the
	// CRM, MailerLite, GA4, a phone). A rebuild empties them only when
	// asked to send everything again.
	Ledger []string
	// ByProcessor tables hold rows keyed by processor name; a rebuild
	// deletes the rebuilt processors' rows.
	ByProcessor []string

	// Personal says where the tables keep personal data about a contact
	// and how an erasure removes it.
	Personal []Personal
	// Events are queries returning the source event ids that carried the
	// contact's data (named args as in Personal.Where); an erasure hides
	// their raw requests and may purge them from the streams.
	Events []string
	// NotPersonal explains, per "table" or "table.column", why data that
	// could look personal is not: a table without personal data names
	// itself here, and so does a column whose name suggests personal data
	// (name, email, body, error, …) but that holds none.
	NotPersonal map[string]string
}

// Tables lists every table the spec classifies, in its categories' order.
func (s Spec) Tables() []string {
	var out []string
	for _, ts := range [][]string{s.Rebuild, s.Keep, s.Config, s.Ledger, s.ByProcessor} {
		out = append(out, ts...)
	}
	return out
}

// Statement is SQL run against Table.
type Statement struct {
	Table string
	SQL   string
}

// Personal is one table's personal data about a contact.
type Personal struct {
	Table string
	// Where finds the contact's rows. Named args: @contact (contacts.id),
	// @email (lower case, '' when none), @phone, @workspace and @events
	// (the source event ids found by the specs' Events).
	Where string
	// Delete removes the rows instead of blanking columns.
	Delete bool
	// Blank are the personal columns and what replaces them.
	Blank []Blank
	// Also are assignments made with the blanking that are not personal
	// data themselves ("updated_at = now()").
	Also []string
}

// Blank is one personal column and the SQL expression that replaces its
// value; "" means NULL.
type Blank struct {
	Column string
	To     string
}

// Null blanks the columns to NULL.
func Null(columns ...string) []Blank {
	out := make([]Blank, len(columns))
	for i, c := range columns {
		out[i] = Blank{Column: c}
	}
	return out
}

// Erased replaces an e-mail that is part of a key (NOT NULL, unique per
// workspace) with a placeholder unique to the old value.
func Erased(column string) Blank {
	return Blank{Column: column, To: "'erased+' || md5(" + column + ") || '@erased.invalid'"}
}

// SQL is the statement that erases the contact's data from the table.
func (p Personal) SQL() string {
	if p.Delete {
		return "DELETE FROM " + p.Table + " WHERE " + p.Where
	}
	sets := make([]string, 0, len(p.Blank)+len(p.Also))
	for _, b := range p.Blank {
		to := b.To
		if to == "" {
			to = "NULL"
		}
		sets = append(sets, b.Column+" = "+to)
	}
	sets = append(sets, p.Also...)
	return "UPDATE " + p.Table + " SET " + strings.Join(sets, ", ") + " WHERE " + p.Where
}

// Migration is one schema step.
type Migration struct {
	// Version is the file name without .sql: a UTC timestamp of when the
	// step was written and a name (20261122001000_contacts_init), so
	// versions of all packages sort into one line.
	Version string
	SQL     string
}

var versionForm = regexp.MustCompile(`^[0-9]{14}_[a-z0-9_]+$`)

// ReadMigrations reads the .sql files at the root of fsys.
func ReadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	for _, n := range names {
		v := strings.TrimSuffix(path.Base(n), ".sql")
		if !versionForm.MatchString(v) {
			return nil, fmt.Errorf("schema: migration %s: want YYYYMMDDhhmmss_name.sql", n)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, SQL: string(b)})
	}
	return out, nil
}
