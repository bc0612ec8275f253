// Package storage opens the log store named by mosaicd's --storage flag.
//
// A store is a Tessera driver plus the few things mosaicd needs around it: a
// liveness probe for /readyz, the log's recorded identity (origin and public
// key, fixed when the log is created), and the persistent duplicate map when
// the driver has none. Each backend lives in its own package
// (Tessera's POSIX driver for file:, internal/storage/postgres for
// postgres://); this package only parses the URL and wires the choice.
package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/internal/diskspace"
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

// Backend is an opened store.
type Backend interface {
	// Driver is the Tessera driver passed to tessera.NewAppender.
	Driver() tessera.Driver
	// Dedup opens the persistent duplicate map the log needs when the
	// driver does not deduplicate by itself, or returns nil when it does
	// (PostgreSQL dedups in its sequencing transaction).
	Dedup() (Dedup, error)
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
	// Close releases the store's resources.
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

// Open opens the store named by spec: "file:DIR" (or a bare path) for the
// embedded POSIX store, "postgres://..." for PostgreSQL.
func Open(ctx context.Context, spec string, opts Options) (Backend, error) {
	switch {
	case IsPostgres(spec):
		return OpenPostgres(ctx, spec, opts)
	case strings.HasPrefix(spec, "file:"):
		return openPosix(ctx, posixDir(strings.TrimPrefix(spec, "file:"), opts.LogID), opts)
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("unknown storage %q: want file:DIR or postgres://...", Redact(spec))
	case spec == "":
		return nil, errors.New("no storage given: want file:DIR or postgres://...")
	default:
		return openPosix(ctx, posixDir(spec, opts.LogID), opts)
	}
}

// posixDir is where log logID of the file store in dir lives: the main log at
// the top (as Tessera's POSIX layout and existing data directories have it),
// any other in a subdirectory named after it.
func posixDir(dir, logID string) string {
	if logID == "" || logID == DefaultLogID {
		return dir
	}
	return filepath.Join(dir, logID)
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
