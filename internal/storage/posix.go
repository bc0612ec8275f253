package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mosaiclog/mosaic/internal/atomicfile"
	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/storage/posix"
)

// mosaicDir holds Mosaic's own state inside a POSIX log directory, beside
// Tessera's (which lives in .state).
const mosaicDir = ".mosaic"

// posixBackend is Tessera's POSIX driver on a local directory. Several
// processes may share the directory: Tessera serialises them with file locks.
type posixBackend struct {
	dir    string
	driver tessera.Driver
	logger *slog.Logger
	// space watches the directory's filesystem (see space.go); nil where
	// free space cannot be measured.
	space *diskspace.Watcher
	// dedup is the dedup map, opened by its first use (see space.go).
	dedup *DedupMap
	// stop ends the watcher and the temporary-file sweeper; bg counts them.
	stop context.CancelFunc
	bg   sync.WaitGroup
}

var _ Backend = (*posixBackend)(nil)

// OpenPosix opens (creating if needed) the log directory dir on its own,
// with default Options: for tests of a log over a store.
func OpenPosix(ctx context.Context, dir string) (Backend, error) {
	logger := slog.New(slog.DiscardHandler)
	return openPosix(ctx, dir, DefaultLogID, LogOptions{}, Options{Logger: logger}, logger)
}

// openPosix opens (creating if needed) the directory of log id.
func openPosix(ctx context.Context, dir, id string, lo LogOptions, opts Options, logger *slog.Logger) (Backend, error) {
	opened := time.Now()
	if err := os.MkdirAll(filepath.Join(dir, mosaicDir), 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory %s: %w", dir, err)
	}
	d, err := posix.New(ctx, posix.Config{Path: dir, HTTPClient: lo.HTTPClient})
	if err != nil {
		return nil, fmt.Errorf("opening POSIX log in %s: %w", dir, err)
	}
	b := &posixBackend{dir: dir, driver: d, logger: logger}
	bgCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	b.stop = stop
	b.startSpace(bgCtx, id, opts, opened)
	b.dedup = &DedupMap{dir: filepath.Join(dir, mosaicDir, "dedup"), space: b.space, logger: logger}
	return b, nil
}

func (b *posixBackend) Driver() tessera.Driver { return b.driver }
func (b *posixBackend) Kind() string           { return "posix" }

// Space watches the free space of the log directory's filesystem.
func (b *posixBackend) Space() *diskspace.Watcher { return b.space }

// Dedup is a Badger map in DIR/.mosaic/dedup: Tessera's POSIX driver does
// not deduplicate, and its in-memory dedup forgets on restart. The map is
// opened by its first use, and only while the disk has room (see space.go).
func (b *posixBackend) Dedup() *DedupMap { return b.dedup }

// Ping checks that the log directory is still there and readable.
func (b *posixBackend) Ping(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(b.dir, mosaicDir)); err != nil {
		return fmt.Errorf("log directory %s: %w", b.dir, err)
	}
	return nil
}

// CheckpointPublishedAt is the modification time of the checkpoint file,
// which Tessera rewrites on every publication (also when re-publishing).
func (b *posixBackend) CheckpointPublishedAt(ctx context.Context) (time.Time, error) {
	fi, err := os.Stat(filepath.Join(b.dir, layout.CheckpointPath))
	if err != nil {
		return time.Time{}, fmt.Errorf("checkpoint: %w", err)
	}
	return fi.ModTime(), nil
}

func (b *posixBackend) RecordIdentity(ctx context.Context, id Identity) (Identity, error) {
	path := filepath.Join(b.dir, mosaicDir, "identity.json")
	// Read first: a log that has its identity needs no write to start,
	// which is what lets it start (read-only) on a full disk.
	stored, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, merr := json.Marshal(id)
		if merr != nil {
			return Identity{}, merr
		}
		if err := atomicfile.Create(path, data); err != nil && !errors.Is(err, fs.ErrExist) {
			return Identity{}, fmt.Errorf("recording identity in %s: %w", path, err)
		}
		stored, err = os.ReadFile(path)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("reading identity from %s: %w", path, err)
	}
	var rec Identity
	if err := json.Unmarshal(stored, &rec); err != nil {
		return Identity{}, fmt.Errorf("%s is corrupt (%v); restore it from a backup", path, err)
	}
	return rec, nil
}

func (b *posixBackend) Close() error {
	b.stop()
	b.bg.Wait()
	return b.dedup.Close()
}
