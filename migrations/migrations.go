// Package migrations holds Mosaic's PostgreSQL schema as numbered, plain SQL
// files (NNNN_name.sql), embedded in the binary and applied in order by
// `mosaicd migrate` and, when enabled, at start-up.
//
// Each file is idempotent (CREATE ... IF NOT EXISTS, ON CONFLICT DO NOTHING),
// so re-running one changes nothing. Applied versions are recorded in the
// schema_migrations table by the code that applies them
// (internal/storage/postgres.Migrate). A file, once released, never changes:
// schema changes come as new files with the next number.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// FS holds the embedded migration files.
//
//go:embed *.sql
var FS embed.FS

// Migration is one numbered schema change.
type Migration struct {
	// Version is the file's number: 1 for 0001_init.sql.
	Version int
	// Name is the file name.
	Name string
	// SQL is the file's content, possibly several statements.
	SQL string
}

// All returns every embedded migration in ascending version order. It fails
// if a file name does not start with a number or two files share a number.
func All() ([]Migration, error) {
	names, err := fs.Glob(FS, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	ms := make([]Migration, 0, len(names))
	seen := make(map[int]string, len(names))
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_description.sql with NNNN > 0", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration files %q and %q share version %d", other, name, v)
		}
		seen[v] = name
		body, err := FS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading migration %q: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Latest returns the highest embedded migration version, or an error if the
// embedded files are malformed (see All).
func Latest() (int, error) {
	ms, err := All()
	if err != nil {
		return 0, err
	}
	if len(ms) == 0 {
		return 0, fmt.Errorf("no migrations embedded")
	}
	return ms[len(ms)-1].Version, nil
}
