package postgres

import (
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
)

// tileKey names a hash tile.
type tileKey struct {
	level, index uint64
}

// resourceCache keeps recently read or written FULL tiles and entry bundles.
// Full resources never change, so entries never go stale; partial ones are
// never cached. Safe for concurrent use.
type resourceCache struct {
	tiles   *lru.Cache[tileKey, []byte] // full tile (8192 bytes) by coordinates
	bundles *lru.Cache[uint64, *bundle] // full bundle by index
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

func (c *resourceCache) tile(k tileKey) ([]byte, bool) { return c.tiles.Get(k) }

func (c *resourceCache) addTile(k tileKey, full []byte) { c.tiles.Add(k, full) }

func (c *resourceCache) bundle(i uint64) (*bundle, bool) { return c.bundles.Get(i) }

func (c *resourceCache) addBundle(i uint64, full *bundle) { c.bundles.Add(i, full) }
