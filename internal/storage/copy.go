package storage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"

	"github.com/mosaiclog/mosaic/internal/atomicfile"
)

// Copying a log in and out of a store, for backups, restores and imports
// (internal/backup). Out: Resources reads what the log publishes straight
// from the store, whether or not a server runs on it. In: Import fills an
// empty log with a copy of another log's entries, at the same indices, and
// publishes that log's signed checkpoint once the tree matches it.

// Resources reads a log's published resources in C2SP tlog-tiles form: the
// checkpoint, hash tiles and entry bundles. A tile or bundle asked for at a
// partial width may come back wider (the full one, once it is); Exact
// trims it.
type Resources interface {
	ReadCheckpoint(ctx context.Context) ([]byte, error)
	ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error)
	ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error)
}

// ImportSource is the log Import copies: a verified checkpoint and where
// its entry bundles come from.
type ImportSource struct {
	// Size and Root are the tree the checkpoint commits to; Checkpoint is
	// the signed note, which the caller verified.
	Size       uint64
	Root       []byte
	Checkpoint []byte
	// Bundle reads entry bundle index at width p (0: full), exactly (see
	// ExactBundle).
	Bundle client.EntryBundleFetcherFunc
	// Workers is how many bundles are read at once (0: 4).
	Workers uint
	// Progress, if set, is called now and then with the entries copied
	// so far.
	Progress func(copied uint64)
}

// Import copies src into the empty log b and publishes src's checkpoint
// once b's tree has src's size and root hash; a mismatch fails and
// publishes nothing. Nothing else may write to b meanwhile. A failed
// import leaves a log that is not empty: start again on a new store.
func Import(ctx context.Context, b Backend, src ImportSource) error {
	empty, err := b.Empty(ctx)
	if err != nil {
		return err
	}
	if !empty {
		return errors.New("the target store already holds a log: restore or import only into a new, empty store")
	}
	if src.Workers == 0 {
		src.Workers = 4
	}
	if src.Progress == nil {
		src.Progress = func(uint64) {}
	}
	return b.importLog(ctx, src)
}

// ExactBundle wraps a bundle reader that may answer a partial request with
// a wider bundle, returning exactly p entries (all for p == 0).
func ExactBundle(read client.EntryBundleFetcherFunc) client.EntryBundleFetcherFunc {
	return func(ctx context.Context, index uint64, p uint8) ([]byte, error) {
		b, err := read(ctx, index, p)
		if err != nil || p == 0 {
			return b, err
		}
		end, err := BundlePrefix(b, int(p))
		if err != nil {
			return nil, fmt.Errorf("entry bundle %d.p/%d: %w", index, p, err)
		}
		return b[:end], nil
	}
}

// ExactTile is ExactBundle for hash tiles.
func ExactTile(read client.TileFetcherFunc) client.TileFetcherFunc {
	return func(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
		t, err := read(ctx, level, index, p)
		if err != nil || p == 0 {
			return t, err
		}
		if len(t) < int(p)*32 || len(t)%32 != 0 {
			return nil, fmt.Errorf("tile %d/%d.p/%d: %d bytes", level, index, p, len(t))
		}
		return t[:int(p)*32], nil
	}
}

// BundlePrefix returns the length of the first n entries of a tlog-tiles
// entry bundle (each a big-endian uint16 length, then that many bytes).
func BundlePrefix(b []byte, n int) (int, error) {
	off := 0
	for i := range n {
		if len(b)-off < 2 {
			return 0, fmt.Errorf("bundle ends after %d of %d entries", i, n)
		}
		l := int(binary.BigEndian.Uint16(b[off:]))
		if len(b)-off-2 < l {
			return 0, fmt.Errorf("entry %d of the bundle is cut short", i)
		}
		off += 2 + l
	}
	return off, nil
}

// --- the embedded (POSIX) store

func (b *posixBackend) Resources() Resources { return client.FileFetcher{Root: b.dir} }

