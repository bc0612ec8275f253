package main

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/transparency-dev/tessera/api/layout"
)

// readKind is one kind of read request of `mosaic-load read`.
type readKind string

// The read kinds, in report order.
const (
	kindCheckpoint    readKind = "checkpoint"     // GET /api/v2/checkpoint
	kindTile          readKind = "tile"           // a full hash tile, any level
	kindPartialTile   readKind = "partial-tile"   // a right-edge hash tile .p/W
	kindBundle        readKind = "bundle"         // a full entry bundle
	kindPartialBundle readKind = "partial-bundle" // the right-edge entry bundle .p/W
	kindInclusion     readKind = "inclusion"      // GET /api/v2/log/proof/inclusion at a random index
	kindConsistency   readKind = "consistency"    // GET /api/v2/log/proof/consistency from a random size
)

var readKinds = []readKind{kindCheckpoint, kindTile, kindPartialTile, kindBundle, kindPartialBundle, kindInclusion, kindConsistency}

// mixEntry is one kind and its weight in a request mix.
type mixEntry struct {
	kind   readKind
	weight int
}

// parseMix reads a request mix: comma-separated KIND or KIND=WEIGHT (weight
// a positive integer, 1 when left out), each kind at most once, or "all"
// for every kind at weight 1.
func parseMix(s string) ([]mixEntry, error) {
	if strings.TrimSpace(s) == "all" {
		var mix []mixEntry
		for _, k := range readKinds {
			mix = append(mix, mixEntry{k, 1})
		}
		return mix, nil
	}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("--mix is empty: want KIND[=WEIGHT],... with KIND one of %s, or all", kindList())
	}
	var mix []mixEntry
	for _, part := range strings.Split(s, ",") {
		name, w, hasWeight := strings.Cut(strings.TrimSpace(part), "=")
		k := readKind(name)
		if !slices.Contains(readKinds, k) {
			return nil, fmt.Errorf("--mix: unknown kind %q (want one of %s)", name, kindList())
		}
		weight := 1
		if hasWeight {
			n, err := strconv.Atoi(w)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("--mix: weight %q of %s: want a positive integer", w, name)
			}
			weight = n
		}
		if slices.ContainsFunc(mix, func(e mixEntry) bool { return e.kind == k }) {
			return nil, fmt.Errorf("--mix: %s given twice", name)
		}
		mix = append(mix, mixEntry{k, weight})
	}
	return mix, nil
}

func kindList() string {
	s := make([]string, len(readKinds))
	for i, k := range readKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// readTarget is one request to send: its kind, its path under the log's
// base URL, and what a verification of the answer needs to know.
type readTarget struct {
	kind readKind
	path string
	// level, index and width name the tile or bundle (width 0: full).
	level, index uint64
	width        uint8
	// first is the consistency proof's first size, or the inclusion
	// proof's leaf index.
	first uint64
}

// readPlan picks requests within the tree of size size (the checkpoint read
// when the run started), so every answer can be checked against it.
type readPlan struct {
	size uint64
	// fullTiles[l] is the number of full hash tiles at level l.
	fullTiles []uint64
	// partialTiles lists the right-edge partial hash tiles.
	partialTiles []readTarget
	// pick chooses a kind by weight: kinds[i] with probability
	// weights[i]/total.
	kinds   []readKind
	weights []int
	total   int
}

// newReadPlan prepares the mix for a tree of size entries, and refuses a
// kind the tree cannot answer (no full tile yet, no partial bundle when the
// size is a multiple of 256).
func newReadPlan(size uint64, mix []mixEntry) (*readPlan, error) {
	if size == 0 {
		return nil, fmt.Errorf("the log is empty: fill it first (mosaic-load --entries N)")
	}
	p := &readPlan{size: size}
	for l, n := uint64(0), size; n > 0; l, n = l+1, n>>layout.TileHeight {
		p.fullTiles = append(p.fullTiles, n>>layout.TileHeight)
		if w := n % layout.EntryBundleWidth; w != 0 {
			idx := n >> layout.TileHeight
			p.partialTiles = append(p.partialTiles, readTarget{kind: kindPartialTile,
				path: layout.TilePath(l, idx, uint8(w)), level: l, index: idx, width: uint8(w)})
		}
		if n>>layout.TileHeight == 0 {
			break
		}
	}
	for _, e := range mix {
		switch {
		case (e.kind == kindTile || e.kind == kindBundle) && p.fullTiles[0] == 0:
			return nil, fmt.Errorf("--mix %s: the log's %d entries fill no whole tile yet (256 needed)", e.kind, size)
		case e.kind == kindPartialBundle && size%layout.EntryBundleWidth == 0:
			return nil, fmt.Errorf("--mix %s: the log's size %d is a multiple of 256, so it has no partial bundle", e.kind, size)
		case e.kind == kindPartialTile && len(p.partialTiles) == 0:
			return nil, fmt.Errorf("--mix %s: the log's size %d leaves no partial tile", e.kind, size)
		}
		p.kinds = append(p.kinds, e.kind)
		p.weights = append(p.weights, e.weight)
		p.total += e.weight
	}
	if p.total == 0 {
		return nil, fmt.Errorf("--mix names no kind")
	}
	return p, nil
}

// next picks the next request; rng is the caller's own (not shared).
func (p *readPlan) next(rng *rand.Rand) readTarget {
	r := rng.IntN(p.total)
	k := p.kinds[len(p.kinds)-1]
	for i, w := range p.weights {
		if r < w {
			k = p.kinds[i]
			break
		}
		r -= w
	}
	switch k {
	case kindCheckpoint:
		return readTarget{kind: k, path: layout.CheckpointPath}
	case kindTile:
		l, n := p.randomFullTile(rng)
		return readTarget{kind: k, path: layout.TilePath(l, n, 0), level: l, index: n}
	case kindPartialTile:
		return p.partialTiles[rng.IntN(len(p.partialTiles))]
	case kindBundle:
		n := rng.Uint64N(p.fullTiles[0])
		return readTarget{kind: k, path: layout.EntriesPath(n, 0), index: n}
	case kindPartialBundle:
		n, w := p.size/layout.EntryBundleWidth, uint8(p.size%layout.EntryBundleWidth)
		return readTarget{kind: k, path: layout.EntriesPath(n, w), index: n, width: w}
	case kindInclusion:
		i := rng.Uint64N(p.size)
		q := url.Values{"index": {strconv.FormatUint(i, 10)}, "treeSize": {strconv.FormatUint(p.size, 10)}}
		return readTarget{kind: k, path: "log/proof/inclusion?" + q.Encode(), first: i}
	default: // kindConsistency
		f := 1 + rng.Uint64N(p.size)
		q := url.Values{"first": {strconv.FormatUint(f, 10)}, "second": {strconv.FormatUint(p.size, 10)}}
		return readTarget{kind: k, path: "log/proof/consistency?" + q.Encode(), first: f}
	}
}

// randomFullTile picks uniformly among all full hash tiles of the tree.
func (p *readPlan) randomFullTile(rng *rand.Rand) (level, index uint64) {
	var all uint64
	for _, n := range p.fullTiles {
		all += n
	}
	r := rng.Uint64N(all)
	for l, n := range p.fullTiles {
		if r < n {
			return uint64(l), r
		}
		r -= n
	}
	return 0, 0 // unreachable: r < all
}
