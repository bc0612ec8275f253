package tlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
)

// cachedReader serves tiles and entry bundles of exactly the requested width
// and keeps full (immutable) ones in memory, within a bound in bytes, so
// that proofs and readers rarely touch storage; concurrent misses of one
// resource share one storage read.
type cachedReader struct {
	tessera.LogReader
	// cache holds full tiles and bundles (width 0) and partial tiles at
	// the width read (a partial tile of a given width never changes).
	// Partial bundles are not kept: they are large and each new checkpoint
	// makes another.
	cache *byteCache
}

// tileKey names a tile as read at a width; width 0 is the full tile. A tile
// of a given width never changes, so any of them may be cached.
type tileKey struct {
	level, index uint64
	width        uint8
}

const hashSize = 32

func newCachedReader(r tessera.LogReader, maxBytes int64) *cachedReader {
	return &cachedReader{LogReader: r, cache: newByteCache(maxBytes)}
}

// ReadTile implements the fetcher Tessera's proof builder uses: it may
// return more hashes than asked for (a full tile for a partial request).
func (c *cachedReader) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	if t, ok := c.cache.get(resourceKey{level: level, index: index}); ok {
		return t, nil
	}
	k := resourceKey{level: level, index: index, width: p}
	t, err := c.cache.load(ctx, k, func(ctx context.Context) ([]byte, error) {
		t, err := c.LogReader.ReadTile(ctx, level, index, p)
		if errors.Is(err, ErrNotFound) && p > 0 {
			t, err = c.widerPartial(ctx, p, func(size uint64) uint8 { return layout.PartialTileSize(level, index, size) },
				func(w uint8) ([]byte, error) { return c.LogReader.ReadTile(ctx, level, index, w) })
		}
		if err != nil {
			return nil, err
		}
		switch {
		case len(t) == layout.TileWidth*hashSize:
			c.cache.add(resourceKey{level: level, index: index}, t)
		case p > 0 && len(t) >= int(p)*hashSize:
			c.cache.add(k, t[:int(p)*hashSize])
		}
		return t, nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading tile %d/%d.p/%d: %w", level, index, p, err)
	}
	return t, nil
}

// tile returns exactly width hashes (0: a full tile).
func (c *cachedReader) tile(ctx context.Context, level, index uint64, width uint8) ([]byte, error) {
	t, err := c.ReadTile(ctx, level, index, width)
	if err != nil {
		return nil, err
	}
	want := int(width) * hashSize
	if width == 0 {
		want = layout.TileWidth * hashSize
	}
	if len(t) < want || len(t)%hashSize != 0 {
		return nil, fmt.Errorf("tile %d/%d has %d bytes, want %d: %w", level, index, len(t), want, ErrNotFound)
	}
	return t[:want], nil
}

// bundle returns exactly width entries (0: a full bundle).
func (c *cachedReader) bundle(ctx context.Context, index uint64, width uint8) ([]byte, error) {
	full := resourceKey{entries: true, index: index}
	b, ok := c.cache.get(full)
	if !ok {
		var err error
		b, err = c.cache.load(ctx, resourceKey{entries: true, index: index, width: width}, func(ctx context.Context) ([]byte, error) {
			b, err := c.ReadEntryBundle(ctx, index, width)
			if errors.Is(err, ErrNotFound) && width > 0 {
				b, err = c.widerPartial(ctx, width, func(size uint64) uint8 { return layout.PartialTileSize(0, index, size) },
					func(w uint8) ([]byte, error) { return c.ReadEntryBundle(ctx, index, w) })
			}
			if err != nil {
				return nil, err
			}
			if n, end, err := bundlePrefix(b, layout.EntryBundleWidth); err == nil && n == layout.EntryBundleWidth && end == len(b) {
				c.cache.add(full, b)
			}
			return b, nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading entry bundle %d.p/%d: %w", index, width, err)
		}
	}
	want := int(width)
	if width == 0 {
		want = layout.EntryBundleWidth
	}
	n, end, err := bundlePrefix(b, want)
	if err != nil {
		return nil, fmt.Errorf("entry bundle %d: %w", index, err)
	}
	if n < want {
		return nil, fmt.Errorf("entry bundle %d has %d entries, want %d: %w", index, n, want, ErrNotFound)
	}
	return b[:end:end], nil
}

// widerPartial serves a partial resource of width p that storage does not
// hold (it keeps only the widths it wrote) from the current, wider partial:
// a partial's prefix never changes, so truncating it is exact.
func (c *cachedReader) widerPartial(ctx context.Context, p uint8, widthAt func(size uint64) uint8, read func(uint8) ([]byte, error)) ([]byte, error) {
	size, err := c.IntegratedSize(ctx)
	if err != nil {
		return nil, err
	}
	w := widthAt(size)
	if w <= p {
		// Either the tile is full now (storage already fell back to the
		// full one and it was missing too) or it is not that wide yet.
		return nil, ErrNotFound
	}
	return read(w)
}

// bundlePrefix walks the uint16-length-prefixed entries of b and returns how
// many of the first want entries it holds and where they end.
func bundlePrefix(b []byte, want int) (n, end int, err error) {
	for n < want && end < len(b) {
		if len(b)-end < 2 {
			return n, end, fmt.Errorf("truncated length prefix at byte %d", end)
		}
		size := int(binary.BigEndian.Uint16(b[end:]))
		if len(b)-end-2 < size {
			return n, end, fmt.Errorf("entry %d claims %d bytes but only %d remain", n, size, len(b)-end-2)
		}
		end += 2 + size
		n++
	}
	return n, end, nil
}

// newReadCaches wraps reader in the tile and bundle cache, bounded by
// maxBytes (0: DefaultReadCacheBytes), and the node cache proofs and roots
// are built from, sized in proportion.
func newReadCaches(reader tessera.LogReader, maxBytes int64) (*cachedReader, *nodeCache, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultReadCacheBytes
	}
	cr := newCachedReader(reader, maxBytes)
	nodes, err := newNodeCache(cr, nodeTrees(maxBytes))
	if err != nil {
		return nil, nil, err
	}
	return cr, nodes, nil
}
