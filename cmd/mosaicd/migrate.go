package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/mosaiclog/mosaic/internal/storage"
)

// defaultStorage is the data directory serve uses, and creates on first
// start, when no --storage is given.
const defaultStorage = "file:./mosaic-data"

func storageFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "storage", defaultStorage, "log storage: file:DIR (embedded) or postgres://...")
}

// migrate applies pending schema migrations to a PostgreSQL store.
func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	var spec string
	storageFlag(fs, &spec)
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	if !storage.IsPostgres(spec) {
		fmt.Fprintf(stdout, "%s is an embedded store: it has no schema to migrate\n", storage.Redact(spec))
		return nil
	}
	v, err := storage.MigratePostgres(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: schema at version %d\n", storage.Redact(spec), v)
	return nil
}
