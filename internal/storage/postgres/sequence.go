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
	idx, err := a.sequenceTx(ctx, entries, ids)
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

// sequenceTx is sequencing's transaction, in two round trips. The first
// takes the seq_coord row lock, which every sequencing transaction holds
// until it ends, so batches from all frontends commit in index order; with
// Dedup (ids set) it also reads, under that lock, which of the batch's
// identities the log already holds, so sequencing transactions never race on
// them: each sees every identity committed before it. The second stores the
// batch, records its identities, advances next and commits. A batch of
// duplicates only writes nothing and is rolled back.
func (a *appender) sequenceTx(ctx context.Context, entries []*tessera.Entry, ids []entryIdentity) ([]tessera.Index, error) {
	tx, err := a.s.beginPipe(ctx, opSequence)
	if err != nil {
		return nil, err
	}
	defer tx.end(ctx)
	next, integrated, known, err := a.lockSequencing(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	idx, batch, rows := assignIndices(entries, ids, uint64(next), known)
	if len(batch) == 0 {
		return idx, nil
	}
	// Duplicates add no work, so only a batch with new entries is refused.
	if err := a.checkPushback(next, integrated); err != nil {
		return nil, err
	}
	return idx, a.storeBatch(ctx, tx, uint64(next), batch, rows)
}

// lookupIdentitiesSQL finds the recorded identities among $2, one primary
// key probe per identity whatever the table's statistics say. The plain
// form (identity = ANY($2)) is planned, while the statistics still describe
// a young table, as a scan of every identity of the log with a filter, whose
// cost grows with the log; the OFFSET 0 fence keeps each probe a
// parameterized index scan.
const lookupIdentitiesSQL = `SELECT i.identity, i.idx FROM unnest($2::bytea[]) AS q(identity)
	CROSS JOIN LATERAL (SELECT identity, idx FROM identities WHERE log_id = $1 AND identity = q.identity OFFSET 0) i`

// lockSequencing sends BEGIN, locks the seq_coord row and reads the next
// index and the integrated size, and with ids the recorded index of every
// identity (and legacy identity) of the batch, in one round trip.
func (a *appender) lockSequencing(ctx context.Context, tx *pipeTx, ids []entryIdentity) (next, integrated int64, known map[string]uint64, err error) {
	id := a.s.cfg.LogID
	b := &pgx.Batch{}
	// FOR UPDATE reads the row's latest committed version once the lock is
	// ours, so a freeze committed before is always seen (freeze.go).
	b.Queue(`SELECT next, (SELECT size FROM int_coord WHERE log_id = $1), frozen FROM seq_coord WHERE log_id = $1 FOR UPDATE`, id)
	if ids != nil {
		b.Queue(lookupIdentitiesSQL, id, identityList(ids))
	}
	br, err := tx.send(ctx, b)
	if err != nil {
		return 0, 0, nil, err
	}
	defer br.Close()
	var frozen bool
	if err := br.QueryRow().Scan(&next, &integrated, &frozen); err != nil {
		return 0, 0, nil, a.s.coordErr("locking seq_coord", err)
	}
	if frozen {
		return 0, 0, nil, fmt.Errorf("log %q: %w", id, ErrFrozen)
	}
	known = make(map[string]uint64, len(ids))
	if ids != nil {
		rows, err := br.Query()
		if err != nil {
			return 0, 0, nil, fmt.Errorf("looking up identities: %w", err)
		}
		var ident []byte
		var idx int64
		_, err = pgx.ForEachRow(rows, []any{&ident, &idx}, func() error {
			known[string(ident)] = uint64(idx)
			return nil
		})
		if err != nil {
			return 0, 0, nil, fmt.Errorf("looking up identities: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return 0, 0, nil, fmt.Errorf("locking seq_coord: %w", err)
	}
	return next, integrated, known, nil
}

// assignIndices gives indices from next on to the entries of the batch.
// With ids (Dedup) entries whose identity known records, and repeats within
// the batch, resolve to the recorded index with IsDup set instead, and rows
// are the identities to record; known gains the batch's identities.
func assignIndices(entries []*tessera.Entry, ids []entryIdentity, next uint64, known map[string]uint64) ([]tessera.Index, []sequenced, *identityRows) {
	idx := make([]tessera.Index, len(entries))
	batch := make([]sequenced, 0, len(entries))
	var rows *identityRows
	if ids != nil {
		rows = &identityRows{}
	}
	for i, e := range entries {
		if ids != nil {
			if prev, ok := ids[i].lookup(known); ok {
				idx[i] = tessera.Index{Index: prev, IsDup: true}
				continue
			}
		}
		index := next + uint64(len(batch))
		// MarshalBundleData first: it sets the entry's index, which some
		// entry kinds (static-ct) need to compute their leaf hash.
		s := sequenced{bundleData: e.MarshalBundleData(index)}
		s.leafHash = e.LeafHash()
		batch = append(batch, s)
		idx[i] = tessera.Index{Index: index}
		if ids != nil && len(ids[i].id) > 0 {
			known[string(ids[i].id)] = index
			rows.ids, rows.idx = append(rows.ids, ids[i].id), append(rows.idx, int64(index))
		}
	}
	return idx, batch, rows
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

// identityList returns every identity (and legacy identity) of a batch.
func identityList(entries []entryIdentity) [][]byte {
	ids := make([][]byte, 0, len(entries))
	for _, e := range entries {
		if len(e.id) > 0 {
			ids = append(ids, e.id)
		}
		if e.legacy != nil {
			ids = append(ids, e.legacy)
		}
	}
	return ids
}

// identityRows are the identities a dedup batch records.
type identityRows struct {
	ids [][]byte
	idx []int64
}

// storeBatch writes the sequenced batch starting at first, records its
// identities (Dedup), advances next, queues the notification and commits,
// in one round trip.
func (a *appender) storeBatch(ctx context.Context, tx *pipeTx, first uint64, batch []sequenced, ids *identityRows) error {
	v, err := encodeBatch(batch)
	if err != nil {
		return fmt.Errorf("encoding batch: %w", err)
	}
	id := a.s.cfg.LogID
	b := &pgx.Batch{}
	if ids != nil {
		b.Queue(`INSERT INTO identities (log_id, identity, idx) SELECT $1, i.identity, i.idx
			FROM unnest($2::bytea[], $3::bigint[]) AS i(identity, idx) ON CONFLICT DO NOTHING`, id, ids.ids, ids.idx)
	}
	b.Queue(`UPDATE seq_coord SET next = $2 WHERE log_id = $1`, id, int64(first)+int64(len(batch)))
	b.Queue(`INSERT INTO seq (log_id, seq, n, v) VALUES ($1, $2, $3, $4)`, id, int64(first), len(batch), v)
	b.Queue(`SELECT pg_notify($1, $2)`, notifyChannel, id)
	return tx.commitWith(ctx, b, func(br pgx.BatchResults) error {
		if ids != nil {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("recording identities: %w", err)
			}
			if tag.RowsAffected() != int64(len(ids.ids)) {
				return fmt.Errorf("%w: recorded %d of %d new identities: another writer bypassed the sequencing lock",
					ErrIntegrity, tag.RowsAffected(), len(ids.ids))
			}
		}
		if tag, err := br.Exec(); err != nil {
			return fmt.Errorf("advancing next index: %w", err)
		} else if tag.RowsAffected() != 1 {
			return fmt.Errorf("advancing next index: %w: %d seq_coord rows updated", ErrIntegrity, tag.RowsAffected())
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("storing batch at %d: %w", first, err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("notifying: %w", err)
		}
		return nil
	})
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
