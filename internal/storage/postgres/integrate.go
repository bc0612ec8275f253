package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// integrateLoop integrates sequenced batches whenever woken (by this
// frontend's sequencer or another's NOTIFY) and every integrateFallback.
func (a *appender) integrateLoop(ctx context.Context) {
	tick := time.NewTicker(integrateFallback)
	defer tick.Stop()
	var bo backoff
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.integrateWakes:
		case <-tick.C:
		}
		for ctx.Err() == nil {
			res, err := a.s.integrate(ctx, a.s.cfg.IntegrationBatchLimit)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				a.s.logFailure(ctx, "integrating", err)
				if !a.retryWait(ctx, bo.next(), !errors.Is(err, ErrIntegrity)) {
					return
				}
				continue
			}
			bo.reset()
			a.s.health.OK()
			if res.to > res.from {
				a.wakePublisher()
			}
			if res.busy {
				// Another frontend holds the lock and may have started before
				// this frontend's last batch committed: look again shortly
				// rather than leave that batch to the fallback tick.
				if !a.retryWait(ctx, integrateBusyRetry, false) {
					return
				}
				continue
			}
			if !res.more {
				break
			}
		}
	}
}

// retryWait waits d before a failed integration is retried, reporting
// whether ctx is still live. With early set a wake-up ends the wait: it means
// a sequencing transaction just committed (or LISTEN reconnected), so the
// database answers again, and waiting out a backoff grown during an outage
// would stall every add. Integrity failures are not retried early: new
// batches do not repair them.
func (a *appender) retryWait(ctx context.Context, d time.Duration, early bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var wakes <-chan struct{}
	if early {
		wakes = a.integrateWakes
	}
	select {
	case <-ctx.Done():
		return false
	case <-wakes:
		return true
	case <-t.C:
		return true
	}
}

// integration reports what one integration transaction did.
type integration struct {
	from, to uint64 // tree size before and after
	more     bool   // the batch limit was reached: more may be pending
	busy     bool   // another frontend held the int_coord lock
}

// integrate appends pending sequenced batches to the tree in one
// transaction, if this frontend wins the int_coord row lock (another
// frontend holding it is integrating: nothing to do here).
func (s *Store) integrate(ctx context.Context, limit int) (integration, error) {
	ctx, cancel := context.WithTimeout(s.metrics.withOp(ctx, opIntegrate), 3*s.cfg.StatementTimeout)
	defer cancel()
	// Most wake-ups (the fallback ticker, other logs' notifications) find
	// nothing to do: check without taking the lock first.
	var idle bool
	err := s.pool.QueryRow(ctx, `SELECT (SELECT next FROM seq_coord WHERE log_id = $1) <=
		(SELECT size FROM int_coord WHERE log_id = $1)`, s.cfg.LogID).Scan(&idle)
	if err == nil && idle {
		return integration{}, nil
	}
	start := time.Now()
	res, written, err := s.integrateTx(ctx, limit)
	if err != nil {
		s.metrics.observeTx("integrate", start, err)
		if errors.Is(err, ErrIntegrity) {
			s.metrics.integrityFailures.Inc()
		}
		return integration{}, fmt.Errorf("integrating from %d: %w", res.from, err)
	}
	if written != nil {
		s.metrics.observeTx("integrate", start, nil)
		s.metrics.integratedSize.Set(float64(written.size))
		s.cacheWritten(written)
	}
	return res, nil
}

// integrateTx is integration's transaction, in two round trips: the first
// takes the int_coord row lock and reads what extending the tree needs (the
// pending batches, the right-edge tiles, the partial bundle), the second
// writes the result and commits. A transaction that finds the lock taken or
// nothing pending writes nothing and is rolled back.
func (s *Store) integrateTx(ctx context.Context, limit int) (integration, *integrated, error) {
	var res integration
	tx, err := s.beginPipe(ctx, opIntegrate)
	if err != nil {
		return res, nil, err
	}
	defer tx.end(ctx)
	st, err := s.readIntegrationState(ctx, tx, limit)
	if err != nil || st.busy {
		return integration{busy: st.busy}, nil, err
	}
	res.from, res.to = st.size, st.size
	if len(st.pending.entries) == 0 {
		return res, nil, nil
	}
	written, err := s.extend(ctx, tx, st)
	if err != nil {
		return res, nil, err
	}
	res.to, res.more = written.size, st.pending.more
	return res, written, nil
}

