package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/protobuf/encoding/protojson"
)

// treeVerifier checks read answers against one tree: the checkpoint read
// when the run started (its signature verified with --log-key). Tiles are
// checked with x/mod's tile hash reader, which proves every tile it loads
// up to that root; bundles by hashing their entries into the level-0 tile
// they must equal; proofs against hashes read from proven tiles, never
// against what the answer itself claims. Safe for concurrent use.
type treeVerifier struct {
	tree tlog.Tree
	// fetch reads a resource under the log's tiles URL (the same GET the
	// load sends, but not measured).
	fetch func(ctx context.Context, path string) ([]byte, error)

	mu sync.Mutex
	// proven holds tiles already proven against tree, by tile; tiles never
	// change, so a proven one is not fetched again.
	proven map[tlog.Tile][]byte
}

func newTreeVerifier(size uint64, root []byte, fetch func(context.Context, string) ([]byte, error)) *treeVerifier {
	var h tlog.Hash
	copy(h[:], root)
	return &treeVerifier{tree: tlog.Tree{N: int64(size), Hash: h}, fetch: fetch, proven: map[tlog.Tile][]byte{}}
}

// check verifies one answer to t.
func (v *treeVerifier) check(ctx context.Context, t readTarget, body []byte) error {
	switch t.kind {
	case kindCheckpoint:
		return v.checkCheckpoint(body)
	case kindTile, kindPartialTile:
		return v.checkTile(ctx, t.level, t.index, t.width, body)
	case kindBundle, kindPartialBundle:
		return v.checkBundle(ctx, t.index, t.width, body)
	case kindInclusion:
		return v.checkInclusion(ctx, t.first, body)
	case kindConsistency:
		return v.checkConsistency(ctx, t.first, body)
	}
	return fmt.Errorf("no check for kind %q", t.kind)
}

// checkCheckpoint accepts a checkpoint of the run's tree or a larger one
// (the log may grow while it is read); its signature is not checked again.
func (v *treeVerifier) checkCheckpoint(body []byte) error {
	cp, err := note.ParseCheckpoint(body)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	switch {
	case cp.Size < uint64(v.tree.N):
		return fmt.Errorf("checkpoint of size %d is older than the run's %d", cp.Size, v.tree.N)
	case cp.Size == uint64(v.tree.N) && !bytes.Equal(cp.Hash, v.tree.Hash[:]):
		return fmt.Errorf("checkpoint of size %d has root %x, the run's checkpoint %x", cp.Size, cp.Hash, v.tree.Hash[:])
	}
	return nil
}

// checkTile proves a hash tile's data against the tree.
func (v *treeVerifier) checkTile(ctx context.Context, level, index uint64, width uint8, data []byte) error {
	w := int(width)
	if w == 0 {
		w = layout.TileWidth
	}
	tile := tlog.Tile{H: layout.TileHeight, L: int(level), N: int64(index), W: w}
	if len(data) != w*tlog.HashSize {
		return fmt.Errorf("tile %s: %d bytes, want %d", layout.TilePath(level, index, width), len(data), w*tlog.HashSize)
	}
	// Ask for a hash stored in the tile: the reader must load, and so
	// prove, exactly this tile with these bytes.
	r := &tileReader{v: v, ctx: ctx, override: tile, data: data}
	if _, err := tlog.TileHashReader(v.tree, r).ReadHashes([]int64{tlog.StoredHashIndex(tile.H*tile.L, tile.N<<tile.H)}); err != nil {
		return fmt.Errorf("tile %s does not verify against the tree of size %d: %w", layout.TilePath(level, index, width), v.tree.N, err)
	}
	if !r.used {
		return fmt.Errorf("tile %s was not among the tiles proven for size %d (wrong width for the tree?)", layout.TilePath(level, index, width), v.tree.N)
	}
	return nil
}

// checkBundle hashes every entry of a bundle into the level-0 tile it must
// equal, proves that tile, and checks that each entry is a Rekor v2 entry.
func (v *treeVerifier) checkBundle(ctx context.Context, index uint64, width uint8, data []byte) error {
	var b api.EntryBundle
	if err := b.UnmarshalText(data); err != nil {
		return fmt.Errorf("bundle %s: %w", layout.EntriesPath(index, width), err)
	}
	want := int(width)
	if want == 0 {
		want = layout.EntryBundleWidth
	}
	if len(b.Entries) != want {
		return fmt.Errorf("bundle %s holds %d entries, want %d", layout.EntriesPath(index, width), len(b.Entries), want)
	}
	hashes := make([]byte, 0, want*tlog.HashSize)
	for i, e := range b.Entries {
		var entry pb.Entry
		if err := protojson.Unmarshal(e, &entry); err != nil || entry.GetSpec().GetHashedRekordV002() == nil {
			return fmt.Errorf("bundle %s: entry %d is not a hashedrekord v0.0.2 entry (%v)", layout.EntriesPath(index, width), i, err)
		}
		hashes = append(hashes, rfc6962.DefaultHasher.HashLeaf(e)...)
	}
	if err := v.checkTile(ctx, 0, index, width, hashes); err != nil {
		return fmt.Errorf("bundle %s: its leaf hashes: %w", layout.EntriesPath(index, width), err)
	}
	return nil
}

