package audit

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"
)

// tileID names a hash tile at the audited size: Width 0 is a full tile.
type tileID struct {
	Level, Index uint64
	Width        uint8
}

func (t tileID) String() string { return tileName(t.Level, t.Index, t.Width) }

func tileName(level, index uint64, w uint8) string {
	if w == 0 {
		return fmt.Sprintf("tile %d/%d", level, index)
	}
	return fmt.Sprintf("tile %d/%d.p/%d", level, index, w)
}

func bundleName(index uint64, w uint8) string {
	if w == 0 {
		return fmt.Sprintf("entry bundle %d", index)
	}
	return fmt.Sprintf("entry bundle %d.p/%d", index, w)
}

// fetched is one served resource: Served is the width the log returned
// (0: full), which may be full where a partial was asked for.
type fetched struct {
	Data   []byte
	Served uint8
}

// unit is everything checked once bundle Index has been hashed: the
// bundle, its level-0 tile, and the higher tiles it completes.
type unit struct {
	Index  uint64
	Width  uint8
	Bundle fetched
	Tiles  []tileID
	Served []fetched
}

// tilesAfter lists the tiles whose last hash is derived from bundle i of a
// log of size: the level-0 tile i, each full higher tile that ends with
// bundle i, and, after the last bundle, every higher partial tile.
func tilesAfter(i, size uint64) []tileID {
	ids := []tileID{{0, i, layout.PartialTileSize(0, i, size)}}
	full := (i+1)*layout.EntryBundleWidth <= size
	for l := uint64(1); full && 8*l < 64; l++ {
		span := uint64(1) << (8 * l) // bundles per level-l tile
		if (i+1)%span != 0 {
			break
		}
		ids = append(ids, tileID{l, (i+1)/span - 1, 0})
	}
	last := i == (size-1)/layout.EntryBundleWidth
	for l := uint64(1); last && 8*l < 64 && size>>(8*l) > 0; l++ {
		if w := layout.PartialTileSize(l, size>>(8*(l+1)), size); w > 0 {
			ids = append(ids, tileID{l, size >> (8 * (l + 1)), w})
		}
	}
	return ids
}

// fetch downloads bundle i and the tiles checked after it.
func (a *auditor) fetch(ctx context.Context, i uint64) (*unit, error) {
	u := &unit{Index: i, Width: layout.PartialTileSize(0, i, a.cp.Size), Tiles: tilesAfter(i, a.cp.Size)}
	data, served, err := a.c.FetchEntryBundle(ctx, i, u.Width)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", bundleName(i, u.Width), err)
	}
	u.Bundle = fetched{data, served}
	for _, t := range u.Tiles {
		data, served, err := a.c.FetchTile(ctx, t.Level, t.Index, t.Width)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", t, err)
		}
		u.Served = append(u.Served, fetched{data, served})
	}
	return u, nil
}

// check hashes bundle u into the tree and compares its tiles.
func (a *auditor) check(ctx context.Context, u *unit) error {
	entries, err := a.entries(u)
	if err != nil {
		return err
	}
	leaves := make([][]byte, len(entries))
	for k, e := range entries {
		leaves[k] = rfc6962.DefaultHasher.HashLeaf(e)
		if err := a.rng.Append(leaves[k], a.visit); err != nil {
			return fmt.Errorf("rebuilding the tree at %d: %w", a.rng.End(), err)
		}
	}
	for k, t := range u.Tiles {
		hashes, err := tileHashes(t, u.Served[k])
		if err != nil {
			return err
		}
		if t.Level == 0 {
			err = a.checkLeaves(ctx, u, hashes, leaves)
		} else {
			err = a.checkNodes(t, hashes)
		}
		if err != nil {
			return err
		}
	}
	a.report.Entries += uint64(len(entries))
	a.report.Bundles++
	a.report.Tiles += uint64(len(u.Tiles))
	a.report.Bytes += int64(len(u.Bundle.Data))
	for _, s := range u.Served {
		a.report.Bytes += int64(len(s.Data))
	}
	a.progress.Update(a.report.Entries, a.cp.Size)
	return nil
}

// entries parses bundle u and checks it holds exactly its width.
func (a *auditor) entries(u *unit) ([][]byte, error) {
	name := bundleName(u.Index, u.Width)
	var b api.EntryBundle
	if err := b.UnmarshalText(u.Bundle.Data); err != nil {
		return nil, &IntegrityError{Resource: name, Detail: "malformed: " + err.Error()}
	}
	want, served := widthOf(u.Width), widthOf(u.Bundle.Served)
	if len(b.Entries) != served {
		return nil, &IntegrityError{Resource: name, Detail: fmt.Sprintf(
			"width mismatch: holds %d entries, want %d", len(b.Entries), served)}
	}
	return b.Entries[:want], nil
}

func widthOf(w uint8) int {
	if w == 0 {
		return layout.EntryBundleWidth
	}
	return int(w)
}

