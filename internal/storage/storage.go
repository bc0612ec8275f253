// Package storage opens the store named by mosaicd's --storage flag, and
// the logs inside it.
//
// A store is a directory (file:DIR) or a PostgreSQL database (postgres://),
// opened once per process by Open: one connection pool and one schema check
// for every log in it. Logs are opened from it by ID (OpenLog): the main
// log, DefaultLogID, and the certificate log beside it. A log is a Tessera
// driver plus the few things mosaicd needs around it: a liveness probe for
// /readyz, the log's recorded identity (origin and public key, fixed when
// the log is created), the free space of its disk, and the persistent
// duplicate map when the driver has none. Each backend lives in its own
// package (Tessera's POSIX driver for file:, internal/storage/postgres for
// postgres://); this package only parses the spec and wires the choice.
package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
	"github.com/transparency-dev/tessera"
)

// ErrIdentityMismatch is returned by BindIdentity when the store was created
// for another origin or public key. mosaicd refuses to serve in that case.
var ErrIdentityMismatch = errors.New("log identity mismatch")

// Identity is what a log is: the checkpoint origin and the public key (PKIX
// DER) that signs its checkpoints. It never changes over a log's lifetime.
type Identity struct {
	Origin    string `json:"origin"`
	PublicKey []byte `json:"public_key"`
}

// Backend is an opened log of a store.
type Backend interface {
	// Driver is the Tessera driver passed to tessera.NewAppender.
	Driver() tessera.Driver
	// Dedup is the persistent duplicate map the log needs when the driver
	// does not deduplicate by itself (a tlog.Deduplicator), or nil when it
	// does (PostgreSQL dedups in its sequencing transaction).
	Dedup() *DedupMap
	// Ping reports whether the store answers; /readyz uses it.
	Ping(ctx context.Context) error
	// CheckpointPublishedAt is when the latest checkpoint was published
	// (or re-published), so readiness can require a fresh one.
	CheckpointPublishedAt(ctx context.Context) (time.Time, error)
	// RecordIdentity stores id if the store holds no identity yet, atomically
	// with respect to other processes, and returns the identity the store
	// holds afterwards (id itself on first use).
	RecordIdentity(ctx context.Context, id Identity) (Identity, error)
	// Space watches the free space of the filesystem the store writes
	// to, or is nil when the store is not on local disk (PostgreSQL). A
	// nil *diskspace.Watcher always reports room.
	Space() *diskspace.Watcher
	// Kind names the backend for logs and metrics ("posix", "postgres").
	Kind() string
	// Resources reads the log's published checkpoint, tiles and bundles
	// straight from the store, with or without a server on it (copy.go).
	Resources() Resources
	// Identity is the identity the log recorded, if any (ok false).
	Identity(ctx context.Context) (id Identity, ok bool, err error)
	// Empty reports whether the log holds nothing yet (no entry, no
	// checkpoint, no identity): what Import requires.
	Empty(ctx context.Context) (bool, error)
	// importLog is Import's work on the backend.
	importLog(ctx context.Context, src ImportSource) error

	// Freezing (freeze.go). Frozen returns the log's freeze record, or nil;
	// RecordFrozen writes one (once) and returns the record held.
	Frozen(ctx context.Context) (*Frozen, error)
	RecordFrozen(ctx context.Context, f Frozen) (Frozen, error)
	// CutOff stops every writer of the log from sequencing and returns the
	// final size, or false when the store cannot (a file log: its writer
	// stops itself).
	CutOff(ctx context.Context) (uint64, bool, error)
	// RequestFreeze and FreezeRequested pass a freeze request to the
	// process writing a file log.
	RequestFreeze(ctx context.Context, r FreezeRequest) error
	FreezeRequested(ctx context.Context) (*FreezeRequest, error)
	// WriterLock is held by the one process that writes a file log
	// (ErrWriterLocked while another does); a no-op on PostgreSQL.
	WriterLock() (func(), error)
	// CreatedAt is when the log's identity was recorded.
	CreatedAt(ctx context.Context) (time.Time, error)
	// Reader reads the log without an appender (a frozen log, or one
	// another process writes).
	Reader() tessera.LogReader

	// Close releases the log's resources (not the store's).
	Close() error
}

