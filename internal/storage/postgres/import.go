package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/tessera"
)

// Importing a copy of another log (a backup, or any tlog-tiles log): its
// entries go in at exactly the indices they had, duplicates included, so
// the tree comes out the same and its signed checkpoint can be published
// as it is. No appender may run on the log meanwhile.

// Empty reports whether the log holds nothing: no entry sequenced, no
// checkpoint published, no identity recorded. Restores and imports go only
// into an empty log.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	var next int64
	var published, identity bool
	err := s.pool.QueryRow(ctx, `SELECT (SELECT next FROM seq_coord WHERE log_id = $1),
		(SELECT note IS NOT NULL FROM pub_coord WHERE log_id = $1),
		EXISTS (SELECT 1 FROM log_identity WHERE log_id = $1)`, s.cfg.LogID).Scan(&next, &published, &identity)
	if err != nil {
		return false, s.coordErr("reading the log's state", err)
	}
	return next == 0 && !published && !identity, nil
}

// ImportEntries appends leaves, in order, at index first, which must be the
// log's next index, and integrates them before it returns. Nothing is
// deduplicated: a leaf equal to an earlier one gets its own index, as it
// had in the log copied. With Config.Dedup the identities are recorded all
// the same (the first index of each), so later adds of those entries are
// found.
func (s *Store) ImportEntries(ctx context.Context, first uint64, leaves [][]byte) error {
	if len(leaves) == 0 {
		return nil
	}
	entries := make([]*tessera.Entry, len(leaves))
	batch := make([]sequenced, len(leaves))
	for i, l := range leaves {
		entries[i] = tessera.NewEntry(l)
		batch[i].bundleData = entries[i].MarshalBundleData(first + uint64(i))
		batch[i].leafHash = entries[i].LeafHash()
	}
	v, err := encodeBatch(batch)
	if err != nil {
		return fmt.Errorf("encoding entries %d to %d: %w", first, first+uint64(len(leaves)), err)
	}
	var ids [][]byte
	var idx []int64
	if s.cfg.Dedup {
		for i, ei := range s.entryIdentities(entries) {
			for _, id := range [][]byte{ei.id, ei.legacy} {
				if len(id) > 0 {
					ids, idx = append(ids, id), append(idx, int64(first)+int64(i))
				}
			}
		}
	}
	err = s.inTx(ctx, opSequence, func(tx pgx.Tx) error {
		var next int64
		if err := tx.QueryRow(ctx, `SELECT next FROM seq_coord WHERE log_id = $1 FOR UPDATE`, s.cfg.LogID).Scan(&next); err != nil {
			return s.coordErr("locking seq_coord", err)
		}
		if uint64(next) != first {
			return fmt.Errorf("importing at index %d, but the log's next index is %d: another writer is using the log", first, next)
		}
		if len(ids) > 0 {
			// The first index of an identity wins: a later copy is a
			// duplicate the log copied happened to hold.
			if _, err := tx.Exec(ctx, `INSERT INTO identities (log_id, identity, idx) SELECT $1, i.identity, min(i.idx)
				FROM unnest($2::bytea[], $3::bigint[]) AS i(identity, idx) GROUP BY i.identity ON CONFLICT DO NOTHING`,
				s.cfg.LogID, ids, idx); err != nil {
				return fmt.Errorf("recording identities: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE seq_coord SET next = $2 WHERE log_id = $1`, s.cfg.LogID, next+int64(len(leaves))); err != nil {
			return fmt.Errorf("advancing next index: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO seq (log_id, seq, n, v) VALUES ($1, $2, $3, $4)`, s.cfg.LogID, next, len(leaves), v); err != nil {
			return fmt.Errorf("storing entries at %d: %w", first, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.integrateAll(ctx, first+uint64(len(leaves)))
}

// integrateAll integrates until the tree holds size entries.
func (s *Store) integrateAll(ctx context.Context, size uint64) error {
	for {
		res, err := s.integrate(ctx, s.cfg.IntegrationBatchLimit)
		if err != nil {
			return err
		}
		if res.busy {
			return errors.New("another process is integrating this log: stop every mosaicd serving it before importing")
		}
		if res.to >= size || (!res.more && res.to == res.from) {
			break
		}
	}
	got, err := s.IntegratedSize(ctx)
	if err != nil {
		return err
	}
	if got != size {
		return fmt.Errorf("%w: integrated %d entries, want %d", ErrIntegrity, got, size)
	}
	return nil
}

// PublishImported publishes note, the signed checkpoint of the log copied,
// once the imported tree has its size and root hash: the log then serves
// the copied log's checkpoint until it signs one of its own.
func (s *Store) PublishImported(ctx context.Context, note []byte) error {
	return s.inTx(ctx, opPublish, func(tx pgx.Tx) error {
		var size int64
		var root []byte
		if err := tx.QueryRow(ctx, `SELECT size, root FROM int_coord WHERE log_id = $1 FOR UPDATE`, s.cfg.LogID).Scan(&size, &root); err != nil {
			return s.coordErr("reading int_coord", err)
		}
		if err := checkNote(note, uint64(size), root); err != nil {
			return fmt.Errorf("%w: the imported tree does not match the checkpoint copied: %v", ErrIntegrity, err)
		}
		tag, err := tx.Exec(ctx, `UPDATE pub_coord SET size = $2, note = $3, published_at = clock_timestamp()
			WHERE log_id = $1 AND (size IS NULL OR size <= $2)`, s.cfg.LogID, size, note)
		if err != nil {
			return fmt.Errorf("storing checkpoint: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%w: a larger checkpoint is already published", ErrIntegrity)
		}
		return nil
	})
}
