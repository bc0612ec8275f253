package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/mosaiclog/mosaic/pkg/idtile"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/sync/errgroup"
)

// Objects is an object store (an S3 bucket) that holds a log's public
// resources in place of the tiles and bundles tables and the published note:
// hash tiles and entry bundles at their tlog-tiles paths, and the
// checkpoint at "checkpoint". With Config.Objects set, PostgreSQL keeps only
// what coordinates the frontends (sequencing, integration state, the
// duplicate index) and the log serves every read from the objects.
//
// # Durability with objects
//
// Integration writes every changed tile and bundle object, and waits for
// each write to succeed, before it commits the new integrated size; the
// publisher writes the checkpoint object before it commits pub_coord. So no
// committed size, and no published checkpoint, ever covers an object that
// is missing. A frontend that dies between the writes and the commit leaves
// objects beyond the integrated size; the next integration rewrites them
// from the same sequenced batches, byte for byte (a partial resource's path
// names its width, so its bytes are fixed too), so a reader never sees an
// object change. Partial tiles and bundles superseded by a full one are
// deleted, best effort, after each publication (deletePartials); a frontend
// that dies first leaves them behind, which costs space and nothing else.
type Objects interface {
	// Put stores data at key, replacing what is there; immutable is false
	// for the checkpoint only (it sets the caching headers).
	Put(ctx context.Context, key string, data []byte, immutable bool) error
	// Get returns the object at key, or an error wrapping os.ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes the objects at keys; missing ones are not an error.
	Delete(ctx context.Context, keys []string) error
}

// checkpointKey is where the published checkpoint is kept.
const checkpointKey = "checkpoint"

// putParallelism bounds the object writes one integration has in flight.
const putParallelism = 16

// putIntegration writes the tiles and bundles an integration changed, at the
// widths of the new tree, and returns once all are stored.
func (s *Store) putIntegration(ctx context.Context, out *integrated) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(putParallelism)
	for k, data := range out.tiles {
		key := layout.TilePath(k.level, k.index, uint8(len(data)/hashSize%tileWidth))
		g.Go(func() error { return s.cfg.Objects.Put(ctx, key, data, true) })
	}
	for i, b := range out.bundles {
		key := layout.EntriesPath(i, uint8(b.n()%bundleWidth))
		g.Go(func() error { return s.cfg.Objects.Put(ctx, key, b.data, true) })
		if b.n() == bundleWidth && s.cfg.Identities != nil {
			g.Go(func() error { return s.putIdentities(ctx, i, b) })
		}
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("writing tiles and bundles to the object store: %w", err)
	}
	s.metrics.objectPuts.Add(float64(len(out.tiles) + len(out.bundles)))
	return nil
}

// putIdentities writes the identity tile of full bundle i. A summary that
// cannot be made is logged and skipped: it must not stop integration.
func (s *Store) putIdentities(ctx context.Context, i uint64, b *bundle) error {
	entries := make([][]byte, b.n())
	start := uint32(0)
	for k, end := range b.ends {
		entries[k] = b.data[start+2 : end] // past the uint16 length prefix
		start = end
	}
	data, err := s.cfg.Identities(entries)
	if err != nil {
		s.log.WarnContext(ctx, "no identity tile for a full entry bundle; monitors will read the bundle", "bundle", i, "err", err)
		return nil
	}
	return s.cfg.Objects.Put(ctx, idtile.Path(i), data, true)
}

// objectEdge reads the right-edge tiles and the partial last bundle of a
// tree of the given size, for integration, from the cache or the objects.
// The bundle is a copy: integration appends to it.
func (s *Store) objectEdge(ctx context.Context, size uint64) (map[tileKey][]byte, *bundle, error) {
	edge := make(map[tileKey][]byte)
	for _, k := range rightEdge(size) {
		data, err := s.ReadTile(ctx, k.level, k.index, layout.PartialTileSize(k.level, k.index, size))
		if err != nil {
			return nil, nil, fmt.Errorf("reading right-edge tile %d/%d of tree size %d: %w", k.level, k.index, size, err)
		}
		edge[k] = data
	}
	if size%bundleWidth == 0 {
		return edge, nil, nil
	}
	bi, w := size/bundleWidth, int(size%bundleWidth)
	b, ok := s.cache.bundle(bi, uint8(w))
	if !ok {
		var err error
		if b, err = s.loadBundleObject(ctx, bi, uint8(w)); err != nil {
			return nil, nil, fmt.Errorf("reading the partial entry bundle of tree size %d: %w", size, err)
		}
	}
	cp := &bundle{}
	for i := range w {
		start := uint32(0)
		if i > 0 {
			start = b.ends[i-1]
		}
		cp.add(b.data[start:b.ends[i]])
	}
	return edge, cp, nil
}

