package storage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/tessera"
)

// DefaultLogID names the main log of a store.
const DefaultLogID = postgres.DefaultLogID

// pgBackend is a log in Mosaic's PostgreSQL driver. It deduplicates
// authoritatively inside the sequencing transaction, so it needs no dedup
// map.
type pgBackend struct {
	store *postgres.Store
	// objects: identity tiles are stored beside the bundles (--tiles).
	objects bool
}

var _ Backend = (*pgBackend)(nil)

// openPostgres opens log id on the store's pool, whose schema Open checked.
func openPostgres(ctx context.Context, pool *pgxpool.Pool, tiles *bucket.Bucket, id string, lo LogOptions, opts Options, logger *slog.Logger) (Backend, error) {
	cfg := postgres.Config{
		Pool: pool, SchemaChecked: true, LogID: id, Dedup: true, Identity: lo.Identity,
		AutoMigrate: opts.AutoMigrate, Logger: logger, Metrics: postgresMetrics(id, opts.Registerer),
		HTTPClient: lo.HTTPClient,
	}
	if tiles != nil {
		if id != DefaultLogID {
			tiles = tiles.Sub(id)
		}
		cfg.Objects, cfg.Identities = tiles, lo.Identities
	}
	s, err := postgres.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening PostgreSQL log %q: %w", id, err)
	}
	return &pgBackend{store: s, objects: tiles != nil && lo.Identities != nil}, nil
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

// Dedup is nil: the driver records identities in its sequencing
// transaction, which is exact across frontends.
func (b *pgBackend) Dedup() *DedupMap { return nil }
func (b *pgBackend) Kind() string     { return "postgres" }

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

// Close stops the log's background work; the pool stays open (the Store's).
func (b *pgBackend) Close() error {
	b.store.Close()
	return nil
}

// Options configure Open.
type Options struct {
	// AutoMigrate applies pending PostgreSQL schema migrations at start.
	AutoMigrate bool
	// Create lets Open create a file store's directory when it does not
	// exist; without it Open refuses (*NoStoreError), so that a mistyped
	// directory does not become a new, empty log with a new key.
	Create bool
	Logger *slog.Logger
	// Registerer receives the logs' storage metrics, if set.
	Registerer prometheus.Registerer
	// DiskReserve is the free space a file store keeps: below it, writes
	// are refused (zero: diskspace.DefaultReserve).
	DiskReserve diskspace.Reserve
	// Tiles, when set, is an s3:// URL (bucket.ParseURL): a PostgreSQL
	// store's logs keep their tiles, entry bundles and checkpoints in that
	// bucket, the main log under its prefix and any other log id under
	// PREFIX/id. Refused with a file store.
	Tiles string
}

// postgresMetrics creates log id's driver metrics, registered with reg if
// set.
func postgresMetrics(id string, reg prometheus.Registerer) *postgres.Metrics {
	m := postgres.NewMetrics(id)
	if reg != nil {
		for _, c := range m.Collectors() {
			_ = reg.Register(c)
		}
	}
	return m
}

// StoredIdentityTiles returns the reader of the identity tiles b keeps
// beside its entry bundles (PostgreSQL with --tiles), or nil when b keeps
// none and they must be derived from the bundles.
func StoredIdentityTiles(b Backend) func(ctx context.Context, index uint64) ([]byte, error) {
	if pg, ok := b.(*pgBackend); ok && pg.objects {
		return pg.store.ReadIdentityTile
	}
	return nil
}
