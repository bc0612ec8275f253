package tlog

import (
	"container/list"
	"context"
	"sync"
)

// DefaultReadCacheBytes is the default bound of a log's cache of tiles and
// entry bundles (Config.ReadCacheBytes): every tile and bundle of a
// 100,000-entry log (about 50 MB of bundles at 500 bytes an entry), or the
// hottest ones of a larger log.
const DefaultReadCacheBytes = 64 << 20

// resourceKey names a hash tile (entries false) or an entry bundle (entries
// true, level 0) as read at a width; width 0 is the full resource.
type resourceKey struct {
	entries      bool
	level, index uint64
	width        uint8
}

// entryOverhead is what one cached resource costs beyond its bytes (the
// list element, the map entry, the slice header), counted against the
// bound so that many small partial tiles cannot exceed it.
const entryOverhead = 128

// byteCache is a least-recently-used cache of immutable resources bounded
// by their total size in bytes, which also makes concurrent misses of one
// resource wait for a single read. Its methods are safe for concurrent use;
// the cached slices are shared and must not be modified.
type byteCache struct {
	// mu guards everything below.
	mu sync.Mutex
	// max bounds used, the bytes of the resources held plus entryOverhead
	// each.
	max, used int64
	// order holds *cacheEntry, most recently used first; items indexes it.
	order list.List
	items map[resourceKey]*list.Element
	// reading holds the reads in progress, which later misses of the same
	// key wait for.
	reading map[resourceKey]*resourceRead
}

type cacheEntry struct {
	key  resourceKey
	data []byte
}

// resourceRead is a read in progress; data and err are set before done is
// closed.
type resourceRead struct {
	done chan struct{}
	data []byte
	err  error
}

func newByteCache(maxBytes int64) *byteCache {
	if maxBytes <= 0 {
		maxBytes = DefaultReadCacheBytes
	}
	return &byteCache{max: maxBytes, items: map[resourceKey]*list.Element{}, reading: map[resourceKey]*resourceRead{}}
}

// get returns the resource k if it is cached.
func (c *byteCache) get(k resourceKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).data, true
}

// add caches data as k, evicting the least recently used resources beyond
// the bound. A resource larger than an eighth of the bound is not cached:
// it would push out too much else.
func (c *byteCache) add(k resourceKey, data []byte) {
	cost := int64(len(data)) + entryOverhead
	if cost > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.order.PushFront(&cacheEntry{key: k, data: data})
	c.used += cost
	for c.used > c.max {
		last := c.order.Back()
		e := c.order.Remove(last).(*cacheEntry)
		delete(c.items, e.key)
		c.used -= int64(len(e.data)) + entryOverhead
	}
}

// load returns the resource k if it is cached, and otherwise what read
// returns, sharing one call of read among the concurrent callers for the
// same k. read itself adds what is cacheable (before the callers arriving
// later stop finding the read in progress). read runs with the context of
// the caller that started it; when that caller leaves and its read fails
// for it, a caller still waiting reads again.
func (c *byteCache) load(ctx context.Context, k resourceKey, read func(context.Context) ([]byte, error)) ([]byte, error) {
	for {
		c.mu.Lock()
		if e, ok := c.items[k]; ok {
			c.order.MoveToFront(e)
			c.mu.Unlock()
			return e.Value.(*cacheEntry).data, nil
		}
		r, waiting := c.reading[k]
		if !waiting {
			r = &resourceRead{done: make(chan struct{})}
			c.reading[k] = r
		}
		c.mu.Unlock()
		if !waiting {
			r.data, r.err = read(ctx)
			c.mu.Lock()
			delete(c.reading, k)
			c.mu.Unlock()
			close(r.done)
			return r.data, r.err
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if r.err == nil || !isContextErr(r.err) {
			return r.data, r.err
		}
	}
}