// IsPostgres reports whether spec names a PostgreSQL database: a
// postgres:// or postgresql:// URL, or a key/value connection string
// ("host=db dbname=mosaic ...").
func IsPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") || isKeyValueDSN(spec)
}

// BindIdentity records id in b on first use and afterwards fails with an
// error wrapping ErrIdentityMismatch when id differs from what b recorded, so
// that a log's key and origin cannot change under its published checkpoints.
func BindIdentity(ctx context.Context, b Backend, where string, id Identity) error {
	recorded, err := b.RecordIdentity(ctx, id)
	if err != nil {
		return fmt.Errorf("recording log identity in %s: %w", where, err)
	}
	switch {
	case recorded.Origin == id.Origin && bytes.Equal(recorded.PublicKey, id.PublicKey):
		return nil
	case recorded.Origin != id.Origin:
		return fmt.Errorf("%w: %s was created with origin %q but mosaicd is configured with origin %q; "+
			"start with --origin %q, or use a new store for a new log",
			ErrIdentityMismatch, where, recorded.Origin, id.Origin, recorded.Origin)
	default:
		return fmt.Errorf("%w: %s was created with another checkpoint signing key; "+
			"start with the key the log was created with, or use a new store for a new log",
			ErrIdentityMismatch, where)
	}
}

// FileDir returns the directory of a file store spec ("file:DIR" or a bare
// path), or false when spec names no file store.
func FileDir(spec string) (string, bool) {
	switch {
	case IsPostgres(spec), spec == "", strings.Contains(spec, "://"):
		return "", false
	}
	return strings.TrimPrefix(spec, "file:"), true
}

// NoStoreError refuses a file store whose directory does not exist, when
// creating it was not asked for: a mistyped directory must not silently
// become a new, empty log (with a new key).
type NoStoreError struct{ Dir string }

func (e *NoStoreError) Error() string {
	return fmt.Sprintf("no log at %s; pass --init to create one", e.Dir)
}

// Check refuses a spec Open would refuse before touching the store: an
// empty or unknown one, and (a *NoStoreError) a file store whose directory
// does not exist when create is false. Open calls it; so may a caller that
// writes into the directory before it opens the store.
func Check(spec string, create bool) error {
	if IsPostgres(spec) {
		return nil
	}
	dir, ok := FileDir(spec)
	switch {
	case spec == "":
		return errors.New("no storage given: want file:DIR or postgres://...")
	case !ok:
		return fmt.Errorf("unknown storage %q: want file:DIR or postgres://...", Redact(spec))
	case create:
		return nil
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return &NoStoreError{Dir: dir}
	}
	return nil
}

// Store is an opened store, from which logs are opened by ID. Close it
// after every log opened from it.
type Store struct {
	opts Options
	// dir is a file store's directory; pool is a PostgreSQL store's one
	// connection pool, whose schema Open checked. Exactly one is set;
	// both are immutable.
	dir  string
	pool *pgxpool.Pool
	// tiles is the bucket of Options.Tiles, or nil; immutable.
	tiles *bucket.Bucket
}

