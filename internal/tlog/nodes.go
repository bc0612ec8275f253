package tlog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

// nodeCache answers "the hash of tree node (level, index) in the tree of
// size" for every proof and root the log computes, sharing the work among
// all requests: the adds released by one checkpoint all prove against the
// same right edge, and readers keep asking for the same full tiles.
//
// A hash tile holds only the lowest of its eight levels of nodes; the seven
// above are hashed from it. nodeCache hashes them once per tile as read at
// a width (tileTree) and keeps the result: a full tile's nodes for good (the
// tile is immutable), and the partial tiles of the right edge of recent
// tree sizes in a small cache of their own, so that a new checkpoint's
// partial tiles do not push out the full ones. Concurrent requests for the
// same tile wait for one read and one hashing.
//
// It replaces a Tessera client.ProofBuilder per request, which reads and
// rehashes every tile a proof touches (up to 255 hashes per tile) each
// time; the proofs and roots are the same, as the reference tests check.
type nodeCache struct {
	reader *cachedReader
	// full holds trees of full tiles, by (level, index) with width 0;
	// partial those of partial tiles, by (level, index, width). Both are
	// safe for concurrent use; a cached tree is never modified.
	full    *lru.Cache[tileKey, *tileTree]
	partial *lru.Cache[tileKey, *tileTree]
	// roots caches root hashes by tree size (computed from the tiles,
	// which never change for a given size).
	roots *lru.Cache[uint64, []byte]

	// mu guards building: the trees being read and hashed right now, so
	// that a second request for one waits for the first.
	mu       sync.Mutex
	building map[tileKey]*pendingTree
}

// tileTree holds the nodes of one hash tile read at one width: levels[0] is
// the tile's hashes, levels[k] the 32-byte hashes of its complete subtrees
// of height k, back to back. It is never modified once built.
type tileTree struct {
	levels [layout.TileHeight][]byte
}

// pendingTree is a tree being built; tree and err are set before done is
// closed.
type pendingTree struct {
	done chan struct{}
	tree *tileTree
	err  error
	// waiters counts the requests waiting for it besides its builder
	// (guarded by nodeCache.mu).
	waiters int
}

// partialTrees is how many partial tiles' trees are kept: a few tree sizes'
// right edges (one tile per tile level each).
const partialTrees = 64

func newNodeCache(r *cachedReader, fullTrees int) (*nodeCache, error) {
	full, err := lru.New[tileKey, *tileTree](max(fullTrees, 16))
	if err != nil {
		return nil, fmt.Errorf("node cache: %w", err)
	}
	partial, err := lru.New[tileKey, *tileTree](partialTrees)
	if err != nil {
		return nil, fmt.Errorf("node cache: %w", err)
	}
	roots, err := lru.New[uint64, []byte](256)
	if err != nil {
		return nil, fmt.Errorf("root cache: %w", err)
	}
	return &nodeCache{reader: r, full: full, partial: partial, roots: roots, building: map[tileKey]*pendingTree{}}, nil
}

// node returns the hash of the tree node id in the tree of size, which must
// contain it (a complete subtree of the first size leaves). The result is
// shared: callers must not modify it.
func (c *nodeCache) node(ctx context.Context, id compact.NodeID, size uint64) ([]byte, error) {
	tileLevel, tileIndex, nodeLevel, nodeIndex := layout.NodeCoordsToTileAddress(uint64(id.Level), id.Index)
	t, err := c.tree(ctx, tileLevel, tileIndex, layout.PartialTileSize(tileLevel, tileIndex, size))
	if err != nil {
		return nil, err
	}
	hashes := t.levels[nodeLevel]
	off := nodeIndex * hashSize
	if off+hashSize > uint64(len(hashes)) {
		return nil, fmt.Errorf("node %d/%d is not in tile %d/%d of tree size %d (%d hashes at its level)",
			id.Level, id.Index, tileLevel, tileIndex, size, len(hashes)/hashSize)
	}
	return hashes[off : off+hashSize : off+hashSize], nil
}

