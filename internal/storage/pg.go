package storage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/tessera"
)

// DefaultLogID names the main log of a store.
const DefaultLogID = postgres.DefaultLogID

// pgBackend is Mosaic's PostgreSQL driver. It deduplicates authoritatively
// inside the sequencing transaction, so it needs no antispam.
type pgBackend struct {
	store *postgres.Store
}

var _ Backend = (*pgBackend)(nil)

// OpenPostgres opens the log in the database at url, applying pending schema
// migrations first when autoMigrate is set.
func OpenPostgres(ctx context.Context, url string, opts Options) (Backend, error) {
	s, err := postgres.New(ctx, postgres.Config{
		URL: url, LogID: opts.LogID, Dedup: true, Identity: opts.Identity, AutoMigrate: opts.AutoMigrate,
		Logger: opts.Logger, Metrics: opts.postgresMetrics(),
	})
	if err != nil {
		return nil, fmt.Errorf("opening PostgreSQL log: %w", err)
	}
	return &pgBackend{store: s}, nil
}

// MigratePostgres applies pending migrations to the database at url and
// returns the schema version it is at afterwards.
func MigratePostgres(ctx context.Context, url string) (int, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return 0, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		return 0, err
	}
	return postgres.SchemaVersion(ctx, pool)
}

func (b *pgBackend) Driver() tessera.Driver { return b.store }

// Pool is the store's PostgreSQL connection pool, for other tables of the
// same database (the search index). The store owns and closes it.
func (b *pgBackend) Pool() *pgxpool.Pool { return b.store.Pool() }

// Dedup is nil: the driver records identities in its sequencing
// transaction, which is exact across frontends.
func (b *pgBackend) Dedup() (Dedup, error) { return nil, nil }
func (b *pgBackend) Kind() string          { return "postgres" }

// Space is nil: the database's disk is the database server's to watch.
func (b *pgBackend) Space() *diskspace.Watcher { return nil }
func (b *pgBackend) Ping(ctx context.Context) error {
	return b.store.Ping(ctx)
}

func (b *pgBackend) CheckpointPublishedAt(ctx context.Context) (time.Time, error) {
	return b.store.CheckpointPublishedAt(ctx)
}

func (b *pgBackend) RecordIdentity(ctx context.Context, id Identity) (Identity, error) {
	origin, key, err := b.store.RecordIdentity(ctx, id.Origin, id.PublicKey)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Origin: origin, PublicKey: key}, nil
}

func (b *pgBackend) Close() error {
	b.store.Close()
	return nil
}

// Options configure Open.
type Options struct {
	// AutoMigrate applies pending PostgreSQL schema migrations at start.
	AutoMigrate bool
	// LogID selects one of several logs in a store: a log_id in PostgreSQL,
	// a subdirectory of a file store. Empty (or DefaultLogID) is the main log.
	LogID string
	// Identity is what the PostgreSQL store deduplicates an entry on, from
	// its leaf; nil: SHA-256 of the leaf (see postgres.Config.Identity).
	// The file store needs none: its log deduplicates (log.Config.Identity).
	Identity func(leaf []byte) []byte
	Logger   *slog.Logger
	// Registerer receives the backend's metrics, if set.
	Registerer prometheus.Registerer
	// DiskReserve is the free space a file store keeps: below it, writes
	// are refused (zero: diskspace.DefaultReserve).
	DiskReserve diskspace.Reserve
}

func (o Options) postgresMetrics() *postgres.Metrics {
	id := o.LogID
	if id == "" {
		id = postgres.DefaultLogID
	}
	m := postgres.NewMetrics(id)
	if o.Registerer != nil {
		for _, c := range m.Collectors() {
			_ = o.Registerer.Register(c)
		}
	}
	return m
}
