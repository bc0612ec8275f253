package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"

	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/pkg/idtile"
)

// Reading the main log through its identity tiles (docs/identity-tiles.md).
//
// For each full bundle it would read, the scan first reads the bundle's
// identity tile. When no record of it can match the watch list, the bundle
// is not read: its hash in the tree (the Merkle node over its 256 leaves,
// from the level-1 tile) goes into the compact range instead of its
// leaves, so the scan's root check against the signed checkpoint still
// covers the whole log, and every bundle that is read is still hashed into
// it. What the monitor can no longer check is the tile's word: a log that
// hides an entry's signer in its identity tile hides the entry from the
// monitor (--full-scan reads everything). A bundle without an identity tile
// (404) is read, and so is every later bundle of that scan (a log that
// serves none costs one request more than a full scan, not one per
// bundle), as are the last, partial bundle and a first bundle the scan
// starts inside of.

// scanCounts are one scan's reads, reported when it ends.
type scanCounts struct {
	read, skipped, noTile atomic.Int64
	// bytes are the bodies of the bundles, identity tiles and level-1
	// tiles read.
	bytes atomic.Int64
}

func (c *scanCounts) report(w io.Writer, name, origin string, idTiles bool) {
	read, skipped := c.read.Load(), c.skipped.Load()
	if read+skipped == 0 {
		return
	}
	if !idTiles {
		fmt.Fprintf(w, "monitor %s %s: full scan: read %d entry bundles (%d bytes)\n", name, origin, read, c.bytes.Load())
		return
	}
	fmt.Fprintf(w, "monitor %s %s: identity tiles: read %d of %d entry bundles, skipped %d (%d bundles had no identity tile); %d bytes fetched\n",
		name, origin, read, read+skipped, skipped, c.noTile.Load(), c.bytes.Load())
}

// skippable reads the identity tile of full bundle i and reports whether
// none of its records can match the watch list. A bundle without one is
// not skippable; a tile that does not parse is an error.
func (s *scanner) skippable(ctx context.Context, i uint64) (bool, error) {
	data, err := s.f.c.IdentityTile(ctx, i)
	if errors.Is(err, fs.ErrNotExist) {
		// A log that serves none (not Mosaic, or an older one) would
		// cost a request per bundle: the rest of the scan reads them.
		s.counts.noTile.Add(1)
		s.noTiles.Store(true)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the identity tile of entry bundle %d: %w", i, err)
	}
	s.counts.bytes.Add(int64(len(data)))
	recs, err := idtile.Parse(data)
	if err != nil {
		return false, fmt.Errorf("the identity tile of entry bundle %d is unusable (%v); the log serves a corrupt one: "+
			"monitor it with --full-scan", i, err)
	}
	for _, r := range recs {
		if s.f.m.cfg.Watch.mayMatch(r) {
			return false, nil
		}
	}
	return true, nil
}

// mayMatch reports whether an entry with identity record r could match
// the watch list, by the rules Match applies to the entry. A record does
// not hold a certificate's own fingerprint, so with fingerprint rules any
// record of a certificate-signed entry (SANs or issuer) may match.
func (wl *WatchList) mayMatch(r idtile.Record) bool {
	if wl == nil {
		return false
	}
	if len(wl.Fingerprints) > 0 && (len(r.SANs) > 0 || r.Issuer != "") {
		return true
	}
	return len(wl.Match(&entry.Facts{Digest: r.Digest, KeyFingerprint: r.Key, SANs: r.SANs, Issuer: r.Issuer})) > 0
}

// nodeTiles reads the hashes of whole bundles from the level-1 tiles of
// the tree of a checkpoint's size, each tile once.
type nodeTiles struct {
	f      *follower
	size   uint64
	counts *scanCounts
	mu     sync.Mutex
	// tiles holds each level-1 tile read, by index, as its load.
	tiles map[uint64]*tileLoad
}

type tileLoad struct {
	once   sync.Once
	hashes [][]byte
	err    error
}

func newNodeTiles(f *follower, size uint64, counts *scanCounts) *nodeTiles {
	return &nodeTiles{f: f, size: size, counts: counts, tiles: map[uint64]*tileLoad{}}
}

// node returns the hash of full bundle i: hash k of level-1 tile i/256.
func (n *nodeTiles) node(ctx context.Context, i uint64) ([]byte, error) {
	index := i / layout.TileWidth
	n.mu.Lock()
	t := n.tiles[index]
	if t == nil {
		t = &tileLoad{}
		n.tiles[index] = t
		delete(n.tiles, index-1) // bundles are skipped in about index order
	}
	n.mu.Unlock()
	t.once.Do(func() {
		data, err := n.f.c.ReadTile(ctx, 1, index, layout.PartialTileSize(1, index, n.size))
		if err != nil {
			t.err = fmt.Errorf("reading level-1 tile %d of tree size %d: %w", index, n.size, err)
			return
		}
		n.counts.bytes.Add(int64(len(data)))
		var ht api.HashTile
		if err := ht.UnmarshalText(data); err != nil {
			t.err = fmt.Errorf("level-1 tile %d is malformed: %w", index, err)
			return
		}
		t.hashes = ht.Nodes
	})
	if t.err != nil {
		return nil, t.err
	}
	k := i % layout.TileWidth
	if k >= uint64(len(t.hashes)) {
		return nil, fmt.Errorf("level-1 tile %d of tree size %d holds %d hashes, not that of bundle %d", index, n.size, len(t.hashes), i)
	}
	return t.hashes[k], nil
}
