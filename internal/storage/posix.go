package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

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

	// mu guards dedup, opened on first use and closed by Close.
	mu    sync.Mutex
	dedup *badgerDedup
}

var _ Backend = (*posixBackend)(nil)

// OpenPosix opens (creating if needed) a log directory.
func OpenPosix(ctx context.Context, dir string) (Backend, error) {
	if err := os.MkdirAll(filepath.Join(dir, mosaicDir), 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory %s: %w", dir, err)
	}
	d, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return nil, fmt.Errorf("opening POSIX log in %s: %w", dir, err)
	}
	return &posixBackend{dir: dir, driver: d}, nil
}

func (b *posixBackend) Driver() tessera.Driver { return b.driver }
func (b *posixBackend) Kind() string           { return "posix" }

// Dedup is a Badger map in DIR/.mosaic/dedup: Tessera's POSIX driver does
// not deduplicate, and its in-memory dedup forgets on restart.
func (b *posixBackend) Dedup() (Dedup, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dedup == nil {
		d, err := openBadgerDedup(filepath.Join(b.dir, mosaicDir, "dedup"))
		if err != nil {
			return nil, err
		}
		b.dedup = d
	}
	return b.dedup, nil
}

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
	data, err := json.Marshal(id)
	if err != nil {
		return Identity{}, err
	}
	if err := writeExclusive(path, data); err != nil && !errors.Is(err, fs.ErrExist) {
		return Identity{}, fmt.Errorf("recording identity in %s: %w", path, err)
	}
	stored, err := os.ReadFile(path)
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
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dedup == nil {
		return nil
	}
	err := b.dedup.Close()
	b.dedup = nil
	return err
}

// writeExclusive creates path with data, durably, failing with fs.ErrExist
// if it already exists. The file appears whole or not at all.
func writeExclusive(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}
