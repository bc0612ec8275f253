package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/tessera"
)

// notifyChannel is the LISTEN/NOTIFY channel on which sequencing announces
// new batches; the payload is the log ID.
const notifyChannel = "mosaic_sequenced"

// sequence durably assigns indices to a batch (the batcher's flush). It
// returns only after the transaction has committed; the indices are final.
func (a *appender) sequence(ctx context.Context, entries []*tessera.Entry) ([]tessera.Index, error) {
	ctx, cancel := context.WithTimeout(a.s.metrics.withOp(ctx, opSequence), 3*a.s.cfg.StatementTimeout)
	defer cancel()
	start := time.Now()
	var ids []entryIdentity
	if a.s.cfg.Dedup {
		// Before the transaction: it holds the lock every frontend's
		// sequencing waits for.
		ids = a.s.entryIdentities(entries)
	}
	var idx []tessera.Index
	err := a.s.inTx(ctx, opSequence, func(tx pgx.Tx) error {
		var err error
		if a.s.cfg.Dedup {
			idx, err = a.sequenceDedup(ctx, tx, entries, ids)
		} else {
			idx, err = a.sequenceAll(ctx, tx, entries)
		}
		return err
	})
	m := a.s.metrics
	m.observeTx("sequence", start, err)
	switch {
	case errors.Is(err, tessera.ErrPushback):
		m.pushbacks.Inc()
	case errors.Is(err, ErrIntegrity):
		m.integrityFailures.Inc()
		a.s.log.Error("sequencing failed an integrity check", "err", err)
	}
	if err != nil {
		return nil, fmt.Errorf("sequencing %d entries: %w", len(entries), err)
	}
	for _, i := range idx {
		if i.IsDup {
			m.duplicates.Inc()
		} else {
			m.sequenced.Inc()
		}
	}
	a.wakeIntegrator()
	return idx, nil
}

// sequenceAll gives every entry a new index. The UPDATE takes the seq_coord
// row lock, which every sequencing transaction holds until it commits, so
// batches from all frontends commit in index order.
func (a *appender) sequenceAll(ctx context.Context, tx pgx.Tx, entries []*tessera.Entry) ([]tessera.Index, error) {
	n := int64(len(entries))
	var first, integrated int64
	err := tx.QueryRow(ctx, `UPDATE seq_coord SET next = next + $2 WHERE log_id = $1
		RETURNING next - $2, (SELECT size FROM int_coord WHERE log_id = $1)`, a.s.cfg.LogID, n).Scan(&first, &integrated)
	if err != nil {
		return nil, a.s.coordErr("taking indices", err)
	}
	if err := a.checkPushback(first, integrated); err != nil {
		return nil, err
	}
	idx := make([]tessera.Index, len(entries))
	batch := make([]sequenced, len(entries))
	for i, e := range entries {
		index := uint64(first) + uint64(i)
		// MarshalBundleData first: it sets the entry's index, which some
		// entry kinds (static-ct) need to compute their leaf hash.
		batch[i] = sequenced{bundleData: e.MarshalBundleData(index)}
		batch[i].leafHash = e.LeafHash()
		idx[i] = tessera.Index{Index: index}
	}
	return idx, a.storeBatch(ctx, tx, uint64(first), batch, nil)
}

