package main

import (
	"context"
	"fmt"
	"io"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s settings
	var asJSON bool
	fs := newFlags("migrate", "migrate [--json] [flags]", stderr)
	s.coreFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	a, err := newApp(s)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.openDB(ctx); err != nil {
		return err
	}
	var versions []string
	rows, err := a.pool.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return err
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		versions = append(versions, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, map[string]any{"migrated": true, "versions": versions})
	}
	fmt.Fprintf(stdout, "database at version %s (%d migrations)\n", versions[len(versions)-1], len(versions))
	return nil
}
