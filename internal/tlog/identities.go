package tlog

import (
	"context"
	"errors"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// IdentityTiles is where a log's identity tiles (pkg/idtile) come from.
type IdentityTiles struct {
	// Make summarises the entries of a full entry bundle as an identity
	// tile (required).
	Make func(leaves [][]byte) ([]byte, error)
	// Stored, if set, reads the identity tile the store keeps beside
	// bundle index (PostgreSQL with --tiles), or fails with an error
	// wrapping ErrNotFound when it has none; the tile is then derived
	// from the bundle, as it always is without Stored.
	Stored func(ctx context.Context, index uint64) ([]byte, error)
	// CacheSize bounds the tiles kept in memory, stored or derived (default
	// DefaultIdentityCacheSize).
	CacheSize int
}

// DefaultIdentityCacheSize is how many identity tiles a log keeps
// in memory: about 25 KB each for key-signed entries, so about 100 MB at
// most, enough for every full bundle of a 1,000,000-entry log.
const DefaultIdentityCacheSize = 4096

// NoIdentityTileError says why a log has no identity tile for a bundle.
// It wraps ErrNotFound.
type NoIdentityTileError struct {
	Index  uint64
	Reason string
}

func (e *NoIdentityTileError) Error() string {
	return fmt.Sprintf("entry bundle %d has no identity tile: %s", e.Index, e.Reason)
}

func (e *NoIdentityTileError) Unwrap() error { return ErrNotFound }

// identityTiles serves a log's identity tiles.
type identityTiles struct {
	cfg IdentityTiles
	// cache holds tiles already read or derived: both are immutable.
	cache *lru.Cache[uint64, []byte]
}

func newIdentityTiles(cfg *IdentityTiles) (*identityTiles, error) {
	if cfg == nil {
		return nil, nil
	}
	if cfg.Make == nil {
		return nil, errors.New("identity tiles: no Make function")
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = DefaultIdentityCacheSize
	}
	c, err := lru.New[uint64, []byte](size)
	if err != nil {
		return nil, fmt.Errorf("identity tile cache: %w", err)
	}
	return &identityTiles{cfg: *cfg, cache: c}, nil
}

// ReadIdentityTile returns the identity tile of entry bundle index: the
// stored one if the store keeps it, else one derived from the bundle; either
// is cached. Only a full bundle the published checkpoint covers has one;
// for any other, and on a log without identity tiles, the error is a
// *NoIdentityTileError.
func (l *Log) ReadIdentityTile(ctx context.Context, index uint64) ([]byte, error) {
	if l.idTiles == nil {
		return nil, &NoIdentityTileError{index, "this log keeps no identity tiles"}
	}
	cp, _, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if full := cp.Size / layout.EntryBundleWidth; index >= full {
		reason := fmt.Sprintf("only full bundles have one, and the published checkpoint (size %d) covers %d full bundles", cp.Size, full)
		return nil, &NoIdentityTileError{index, reason}
	}
	if data, ok := l.idTiles.cache.Get(index); ok {
		return data, nil
	}
	if l.idTiles.cfg.Stored != nil {
		data, err := l.idTiles.cfg.Stored(ctx, index)
		if err == nil {
			l.idTiles.cache.Add(index, data)
			return data, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	raw, err := l.reader.bundle(ctx, index, 0)
	if err != nil {
		return nil, err
	}
	var b api.EntryBundle
	if err := b.UnmarshalText(raw); err != nil {
		return nil, fmt.Errorf("integrity failure: entry bundle %d: %w", index, err)
	}
	data, err := l.idTiles.cfg.Make(b.Entries)
	if err != nil {
		return nil, fmt.Errorf("making the identity tile of entry bundle %d: %w", index, err)
	}
	l.idTiles.cache.Add(index, data)
	return data, nil
}