// readTileObject reads tile level/index at width p (0: full) from the
// objects: the partial object, or else the full tile truncated.
func (s *Store) readTileObject(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	data, err := s.cfg.Objects.Get(ctx, layout.TilePath(level, index, p))
	if errors.Is(err, os.ErrNotExist) && p != 0 {
		data, err = s.cfg.Objects.Get(ctx, layout.TilePath(level, index, 0))
	}
	if err != nil {
		return nil, fmt.Errorf("tile %d/%d.p/%d: %w", level, index, p, err)
	}
	s.metrics.objectGets.Inc()
	if len(data)%hashSize != 0 || len(data) > fullTileBytes || len(data) < hashesWanted(p)*hashSize {
		return nil, fmt.Errorf("%w: tile object %d/%d.p/%d has %d bytes", ErrIntegrity, level, index, p, len(data))
	}
	s.cache.addTile(tileKey{level: level, index: index}, data)
	return truncateTile(data, p), nil
}

// loadBundleObject reads entry bundle index at width p (0: full) from the
// objects, the partial object or else the full bundle, and caches it.
func (s *Store) loadBundleObject(ctx context.Context, index uint64, p uint8) (*bundle, error) {
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	data, err := s.cfg.Objects.Get(ctx, layout.EntriesPath(index, p))
	if errors.Is(err, os.ErrNotExist) && p != 0 {
		data, err = s.cfg.Objects.Get(ctx, layout.EntriesPath(index, 0))
	}
	if err != nil {
		return nil, fmt.Errorf("entry bundle %d.p/%d: %w", index, p, err)
	}
	s.metrics.objectGets.Inc()
	b, err := parseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("%w: entry bundle object %d.p/%d: %v", ErrIntegrity, index, p, err)
	}
	if b.n() < hashesWanted(p) {
		return nil, fmt.Errorf("%w: entry bundle object %d.p/%d holds %d entries", ErrIntegrity, index, p, b.n())
	}
	s.cache.addBundle(index, b)
	return b, nil
}

// parseBundle splits a tlog-tiles entry bundle (entries each prefixed with
// a big-endian uint16 length) into its entries.
func parseBundle(data []byte) (*bundle, error) {
	b := &bundle{data: data}
	for end := 0; end < len(data); {
		if len(data)-end < 2 {
			return nil, fmt.Errorf("truncated length prefix at byte %d", end)
		}
		n := int(binary.BigEndian.Uint16(data[end:]))
		if len(data)-end-2 < n {
			return nil, fmt.Errorf("entry %d claims %d bytes but %d remain", b.n(), n, len(data)-end-2)
		}
		end += 2 + n
		b.ends = append(b.ends, uint32(end))
		if b.n() > bundleWidth {
			return nil, fmt.Errorf("more than %d entries", bundleWidth)
		}
	}
	if b.n() == 0 {
		return nil, errors.New("no entries")
	}
	return b, nil
}

// partialKeys lists the partial tiles and bundles made obsolete when the
// published size grows from 'from' to 'to': every width of each tile and
// bundle that is full at 'to' but was not at 'from'.
func partialKeys(from, to uint64) []string {
	var keys []string
	for level := uint64(0); level <= maxTileLevel; level++ {
		shift := tileHeight * (level + 1)
		first, end := from>>shift, to>>shift
		if end == 0 {
			break
		}
		for j := first; j < end; j++ {
			for w := 1; w < tileWidth; w++ {
				keys = append(keys, layout.TilePath(level, j, uint8(w)))
				if level == 0 {
					keys = append(keys, layout.EntriesPath(j, uint8(w)))
				}
			}
		}
	}
	return keys
}

// deletePartials deletes the partial objects a publication from size from
// to size to made obsolete. Readers of older checkpoints then fall back to
// the full resources, as tlog-tiles clients must. Failures are counted and
// logged, not retried: what is left costs space only.
func (s *Store) deletePartials(ctx context.Context, from, to uint64) {
	keys := partialKeys(from, to)
	if len(keys) == 0 {
		return
	}
	if err := s.cfg.Objects.Delete(ctx, keys); err != nil {
		s.metrics.backgroundFailures.WithLabelValues("collecting").Inc()
		s.log.WarnContext(ctx, "deleting superseded partial tiles and bundles failed; they stay in the object store",
			"from_size", from, "to_size", to, "err", err)
	}
}

// ReadIdentityTile returns the stored identity tile of full entry bundle
// index (see putIdentities), or an error wrapping os.ErrNotExist when
// there is none: without Config.Objects and Config.Identities, or when
// integration could not make it.
func (s *Store) ReadIdentityTile(ctx context.Context, index uint64) ([]byte, error) {
	if s.cfg.Objects == nil || s.cfg.Identities == nil {
		return nil, fmt.Errorf("identity tile %d: the log keeps none: %w", index, os.ErrNotExist)
	}
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	data, err := s.cfg.Objects.Get(ctx, idtile.Path(index))
	if err != nil {
		return nil, fmt.Errorf("identity tile %d: %w", index, err)
	}
	s.metrics.objectGets.Inc()
	return data, nil
}