// checkInclusion verifies an inclusion proof of leaf index in the tree,
// with the leaf hash read from proven tiles.
func (v *treeVerifier) checkInclusion(ctx context.Context, index uint64, body []byte) error {
	var p rekorpb.InclusionProof
	if err := protojson.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("inclusion proof of %d: not an InclusionProof: %w", index, err)
	}
	if p.GetLogIndex() != int64(index) || p.GetTreeSize() != v.tree.N || !bytes.Equal(p.GetRootHash(), v.tree.Hash[:]) {
		return fmt.Errorf("inclusion proof of %d: answer is for index %d in size %d root %x, asked for size %d root %x",
			index, p.GetLogIndex(), p.GetTreeSize(), p.GetRootHash(), v.tree.N, v.tree.Hash[:])
	}
	leaf, err := v.hashes(ctx, tlog.StoredHashIndex(0, int64(index)))
	if err != nil {
		return err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, uint64(v.tree.N), leaf[0][:], p.GetHashes(), v.tree.Hash[:]); err != nil {
		return fmt.Errorf("inclusion proof of %d in size %d does not verify: %w", index, v.tree.N, err)
	}
	return nil
}

// checkConsistency verifies a consistency proof from size first to the
// tree, with the first tree's root computed from proven tiles.
func (v *treeVerifier) checkConsistency(ctx context.Context, first uint64, body []byte) error {
	var p client.ConsistencyProof
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("consistency proof from %d: not a ConsistencyProof: %w", first, err)
	}
	r := &tileReader{v: v, ctx: ctx}
	firstRoot, err := tlog.TreeHash(int64(first), tlog.TileHashReader(v.tree, r))
	if err != nil {
		return fmt.Errorf("computing the root of size %d from proven tiles: %w", first, err)
	}
	switch {
	case p.FirstSize != first || p.SecondSize != uint64(v.tree.N):
		return fmt.Errorf("consistency proof: answer is from %d to %d, asked from %d to %d", p.FirstSize, p.SecondSize, first, v.tree.N)
	case !bytes.Equal(p.FirstRootHash, firstRoot[:]) || !bytes.Equal(p.SecondRootHash, v.tree.Hash[:]):
		return fmt.Errorf("consistency proof from %d: roots %x, %x; the tiles give %x, %x", first, p.FirstRootHash, p.SecondRootHash, firstRoot[:], v.tree.Hash[:])
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, first, uint64(v.tree.N), p.Hashes, firstRoot[:], v.tree.Hash[:]); err != nil {
		return fmt.Errorf("consistency proof from %d to %d does not verify: %w", first, v.tree.N, err)
	}
	return nil
}

// hashes reads stored hashes through proven tiles.
func (v *treeVerifier) hashes(ctx context.Context, indexes ...int64) ([]tlog.Hash, error) {
	h, err := tlog.TileHashReader(v.tree, &tileReader{v: v, ctx: ctx}).ReadHashes(indexes)
	if err != nil {
		return nil, fmt.Errorf("reading hashes from the log's tiles: %w", err)
	}
	return h, nil
}

// tileReader serves tlog.TileHashReader: override (when set) with the
// bytes under test, other tiles from the proven cache or the log. Tiles the
// hash reader proves go into the cache.
type tileReader struct {
	v        *treeVerifier
	ctx      context.Context
	override tlog.Tile
	data     []byte
	// used is set when the override tile was proven.
	used bool
}

func (r *tileReader) Height() int { return layout.TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if r.data != nil && t == r.override {
			out[i] = r.data
			continue
		}
		r.v.mu.Lock()
		d, ok := r.v.proven[t]
		r.v.mu.Unlock()
		if !ok {
			w := uint8(0)
			if t.W < layout.TileWidth {
				w = uint8(t.W)
			}
			var err error
			if d, err = r.v.fetch(r.ctx, layout.TilePath(uint64(t.L), uint64(t.N), w)); err != nil {
				return nil, err
			}
			if len(d) != t.W*tlog.HashSize {
				return nil, fmt.Errorf("tile %s: %d bytes, want %d", layout.TilePath(uint64(t.L), uint64(t.N), w), len(d), t.W*tlog.HashSize)
			}
		}
		out[i] = d
	}
	return out, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	r.v.mu.Lock()
	defer r.v.mu.Unlock()
	for i, t := range tiles {
		if r.data != nil && t == r.override {
			r.used = true
			continue // the bytes under test are not trusted for later checks
		}
		r.v.proven[t] = data[i]
	}
}