// tree returns the nodes of tile level/index as read at width (0: full).
// A full tile's tree serves any width: its nodes under width are the same.
func (c *nodeCache) tree(ctx context.Context, level, index uint64, width uint8) (*tileTree, error) {
	if t, ok := c.full.Get(tileKey{level, index, 0}); ok {
		return t, nil
	}
	k := tileKey{level, index, width}
	cache := c.full
	if width != 0 {
		cache = c.partial
		if t, ok := cache.Get(k); ok {
			return t, nil
		}
	}
	for {
		c.mu.Lock()
		// Looked up again under mu: a builder adds its tree to the cache
		// before it leaves building, so this finds what was just built.
		if t, ok := cache.Get(k); ok {
			c.mu.Unlock()
			return t, nil
		}
		p, waiting := c.building[k]
		if waiting {
			p.waiters++
		} else {
			p = &pendingTree{done: make(chan struct{})}
			c.building[k] = p
		}
		c.mu.Unlock()
		if !waiting {
			p.tree, p.err = c.build(ctx, level, index, width)
			if p.err == nil {
				cache.Add(k, p.tree)
			}
			c.mu.Lock()
			delete(c.building, k)
			c.mu.Unlock()
			close(p.done)
			return p.tree, p.err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.done:
		}
		// The builder's own context may have ended; ours has not.
		if p.err == nil || !isContextErr(p.err) {
			return p.tree, p.err
		}
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// build reads tile level/index at width and hashes its levels.
func (c *nodeCache) build(ctx context.Context, level, index uint64, width uint8) (*tileTree, error) {
	raw, err := c.reader.tile(ctx, level, index, width)
	if err != nil {
		return nil, err
	}
	t := &tileTree{}
	t.levels[0] = raw
	// One allocation for every level above: at most 127 + 63 + ... + 1
	// hashes for a full tile.
	n := len(raw) / hashSize
	buf := make([]byte, 0, n*hashSize)
	for k := 1; k < layout.TileHeight; k++ {
		below := t.levels[k-1]
		start := len(buf)
		for i := 0; i+2*hashSize <= len(below); i += 2 * hashSize {
			buf = append(buf, rfc6962.DefaultHasher.HashChildren(below[i:i+hashSize], below[i+hashSize:i+2*hashSize])...)
		}
		t.levels[k] = buf[start:len(buf):len(buf)]
	}
	return t, nil
}

// nodes returns the hashes of ids in the tree of size.
func (c *nodeCache) nodes(ctx context.Context, ids []compact.NodeID, size uint64) ([][]byte, error) {
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := c.node(ctx, id, size)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return hashes, nil
}

// inclusion returns the inclusion proof of index in the tree of size.
func (c *nodeCache) inclusion(ctx context.Context, index, size uint64) ([][]byte, error) {
	ns, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return c.rehash(ctx, ns, size)
}

// consistency returns the consistency proof from first to second, second
// being the tree the nodes are read at.
func (c *nodeCache) consistency(ctx context.Context, first, second uint64) ([][]byte, error) {
	ns, err := proof.Consistency(first, second)
	if err != nil {
		return nil, err
	}
	return c.rehash(ctx, ns, second)
}

func (c *nodeCache) rehash(ctx context.Context, ns proof.Nodes, size uint64) ([][]byte, error) {
	hashes, err := c.nodes(ctx, ns.IDs, size)
	if err != nil {
		return nil, err
	}
	return ns.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// root returns the root hash of the tree of size > 0 from the compact range
// of its nodes. An error wrapping errNoRange means the tiles do not hold
// such a range. The result is shared: callers must not modify it.
func (c *nodeCache) root(ctx context.Context, size uint64) ([]byte, error) {
	if r, ok := c.roots.Get(size); ok {
		return r, nil
	}
	nodes, err := c.nodes(ctx, compact.RangeNodes(0, size, nil), size)
	if err != nil {
		return nil, fmt.Errorf("reading the nodes of tree size %d: %w", size, err)
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r, err := rf.NewRange(0, size, nodes)
	if err != nil {
		return nil, fmt.Errorf("%w of size %d: %w", errNoRange, size, err)
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("hashing the tree of size %d: %w", size, err)
	}
	c.roots.Add(size, root)
	return root, nil
}

// errNoRange marks tiles that do not make up a compact range.
var errNoRange = errors.New("the tiles do not hold a compact range")

// nodeTrees is how many full tiles' trees (16 KiB each) are kept beside a
// tile and bundle cache of cacheBytes: a quarter of its size in trees, at
// least 256 (1,024 for DefaultReadCacheBytes, as many as for the 4,096
// tiles it was first sized by).
func nodeTrees(cacheBytes int64) int {
	if cacheBytes <= 0 {
		cacheBytes = DefaultReadCacheBytes
	}
	return int(max(cacheBytes/(64<<10), 256))
}
