package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// The tessera.LogReader methods. Each is one indexed single-row read (or a
// cache hit), bounded by the statement timeout. Tiles and bundles come from
// the cache (cache.go) whenever it holds them at least as wide as asked:
// after an integration this frontend committed, proofs against the new
// checkpoint cost no round trip.

// ReadCheckpoint returns the latest published checkpoint (a signed note), or
// an error wrapping os.ErrNotExist if none has been published yet.
func (s *Store) ReadCheckpoint(ctx context.Context) ([]byte, error) {
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	if s.cfg.Objects != nil {
		return s.cfg.Objects.Get(ctx, checkpointKey)
	}
	var note []byte
	err := s.pool.QueryRow(ctx, `SELECT note FROM pub_coord WHERE log_id = $1`, s.cfg.LogID).Scan(&note)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && note == nil) {
		return nil, fmt.Errorf("checkpoint of log %q: %w", s.cfg.LogID, os.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint: %w", err)
	}
	return note, nil
}

// ReadTile returns hash tile level/index as served by tlog-tiles: with p == 0
// the full tile (an error wrapping os.ErrNotExist until it holds 256 hashes),
// otherwise exactly its first p hashes (os.ErrNotExist if fewer are
// integrated). The tile may be beyond the published checkpoint: integrated
// tiles are readable at once. Callers must not modify the returned slice.
func (s *Store) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	k := tileKey{level: level, index: index}
	if data, ok := s.cache.tile(k, p); ok {
		return truncateTile(data, p), nil
	}
	if level > maxTileLevel || index > math.MaxInt64 {
		return nil, fmt.Errorf("tile %d/%d: %w", level, index, os.ErrNotExist)
	}
	if s.cfg.Objects != nil {
		return s.readTileObject(ctx, level, index, p)
	}
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM tiles WHERE log_id = $1 AND level = $2 AND idx = $3`,
		s.cfg.LogID, int16(level), int64(index)).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("tile %d/%d: %w", level, index, os.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("reading tile %d/%d: %w", level, index, err)
	}
	if len(data)%hashSize != 0 || len(data) > fullTileBytes {
		return nil, fmt.Errorf("%w: tile %d/%d has %d bytes", ErrIntegrity, level, index, len(data))
	}
	s.cache.addTile(k, data)
	if len(data) < hashesWanted(p)*hashSize {
		return nil, fmt.Errorf("tile %d/%d.p/%d: only %d hashes integrated: %w", level, index, p, len(data)/hashSize, os.ErrNotExist)
	}
	return truncateTile(data, p), nil
}

// truncateTile returns the first p hashes of a tile (all of it for p == 0).
func truncateTile(data []byte, p uint8) []byte {
	if p == 0 {
		return data[:len(data):len(data)]
	}
	n := int(p) * hashSize
	return data[:n:n]
}

// ReadEntryBundle returns entry bundle index as served by tlog-tiles: with
// p == 0 the full bundle (os.ErrNotExist until it holds 256 entries),
// otherwise exactly its first p entries (os.ErrNotExist if fewer are
// integrated). Callers must not modify the returned slice.
func (s *Store) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	b, ok := s.cache.bundle(index, p)
	if !ok {
		var err error
		if s.cfg.Objects != nil {
			b, err = s.loadBundleObject(ctx, index, p)
		} else {
			b, err = s.loadBundle(ctx, index)
		}
		if err != nil {
			return nil, err
		}
	}
	want := hashesWanted(p)
	if b.n() < want {
		return nil, fmt.Errorf("entry bundle %d.p/%d: only %d entries integrated: %w", index, p, b.n(), os.ErrNotExist)
	}
	return b.prefix(want), nil
}

// loadBundle reads bundle index from the database, and caches it.
func (s *Store) loadBundle(ctx context.Context, index uint64) (*bundle, error) {
	if index > math.MaxInt64 {
		return nil, fmt.Errorf("entry bundle %d: %w", index, os.ErrNotExist)
	}
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	var n int
	var ends, data []byte
	err := s.pool.QueryRow(ctx, `SELECT n, ends, data FROM bundles WHERE log_id = $1 AND idx = $2`,
		s.cfg.LogID, int64(index)).Scan(&n, &ends, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("entry bundle %d: %w", index, os.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("reading entry bundle %d: %w", index, err)
	}
	b, err := decodeBundle(n, ends, data)
	if err != nil {
		return nil, fmt.Errorf("entry bundle %d: %w", index, err)
	}
	s.cache.addBundle(index, b)
	return b, nil
}

// NextIndex returns the first index not yet assigned to an entry.
func (s *Store) NextIndex(ctx context.Context) (uint64, error) {
	return s.readCounter(ctx, `SELECT next FROM seq_coord WHERE log_id = $1`, "next index")
}

// IntegratedSize returns the size of the integrated tree, whose tiles and
// bundles are all readable; it may be ahead of the published checkpoint.
func (s *Store) IntegratedSize(ctx context.Context) (uint64, error) {
	return s.readCounter(ctx, `SELECT size FROM int_coord WHERE log_id = $1`, "integrated size")
}

func (s *Store) readCounter(ctx context.Context, query, what string) (uint64, error) {
	ctx, cancel := s.stateCtx(ctx)
	defer cancel()
	var v int64
	if err := s.pool.QueryRow(ctx, query, s.cfg.LogID).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading %s of log %q: %w", what, s.cfg.LogID, err)
	}
	return uint64(v), nil
}

// CheckpointPublishedAt returns when the latest checkpoint was published or
// re-published (database clock), or an error wrapping os.ErrNotExist if none
// has been. Readiness checks use it to tell a log that stopped publishing.
func (s *Store) CheckpointPublishedAt(ctx context.Context) (time.Time, error) {
	ctx, cancel := s.stateCtx(ctx)
	defer cancel()
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT published_at FROM pub_coord WHERE log_id = $1`, s.cfg.LogID).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && at == nil) {
		return time.Time{}, fmt.Errorf("checkpoint of log %q: %w", s.cfg.LogID, os.ErrNotExist)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading checkpoint time: %w", err)
	}
	return *at, nil
}