// integrationState is what integration reads under the int_coord lock.
type integrationState struct {
	busy    bool   // another frontend holds the lock; nothing else is set
	size    uint64 // the integrated tree
	root    []byte
	pending pending
	edge    map[tileKey][]byte // its right-edge tiles, by key
	partial *bundle            // its last bundle if partial, else nil
}

// Integration's reads, sent in the first round trip after the lock. Each
// statement takes its own snapshot after the lock was granted, so it sees
// int_coord as locked. Reading the sequenced batches is the costly one: it
// re-takes the lock (SKIP LOCKED), which is a no-op for the holder, and reads
// nothing when another frontend holds it.
const (
	lockIntCoordSQL = `SELECT size, root FROM int_coord WHERE log_id = $1 FOR UPDATE SKIP LOCKED`
	pendingSQL      = `SELECT seq, n, v FROM seq WHERE log_id = $1
		AND seq < (SELECT size FROM int_coord WHERE log_id = $1 FOR UPDATE SKIP LOCKED) + $2 ORDER BY seq`
	// The tile at each level l whose width (size >> 8l) mod 256 is not
	// zero: rightEdge in SQL. As for lookupIdentitiesSQL, the OFFSET 0
	// fences keep each read a primary key probe whatever the statistics.
	edgeTilesSQL = `SELECT c.size, t.level, t.idx, t.data FROM int_coord c
		CROSS JOIN generate_series(0, $2::integer) AS l(level)
		CROSS JOIN LATERAL (SELECT level, idx, data FROM tiles
			WHERE log_id = $1 AND level = l.level AND idx = (c.size >> (8 * l.level)) >> 8 OFFSET 0) t
		WHERE c.log_id = $1 AND ((c.size >> (8 * l.level)) & 255) <> 0`
	partialBundleSQL = `SELECT c.size, b.n, b.ends, b.data FROM int_coord c
		CROSS JOIN LATERAL (SELECT n, ends, data FROM bundles WHERE log_id = $1 AND idx = c.size / 256 OFFSET 0) b
		WHERE c.log_id = $1 AND c.size % 256 <> 0`
)

// readIntegrationState sends BEGIN, takes the int_coord lock and reads the
// integration's inputs, in one round trip.
func (s *Store) readIntegrationState(ctx context.Context, tx *pipeTx, limit int) (integrationState, error) {
	var st integrationState
	id := s.cfg.LogID
	objects := s.cfg.Objects != nil
	b := &pgx.Batch{}
	b.Queue(lockIntCoordSQL, id)
	b.Queue(pendingSQL, id, int64(limit))
	if !objects {
		b.Queue(edgeTilesSQL, id, maxTileLevel)
		b.Queue(partialBundleSQL, id)
	}
	br, err := tx.send(ctx, b)
	if err != nil {
		return st, err
	}
	defer br.Close()
	var size int64
	err = br.QueryRow().Scan(&size, &st.root)
	if errors.Is(err, pgx.ErrNoRows) {
		return integrationState{busy: true}, nil
	}
	if err != nil {
		return st, fmt.Errorf("locking int_coord: %w", err)
	}
	st.size = uint64(size)
	if st.pending, err = s.pendingEntries(br, st.size, limit); err != nil {
		return st, err
	}
	if objects {
		if err := br.Close(); err != nil {
			return st, fmt.Errorf("reading integration state: %w", err)
		}
		if len(st.pending.entries) > 0 {
			st.edge, st.partial, err = s.objectEdge(ctx, st.size)
		}
		return st, err
	}
	if st.edge, err = s.edgeTiles(br, st.size); err != nil {
		return st, err
	}
	if st.partial, err = s.partialBundle(br, st.size); err != nil {
		return st, err
	}
	if err := br.Close(); err != nil {
		return st, fmt.Errorf("reading integration state: %w", err)
	}
	return st, nil
}

// maxIntegrationBytes bounds the sequenced data one integration reads (past
// the first batch), so that large entries cannot make it hold gigabytes.
const maxIntegrationBytes = 64 << 20

// errEnough stops reading sequenced batches once maxIntegrationBytes is read.
var errEnough = errors.New("integration batch is full")

// pending is the sequenced work read by one integration.
type pending struct {
	entries []sequenced
	rows    int  // seq rows they came from
	bytes   int  // size of those rows
	more    bool // the read stopped at a limit
}