func (b *posixBackend) Identity(ctx context.Context) (Identity, bool, error) {
	path := filepath.Join(b.dir, mosaicDir, "identity.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, err
	}
	var id Identity
	if err := json.Unmarshal(data, &id); err != nil {
		return Identity{}, false, fmt.Errorf("%s is corrupt (%v)", path, err)
	}
	return id, true, nil
}

// Empty: no checkpoint, no tiles, no identity.
func (b *posixBackend) Empty(ctx context.Context) (bool, error) {
	for _, p := range []string{layout.CheckpointPath, "tile", filepath.Join(mosaicDir, "identity.json")} {
		if _, err := os.Stat(filepath.Join(b.dir, p)); err == nil {
			return false, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return true, nil
}

// importLog runs Tessera's migration lifecycle, which copies the bundles,
// integrates them and compares the root, then writes the checkpoint.
func (b *posixBackend) importLog(ctx context.Context, src ImportSource) error {
	if src.Size > 0 {
		mt, err := tessera.NewMigrationTarget(ctx, b.driver, tessera.NewMigrationOptions())
		if err != nil {
			return err
		}
		var copied atomic.Uint64
		read := func(ctx context.Context, index uint64, p uint8) ([]byte, error) {
			bundle, err := src.Bundle(ctx, index, p)
			if err == nil {
				n := uint64(p)
				if n == 0 {
					n = layout.EntryBundleWidth
				}
				src.Progress(copied.Add(n))
			}
			return bundle, err
		}
		if err := mt.Migrate(ctx, src.Workers, src.Size, src.Root, read); err != nil {
			return fmt.Errorf("copying the entries: %w", err)
		}
	}
	if err := atomicfile.Create(filepath.Join(b.dir, layout.CheckpointPath), src.Checkpoint); err != nil {
		return fmt.Errorf("publishing the checkpoint: %w", err)
	}
	return nil
}

// --- PostgreSQL

func (b *pgBackend) Resources() Resources { return b.store }

func (b *pgBackend) Identity(ctx context.Context) (Identity, bool, error) {
	origin, key, ok, err := b.store.Identity(ctx)
	return Identity{Origin: origin, PublicKey: key}, ok, err
}

func (b *pgBackend) Empty(ctx context.Context) (bool, error) { return b.store.Empty(ctx) }

// importLog reads the bundles in order (several at once) and imports them
// a few thousand entries per transaction.
func (b *pgBackend) importLog(ctx context.Context, src ImportSource) error {
	const chunk = 16 * layout.EntryBundleWidth
	size := func(context.Context) (uint64, error) { return src.Size, nil }
	var leaves [][]byte
	next := uint64(0)
	flush := func() error {
		if err := b.store.ImportEntries(ctx, next, leaves); err != nil {
			return err
		}
		next += uint64(len(leaves))
		leaves = leaves[:0]
		src.Progress(next)
		return nil
	}
	if src.Size > 0 {
		for bundle, err := range client.EntryBundles(ctx, src.Workers, size, src.Bundle, 0, src.Size) {
			if err != nil {
				return fmt.Errorf("reading entry bundles: %w", err)
			}
			entries, err := splitBundle(bundle.Data)
			if err != nil {
				return fmt.Errorf("entry bundle %d: %w", bundle.RangeInfo.Index, err)
			}
			ri := bundle.RangeInfo
			first, end := int(ri.First), int(ri.First)+int(ri.N)
			if len(entries) < end {
				return fmt.Errorf("entry bundle %d holds %d entries, want at least %d", ri.Index, len(entries), end)
			}
			leaves = append(leaves, entries[first:end]...)
			if len(leaves) >= chunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
	return b.store.PublishImported(ctx, src.Checkpoint)
}

// splitBundle returns the entries of a tlog-tiles entry bundle.
func splitBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < 2 {
			return nil, errors.New("truncated entry length")
		}
		l := int(binary.BigEndian.Uint16(b[off:]))
		off += 2
		if len(b)-off < l {
			return nil, errors.New("truncated entry")
		}
		out = append(out, b[off:off+l])
		off += l
	}
	return out, nil
}