// tileHashes splits a served tile into hashes, checking its width, and
// returns the ones the audited size covers.
func tileHashes(t tileID, f fetched) ([][]byte, error) {
	var ht api.HashTile
	if err := ht.UnmarshalText(f.Data); err != nil {
		return nil, &IntegrityError{Resource: t.String(), Detail: "malformed: " + err.Error()}
	}
	if got, want := len(ht.Nodes), widthOf(f.Served); got != want {
		return nil, &IntegrityError{Resource: t.String(), Detail: fmt.Sprintf(
			"width mismatch: holds %d hashes, want %d", got, want)}
	}
	return ht.Nodes[:widthOf(t.Width)], nil
}

// visit keeps the rebuilt nodes that higher tiles hold (tree levels 8, 16,
// ...). The compact range reports them in index order per level.
func (a *auditor) visit(id compact.NodeID, hash []byte) {
	if id.Level == 0 || id.Level%8 != 0 {
		return
	}
	l, t, pos := uint64(id.Level/8), id.Index>>8, id.Index&0xff
	if pos == 0 {
		a.nodes[l], a.nodeTile[l] = a.nodes[l][:0], t
	}
	if a.nodeTile[l] == t && uint64(len(a.nodes[l])) == pos {
		a.nodes[l] = append(a.nodes[l], hash)
	}
}

// checkNodes compares a higher tile with the rebuilt nodes. Every level-0
// tile before it matched the entries, so a difference is the tile's.
func (a *auditor) checkNodes(t tileID, served [][]byte) error {
	derived := a.nodes[t.Level]
	if a.nodeTile[t.Level] != t.Index || len(derived) < len(served) {
		return fmt.Errorf("internal error: %s checked before the tree below it was rebuilt (%d of %d hashes)",
			t, len(derived), len(served))
	}
	for k, h := range served {
		if string(h) != string(derived[k]) {
			return &IntegrityError{Resource: t.String(), Detail: fmt.Sprintf(
				"hash %d differs: got %s, want %s (rebuilt from the entries)", k, hex.EncodeToString(h), hex.EncodeToString(derived[k]))}
		}
	}
	return nil
}

// checkLeaves compares the level-0 tile of bundle u with the entries'
// leaf hashes and, on a difference, finds out which resource is wrong.
func (a *auditor) checkLeaves(ctx context.Context, u *unit, served, leaves [][]byte) error {
	for k := range leaves {
		if string(served[k]) == string(leaves[k]) {
			continue
		}
		return a.blame(ctx, u, uint64(k), served[k], leaves[k])
	}
	return nil
}

// blame decides between the entry and the tile hash for a leaf: the one
// whose inclusion proof (built from the log's tiles, which do not include
// the disputed hash itself) reaches the signed root is right.
func (a *auditor) blame(ctx context.Context, u *unit, k uint64, tileHash, entryHash []byte) error {
	index := u.Index*layout.EntryBundleWidth + k
	tile := tileName(0, u.Index, u.Width)
	pb, err := tclient.NewProofBuilder(ctx, a.cp.Size, a.c.ReadTile)
	var hashes [][]byte
	if err == nil {
		hashes, err = pb.InclusionProof(ctx, index)
	}
	if err != nil {
		return &IntegrityError{Resource: tile, Detail: fmt.Sprintf(
			"hash %d differs from entry %d of %s (log index %d): got %s, entry hashes to %s; no inclusion proof to tell which is wrong: %v",
			k, k, bundleName(u.Index, u.Width), index, hex.EncodeToString(tileHash), hex.EncodeToString(entryHash), err)}
	}
	verifies := func(leaf []byte) bool {
		return proof.VerifyInclusion(rfc6962.DefaultHasher, index, a.cp.Size, leaf, hashes, a.cp.Hash) == nil
	}
	switch {
	case verifies(entryHash):
		return &IntegrityError{Resource: tile, Detail: fmt.Sprintf(
			"hash %d differs: got %s, want %s (entry %d of %s, log index %d, hashes to it and is included under the signed root)",
			k, hex.EncodeToString(tileHash), hex.EncodeToString(entryHash), k, bundleName(u.Index, u.Width), index)}
	case verifies(tileHash):
		return &IntegrityError{Resource: bundleName(u.Index, u.Width), Detail: fmt.Sprintf(
			"entry %d (log index %d) is not the logged entry: it hashes to %s, the tree holds %s (%s hash %d, included under the signed root)",
			k, index, hex.EncodeToString(entryHash), hex.EncodeToString(tileHash), tile, k)}
	default:
		return &IntegrityError{Resource: bundleName(u.Index, u.Width) + " and " + tile, Detail: fmt.Sprintf(
			"entry %d (log index %d) hashes to %s, the tile holds %s, and neither is included under the signed root",
			k, index, hex.EncodeToString(entryHash), hex.EncodeToString(tileHash))}
	}
}