// pendingEntries reads the seq rows continuing a tree of the given size, up
// to about limit entries, and checks that they continue it exactly. The
// query (pendingSQL) returns every row below size+limit: rows that start
// below size should have been deleted when they were integrated, and are
// reported.
func (s *Store) pendingEntries(br pgx.BatchResults, size uint64, limit int) (pending, error) {
	var p pending
	rows, err := br.Query()
	if err != nil {
		return p, fmt.Errorf("reading sequenced batches: %w", err)
	}
	next := size
	var seq int64
	var n int
	var v []byte
	_, err = pgx.ForEachRow(rows, []any{&seq, &n, &v}, func() error {
		if uint64(seq) != next {
			what := "gap"
			if uint64(seq) < next {
				what = "overlap"
			}
			return fmt.Errorf("%w: %s in sequenced batches: expected a batch at %d, found one at %d (tree size %d)",
				ErrIntegrity, what, next, seq, size)
		}
		batch, err := decodeBatch(v)
		if err != nil || len(batch) != n {
			return fmt.Errorf("%w: sequenced batch at %d (%d entries) is corrupt: %d decoded, error %v",
				ErrIntegrity, seq, n, len(batch), err)
		}
		p.entries = append(p.entries, batch...)
		p.rows++
		next += uint64(n)
		if p.bytes += len(v); p.bytes >= maxIntegrationBytes {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return p, fmt.Errorf("reading sequenced batches: %w", err)
	}
	p.more = err != nil || next-size >= uint64(limit)
	return p, nil
}

// edgeTiles reads the result of edgeTilesSQL: the right-edge tiles of a
// tree of the given size.
func (s *Store) edgeTiles(br pgx.BatchResults, size uint64) (map[tileKey][]byte, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("reading right-edge tiles: %w", err)
	}
	edge := make(map[tileKey][]byte, maxTileLevel+1)
	var at int64
	var level int16
	var idx int64
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&at, &level, &idx, &data}, func() error {
		if uint64(at) != size {
			return fmt.Errorf("%w: int_coord changed from size %d to %d under its lock", ErrIntegrity, size, at)
		}
		edge[tileKey{level: uint64(level), index: uint64(idx)}] = data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading right-edge tiles: %w", err)
	}
	return edge, nil
}

// partialBundle reads the result of partialBundleSQL: the last bundle of a
// tree of the given size when it is partial, nil when the size is a
// multiple of the bundle width.
func (s *Store) partialBundle(br pgx.BatchResults, size uint64) (*bundle, error) {
	var at int64
	var n int
	var ends, data []byte
	err := br.QueryRow().Scan(&at, &n, &ends, &data)
	bi := size / bundleWidth
	switch {
	case errors.Is(err, pgx.ErrNoRows) && size%bundleWidth == 0:
		return nil, nil
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("%w: entry bundle %d is missing from a tree of size %d", ErrIntegrity, bi, size)
	case err != nil:
		return nil, fmt.Errorf("reading entry bundle %d: %w", bi, err)
	case uint64(at) != size:
		return nil, fmt.Errorf("%w: int_coord changed from size %d to %d under its lock", ErrIntegrity, size, at)
	}
	partial, err := decodeBundle(n, ends, data)
	if err != nil {
		return nil, fmt.Errorf("entry bundle %d: %w", bi, err)
	}
	return partial, nil
}

// integrated is what extend wrote.
type integrated struct {
	size    uint64
	tiles   map[tileKey][]byte
	bundles map[uint64]*bundle
}

// extend appends the pending entries to the tree read in st and writes the
// result and commits: changed tiles and bundles, the new size and root, and
// the deletion of the consumed seq rows.
func (s *Store) extend(ctx context.Context, tx *pipeTx, st integrationState) (*integrated, error) {
	tree, err := newTreeExtender(st.size, st.root, st.edge)
	if err != nil {
		return nil, err
	}
	p := st.pending
	leaves := make([][]byte, len(p.entries))
	data := make([][]byte, len(p.entries))
	for i, e := range p.entries {
		leaves[i], data[i] = e.leafHash, e.bundleData
	}
	if err := tree.append(leaves); err != nil {
		return nil, err
	}
	newRoot, err := tree.root()
	if err != nil {
		return nil, err
	}
	bundles, err := extendBundles(st.size, st.partial, data)
	if err != nil {
		return nil, err
	}
	out := &integrated{size: st.size + uint64(len(p.entries)), tiles: tree.changed(), bundles: bundles}
	if err := s.writeIntegration(ctx, tx, st.size, newRoot, out, p.rows); err != nil {
		return nil, err
	}
	return out, nil
}

