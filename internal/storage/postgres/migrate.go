package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaiclog/mosaic/migrations"
)

var (
	// ErrSchemaTooNew means the database was migrated by a newer mosaicd than
	// this one; this one refuses to touch it.
	ErrSchemaTooNew = errors.New("database schema is newer than this mosaicd")
	// ErrSchemaOutdated means migrations are pending and automatic migration
	// is off.
	ErrSchemaOutdated = errors.New("database schema is older than this mosaicd")
)

// migrationLockKey is the advisory lock key that serialises Migrate calls
// across processes (an arbitrary constant: "mosaic" in ASCII).
const migrationLockKey int64 = 0x6d6f73616963

// LatestSchemaVersion returns the newest schema version this build knows.
func LatestSchemaVersion() (int, error) {
	v, err := migrations.Latest()
	if err != nil {
		return 0, fmt.Errorf("embedded migrations: %w", err)
	}
	return v, nil
}

// SchemaVersion returns the newest migration recorded in the database, or 0
// if none is (an empty database).
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return v, nil
}

// Migrate brings the database's schema up to LatestSchemaVersion, applying
// the pending migrations in order within one transaction and recording each
// in schema_migrations. It is idempotent, and safe when several processes
// migrate at once: an advisory lock makes them take turns, and the later ones
// find nothing to do. It refuses (ErrSchemaTooNew) a database newer than
// this build.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	all, err := migrations.All()
	if err != nil {
		return fmt.Errorf("embedded migrations: %w", err)
	}
	latest := all[len(all)-1].Version
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("migrating: beginning transaction: %w", err)
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("migrating: taking the migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrating: creating schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrating: reading schema version: %w", err)
	}
	if current > latest {
		return tooNew(current, latest)
	}
	for _, m := range all {
		if m.Version <= current {
			continue
		}
		// No arguments: pgx sends the file with the simple protocol, which
		// allows several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrating: applying %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())
			ON CONFLICT DO NOTHING`, m.Version); err != nil {
			return fmt.Errorf("migrating: recording %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrating: committing: %w", err)
	}
	return nil
}

// checkSchema checks the schema version of the database behind pool,
// migrating if autoMigrate allows.
func checkSchema(ctx context.Context, pool *pgxpool.Pool, autoMigrate bool, logger *slog.Logger) error {
	latest, err := LatestSchemaVersion()
	if err != nil {
		return err
	}
	current, err := SchemaVersion(ctx, pool)
	if err != nil {
		return err
	}
	switch {
	case current > latest:
		return tooNew(current, latest)
	case current == latest:
		return nil
	case !autoMigrate:
		return fmt.Errorf("%w: database schema version %d is older than this mosaicd needs (%d); "+
			"run `mosaicd migrate` first (or start with automatic migration)", ErrSchemaOutdated, current, latest)
	}
	logger.Info("migrating database schema", "from", current, "to", latest)
	return Migrate(ctx, pool)
}

func tooNew(current, latest int) error {
	return fmt.Errorf("%w: database schema version %d is newer than this mosaicd knows (%d); upgrade mosaicd",
		ErrSchemaTooNew, current, latest)
}