// sequenceDedup gives new indices only to entries whose identity the log has
// not recorded, and resolves the others (including repeats within the batch)
// to the recorded index with IsDup set. It reads and records identities
// while holding the seq_coord row lock, so sequencing transactions never race
// on them: each sees every identity committed before it.
func (a *appender) sequenceDedup(ctx context.Context, tx pgx.Tx, entries []*tessera.Entry, ids []entryIdentity) ([]tessera.Index, error) {
	var next, integrated int64
	err := tx.QueryRow(ctx, `SELECT next, (SELECT size FROM int_coord WHERE log_id = $1)
		FROM seq_coord WHERE log_id = $1 FOR UPDATE`, a.s.cfg.LogID).Scan(&next, &integrated)
	if err != nil {
		return nil, a.s.coordErr("locking seq_coord", err)
	}
	known, err := a.s.knownIdentities(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	idx := make([]tessera.Index, len(entries))
	var batch []sequenced
	var newIDs [][]byte
	var newIdx []int64
	for i, e := range entries {
		id := ids[i].id
		if prev, ok := ids[i].lookup(known); ok {
			idx[i] = tessera.Index{Index: prev, IsDup: true}
			continue
		}
		index := uint64(next) + uint64(len(batch))
		s := sequenced{bundleData: e.MarshalBundleData(index)}
		s.leafHash = e.LeafHash()
		batch = append(batch, s)
		idx[i] = tessera.Index{Index: index}
		if len(id) > 0 {
			known[string(id)] = index
			newIDs, newIdx = append(newIDs, id), append(newIdx, int64(index))
		}
	}
	if len(batch) == 0 {
		return idx, nil
	}
	// Duplicates add no work, so only a batch with new entries is refused.
	if err := a.checkPushback(next, integrated); err != nil {
		return nil, err
	}
	return idx, a.storeBatch(ctx, tx, uint64(next), batch, &identityRows{ids: newIDs, idx: newIdx})
}

// entryIdentity is what an entry is deduplicated on: id, its identity
// (Config.Identity, or Tessera's), and legacy, Tessera's identity when it
// differs from id, under which the entry may have been recorded before
// Config.Identity was set.
type entryIdentity struct{ id, legacy []byte }

// lookup returns the index known records for the entry, if any.
func (ei entryIdentity) lookup(known map[string]uint64) (uint64, bool) {
	if len(ei.id) == 0 {
		return 0, false
	}
	if prev, ok := known[string(ei.id)]; ok {
		return prev, true
	}
	if ei.legacy != nil {
		prev, ok := known[string(ei.legacy)]
		return prev, ok
	}
	return 0, false
}

// entryIdentities computes the identities of a batch.
func (s *Store) entryIdentities(entries []*tessera.Entry) []entryIdentity {
	ids := make([]entryIdentity, len(entries))
	for i, e := range entries {
		ids[i].id = e.Identity()
		if s.cfg.Identity == nil || len(ids[i].id) == 0 {
			continue
		}
		if id := s.cfg.Identity(e.Data()); !bytes.Equal(id, ids[i].id) {
			ids[i].id, ids[i].legacy = id, ids[i].id
		}
	}
	return ids
}

// knownIdentities returns the recorded index of every identity (and legacy
// identity) of the batch that the log already holds.
func (s *Store) knownIdentities(ctx context.Context, tx pgx.Tx, entries []entryIdentity) (map[string]uint64, error) {
	ids := make([][]byte, 0, len(entries))
	for _, e := range entries {
		if len(e.id) > 0 {
			ids = append(ids, e.id)
		}
		if e.legacy != nil {
			ids = append(ids, e.legacy)
		}
	}
	rows, err := tx.Query(ctx, `SELECT identity, idx FROM identities WHERE log_id = $1 AND identity = ANY($2::bytea[])`,
		s.cfg.LogID, ids)
	if err != nil {
		return nil, fmt.Errorf("looking up identities: %w", err)
	}
	known := make(map[string]uint64, len(entries))
	var id []byte
	var idx int64
	_, err = pgx.ForEachRow(rows, []any{&id, &idx}, func() error {
		known[string(id)] = uint64(idx)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("looking up identities: %w", err)
	}
	return known, nil
}

// identityRows are the identities a dedup batch records.
type identityRows struct {
	ids [][]byte
	idx []int64
}

// storeBatch writes the sequenced batch starting at first, records its
// identities (dedup) and queues the notification, in one round trip.
func (a *appender) storeBatch(ctx context.Context, tx pgx.Tx, first uint64, batch []sequenced, ids *identityRows) error {
	v, err := encodeBatch(batch)
	if err != nil {
		return fmt.Errorf("encoding batch: %w", err)
	}
	id := a.s.cfg.LogID
	b := &pgx.Batch{}
	if ids != nil {
		b.Queue(`INSERT INTO identities (log_id, identity, idx) SELECT $1, i.identity, i.idx
			FROM unnest($2::bytea[], $3::bigint[]) AS i(identity, idx) ON CONFLICT DO NOTHING`, id, ids.ids, ids.idx)
		b.Queue(`UPDATE seq_coord SET next = $2 WHERE log_id = $1`, id, int64(first)+int64(len(batch)))
	}
	b.Queue(`INSERT INTO seq (log_id, seq, n, v) VALUES ($1, $2, $3, $4)`, id, int64(first), len(batch), v)
	b.Queue(`SELECT pg_notify($1, $2)`, notifyChannel, id)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if ids != nil {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("recording identities: %w", err)
		}
		if tag.RowsAffected() != int64(len(ids.ids)) {
			return fmt.Errorf("%w: recorded %d of %d new identities: another writer bypassed the sequencing lock",
				ErrIntegrity, tag.RowsAffected(), len(ids.ids))
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("advancing next index: %w", err)
		}
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("storing batch at %d: %w", first, err)
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("notifying: %w", err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("storing batch at %d: %w", first, err)
	}
	return nil
}

// checkPushback refuses a batch while too many sequenced entries wait for
// integration.
func (a *appender) checkPushback(next, integrated int64) error {
	if outstanding := next - integrated; outstanding > a.pushbackMax {
		return fmt.Errorf("%d entries sequenced but not yet integrated (limit %d): %w",
			outstanding, a.pushbackMax, tessera.ErrPushbackIntegration)
	}
	return nil
}

// coordErr explains a failed read of a coordination row.
func (s *Store) coordErr(what string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: log %q has no coordination rows (was the database reset?)", what, s.cfg.LogID)
	}
	return fmt.Errorf("%s: %w", what, err)
}