// Open opens the store named by spec: "file:DIR" (or a bare path) for the
// embedded POSIX store, "postgres://..." (or a key/value connection string)
// for PostgreSQL, whose schema it checks (and with opts.AutoMigrate
// migrates) once for every log opened from it.
func Open(ctx context.Context, spec string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var tiles *bucket.Bucket
	if opts.Tiles != "" {
		if !IsPostgres(spec) {
			return nil, errors.New("--tiles needs PostgreSQL storage (--storage postgres://...): " +
				"the embedded store keeps its tiles in its own directory")
		}
		cfg, err := bucket.ParseURL(opts.Tiles)
		if err != nil {
			return nil, fmt.Errorf("--tiles %w", err)
		}
		if tiles, err = bucket.Open(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if IsPostgres(spec) {
		pool, err := postgres.Connect(ctx, spec, opts.AutoMigrate, opts.Logger)
		if err != nil {
			return nil, fmt.Errorf("opening PostgreSQL store: %w", err)
		}
		return &Store{opts: opts, pool: pool, tiles: tiles}, nil
	}
	if err := Check(spec, opts.Create); err != nil {
		return nil, err
	}
	dir, _ := FileDir(spec)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory %s: %w", dir, err)
	}
	return &Store{opts: opts, dir: dir}, nil
}

// LogOptions configure one log of a store.
type LogOptions struct {
	// Identity is what a PostgreSQL log deduplicates an entry on, from its
	// leaf; nil: SHA-256 of the leaf (see postgres.Config.Identity). A file
	// store's log needs none: the log deduplicates (tlog.Config.Identity).
	Identity func(leaf []byte) []byte
	// Identities makes the identity tiles of a log with --tiles (see
	// postgres.Config.Identities); nil writes none.
	Identities func(leaves [][]byte) ([]byte, error)
	// HTTPClient is what Tessera's checkpoint publisher sends checkpoints
	// to witnesses with (tlog.Witnesses.HTTPClient); nil: the driver's
	// default.
	HTTPClient *http.Client
}

// OpenLog opens (creating if new) the log id of the store: a log_id in
// PostgreSQL, on the store's pool; in a file store, the top directory for
// DefaultLogID (as Tessera's POSIX layout and existing data directories
// have it) and a subdirectory named id for any other. Close the log before
// the store.
func (s *Store) OpenLog(ctx context.Context, id string, opts LogOptions) (Backend, error) {
	if id == "" {
		id = DefaultLogID
	}
	logger := s.opts.Logger
	if id != DefaultLogID {
		logger = logger.With("log", id)
	}
	if s.pool != nil {
		return openPostgres(ctx, s.pool, s.tiles, id, opts, s.opts, logger)
	}
	dir := s.dir
	if id != DefaultLogID {
		dir = filepath.Join(s.dir, id)
	}
	return openPosix(ctx, dir, id, opts, s.opts, logger)
}

// Postgres is a PostgreSQL store's connection pool, for other tables of the
// same database (the search index), or nil for a file store. The store
// owns and closes it.
func (s *Store) Postgres() *pgxpool.Pool { return s.pool }

// Dir is a file store's directory, or "" for PostgreSQL.
func (s *Store) Dir() string { return s.dir }

// Kind names the store's backend for logs and metrics ("posix", "postgres").
func (s *Store) Kind() string {
	if s.pool != nil {
		return "postgres"
	}
	return "posix"
}

// Close releases the store: the PostgreSQL pool. Close its logs first.
func (s *Store) Close() {
	if s.pool != nil {
		s.pool.Close()
	}
}

// Ready reports whether a server on b should take traffic: its disk is not
// full (reads are still served then, but writes are refused), the store
// answers and its latest checkpoint was published within maxAge. A log that
// has stopped publishing is not healthy, however well it answers. A refusal
// is a *NotReadyError.
func Ready(ctx context.Context, b Backend, maxAge time.Duration) error {
	if err := b.Space().Check(); err != nil {
		return &NotReadyError{Code: "disk_full", Reason: "disk full", Err: err}
	}
	if err := b.Ping(ctx); err != nil {
		return &NotReadyError{Code: "storage_unavailable", Reason: "storage unavailable", Err: err}
	}
	at, err := b.CheckpointPublishedAt(ctx)
	if err != nil {
		return &NotReadyError{Code: "no_checkpoint", Reason: "no checkpoint published yet", Err: err}
	}
	if age := time.Since(at); age > maxAge {
		msg := fmt.Sprintf("the latest checkpoint is %s old (limit %s): checkpoints are not being published",
			age.Round(time.Second), maxAge)
		return &NotReadyError{Code: "stale_checkpoint", Reason: msg, Err: errors.New(msg)}
	}
	return nil
}

// NotReadyError says why a server should not take traffic. Code and Reason
// may be shown to anyone (they hold no host, user, database or driver
// text); Err is the detail, for the server's log only.
type NotReadyError struct {
	// Code is a short fixed name for metrics ("storage_unavailable", …).
	Code   string
	Reason string
	Err    error
}

func (e *NotReadyError) Error() string { return e.Reason + ": " + e.Err.Error() }

func (e *NotReadyError) Unwrap() error { return e.Err }