// writeIntegration stores an integration's results and commits, in one
// round trip.
func (s *Store) writeIntegration(ctx context.Context, tx *pipeTx, from uint64, root []byte, out *integrated, rows int) error {
	id := s.cfg.LogID
	var tl []int16
	var ti []int64
	var td [][]byte
	for k, data := range out.tiles {
		tl, ti, td = append(tl, int16(k.level)), append(ti, int64(k.index)), append(td, data)
	}
	var bi []int64
	var bn []int32
	var be, bd [][]byte
	for i, b := range out.bundles {
		bi, bn = append(bi, int64(i)), append(bn, int32(b.n()))
		be, bd = append(be, b.encodeEnds()), append(bd, b.data)
	}
	if s.cfg.Objects != nil {
		// The objects first: the commit below makes them part of the tree.
		if err := s.putIntegration(ctx, out); err != nil {
			return err
		}
		return s.commitIntegration(ctx, tx, &pgx.Batch{}, from, root, out, rows, nil)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO tiles (log_id, level, idx, data)
		SELECT $1, t.level, t.idx, t.data FROM unnest($2::smallint[], $3::bigint[], $4::bytea[]) AS t(level, idx, data)
		ON CONFLICT (log_id, level, idx) DO UPDATE SET data = EXCLUDED.data`, id, tl, ti, td)
	b.Queue(`INSERT INTO bundles (log_id, idx, n, ends, data)
		SELECT $1, b.idx, b.n, b.ends, b.data FROM unnest($2::bigint[], $3::integer[], $4::bytea[], $5::bytea[]) AS b(idx, n, ends, data)
		ON CONFLICT (log_id, idx) DO UPDATE SET n = EXCLUDED.n, ends = EXCLUDED.ends, data = EXCLUDED.data`, id, bi, bn, be, bd)
	return s.commitIntegration(ctx, tx, b, from, root, out, rows, []rowCount{{"tiles", len(td)}, {"entry bundles", len(bd)}})
}

// rowCount is a statement of writeIntegration and the rows it must change.
type rowCount struct {
	what string
	n    int
}

// commitIntegration adds to b, after the statements counted in want, the
// advance of int_coord and the deletion of the consumed seq rows, and sends
// it with COMMIT.
func (s *Store) commitIntegration(ctx context.Context, tx *pipeTx, b *pgx.Batch, from uint64, root []byte, out *integrated, rows int, want []rowCount) error {
	id := s.cfg.LogID
	b.Queue(`UPDATE int_coord SET size = $2, root = $3 WHERE log_id = $1 AND size = $4`, id, int64(out.size), root, int64(from))
	b.Queue(`DELETE FROM seq WHERE log_id = $1 AND seq >= $2 AND seq < $3`, id, int64(from), int64(out.size))
	want = append(want, rowCount{"int_coord", 1}, rowCount{"consumed seq rows", rows})
	return tx.commitWith(ctx, b, func(br pgx.BatchResults) error {
		for _, w := range want {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("writing %s: %w", w.what, err)
			}
			if tag.RowsAffected() != int64(w.n) {
				return fmt.Errorf("%w: writing %s changed %d rows, want %d", ErrIntegrity, w.what, tag.RowsAffected(), w.n)
			}
		}
		return nil
	})
}

// cacheWritten keeps the tiles and bundles of a committed integration, full
// and partial: readers proving entries against the checkpoint about to be
// published then find them in memory.
func (s *Store) cacheWritten(out *integrated) {
	for k, data := range out.tiles {
		s.cache.addTile(k, data)
	}
	for i, b := range out.bundles {
		s.cache.addBundle(i, b)
	}
}

// logFailure reports a failed background step, op ("integrating"), which
// its loop retries. An integrity failure is logged each time, as an error:
// it needs a person. Anything else is counted, and only the start and the
// end of a run of failures are logged (s.health): while the database is
// down every retry fails the same way.
func (s *Store) logFailure(ctx context.Context, op string, err error) {
	s.metrics.backgroundFailures.WithLabelValues(op).Inc()
	if errors.Is(err, ErrIntegrity) {
		s.log.ErrorContext(ctx, op+" failed an integrity check; will retry", "err", err)
		return
	}
	s.health.Fail(fmt.Errorf("%s: %w", op, err))
}
