package postgres

import (
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
)

// tileKey names a hash tile.
type tileKey struct {
	level, index uint64
}

// resourceCache keeps recently read or written tiles and entry bundles,
// full or partial. Only committed data enters it. A tile or bundle only
// grows, and its prefix never changes, so a cached one serves exactly any
// request for at most as many hashes or entries as it holds; a full one
// never goes stale. Safe for concurrent use.
type resourceCache struct {
	tiles   *lru.Cache[tileKey, []byte] // tile (up to 8192 bytes) by coordinates
	bundles *lru.Cache[uint64, *bundle] // bundle by index
}

func newResourceCache(tiles, bundles int) (*resourceCache, error) {
	t, err := lru.New[tileKey, []byte](tiles)
	if err != nil {
		return nil, fmt.Errorf("tile cache: %w", err)
	}
	b, err := lru.New[uint64, *bundle](bundles)
	if err != nil {
		return nil, fmt.Errorf("bundle cache: %w", err)
	}
	return &resourceCache{tiles: t, bundles: b}, nil
}

// tile returns tile k if the cached copy holds at least p hashes (256 for
// p == 0).
func (c *resourceCache) tile(k tileKey, p uint8) ([]byte, bool) {
	data, ok := c.tiles.Get(k)
	if !ok || len(data) < hashesWanted(p)*hashSize {
		return nil, false
	}
	return data, true
}

// addTile caches data as tile k unless a copy at least as wide is cached.
func (c *resourceCache) addTile(k tileKey, data []byte) {
	if old, ok := c.tiles.Peek(k); !ok || len(old) < len(data) {
		c.tiles.Add(k, data)
	}
}

// bundle returns bundle i if the cached copy holds at least p entries (256
// for p == 0).
func (c *resourceCache) bundle(i uint64, p uint8) (*bundle, bool) {
	b, ok := c.bundles.Get(i)
	if !ok || b.n() < hashesWanted(p) {
		return nil, false
	}
	return b, true
}

// addBundle caches b as bundle i unless a copy at least as wide is cached.
func (c *resourceCache) addBundle(i uint64, b *bundle) {
	if old, ok := c.bundles.Peek(i); !ok || old.n() < b.n() {
		c.bundles.Add(i, b)
	}
}

// hashesWanted is the width a request for .p/p asks for: 256 for p == 0.
func hashesWanted(p uint8) int {
	if p == 0 {
		return tileWidth
	}
	return int(p)
}
