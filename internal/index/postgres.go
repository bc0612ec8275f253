package index

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresStore keeps an index in the tables of migrations/0002_index.sql,
// beside the log it indexes, under the log's log_id. Several frontends may
// index the same log at once: the position row's lock lets one commit at a
// time, and a frontend that finds the position moved drops its batch.
type PostgresStore struct {
	pool  *pgxpool.Pool // owned by the caller; not closed by Close
	logID string
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore opens the index of log logID in the database pool
// connects to, creating its position row on first use. The schema must be
// migrated (mosaicd migrate, or start-up with automatic migration). Close
// does not close pool.
func NewPostgresStore(ctx context.Context, pool *pgxpool.Pool, logID string) (*PostgresStore, error) {
	if logID == "" {
		return nil, errors.New("index: empty log ID")
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('index_position') IS NOT NULL AND to_regclass('index_keys') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("index: checking for the index tables: %w", err)
	}
	if !exists {
		return nil, errors.New("index: the tables index_position and index_keys are missing; " +
			"run `mosaicd migrate` (migrations/0002_index.sql) or start with automatic migration")
	}
	if _, err := pool.Exec(ctx, `INSERT INTO index_position (log_id) VALUES ($1) ON CONFLICT DO NOTHING`, logID); err != nil {
		return nil, fmt.Errorf("index: creating the position of log %q: %w", logID, err)
	}
	return &PostgresStore{pool: pool, logID: logID}, nil
}

// Position implements Store.
func (s *PostgresStore) Position(ctx context.Context) (Position, error) {
	var size, skipped int64
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT size, skipped, updated_at FROM index_position WHERE log_id = $1`, s.logID).
		Scan(&size, &skipped, &at)
	if err != nil {
		return Position{}, fmt.Errorf("index: reading the position of log %q: %w", s.logID, err)
	}
	p := Position{Size: uint64(size), Skipped: uint64(skipped)}
	if at != nil {
		p.UpdatedAt = *at
	}
	return p, nil
}

// Commit implements Store: one transaction takes the position row's lock
// (SKIP LOCKED: if another frontend is committing, this batch is dropped
// as ErrPositionMoved rather than waited for), checks the position, inserts
// the postings (ON CONFLICT DO NOTHING) and advances the position.
func (s *PostgresStore) Commit(ctx context.Context, b *Batch) error {
	if err := checkBatch(b); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("index: beginning commit: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var size int64
	err = tx.QueryRow(ctx, `SELECT size FROM index_position WHERE log_id = $1 FOR UPDATE SKIP LOCKED`, s.logID).Scan(&size)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: another indexer of log %q is committing", ErrPositionMoved, s.logID)
	case err != nil:
		return fmt.Errorf("index: locking the position: %w", err)
	case uint64(size) != b.From:
		return fmt.Errorf("%w: the position is %d, the batch starts at %d", ErrPositionMoved, size, b.From)
	}
	if err := s.insert(ctx, tx, b.Postings); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE index_position SET size = $2, skipped = skipped + $3, updated_at = now()
		WHERE log_id = $1`, s.logID, int64(b.To), int64(b.Skipped)); err != nil {
		return fmt.Errorf("index: advancing the position to %d: %w", b.To, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("index: committing leaves [%d, %d): %w", b.From, b.To, err)
	}
	return nil
}

// insert writes postings in one statement.
func (s *PostgresStore) insert(ctx context.Context, tx pgx.Tx, ps []Posting) error {
	if len(ps) == 0 {
		return nil
	}
	kinds := make([]int16, len(ps))
	keys := make([][]byte, len(ps))
	idxs := make([]int64, len(ps))
	for i, p := range ps {
		h := p.Key.hash()
		kinds[i], keys[i], idxs[i] = int16(p.Key.Kind), h[:], int64(p.Index)
	}
	_, err := tx.Exec(ctx, `INSERT INTO index_keys (log_id, kind, key, idx)
		SELECT $1, k, h, i FROM unnest($2::smallint[], $3::bytea[], $4::bigint[]) AS t(k, h, i)
		ON CONFLICT DO NOTHING`, s.logID, kinds, keys, idxs)
	if err != nil {
		return fmt.Errorf("index: inserting %d keys: %w", len(ps), err)
	}
	return nil
}

// Lookup implements Store: the rows of the first key, in index order, that
// every other key also has.
func (s *PostgresStore) Lookup(ctx context.Context, keys []Key, from uint64, limit int) ([]uint64, error) {
	if err := checkLookup(keys, limit); err != nil {
		return nil, err
	}
	var q strings.Builder
	args := []any{s.logID, int64(min(from, 1<<63-1)), limit}
	q.WriteString(`SELECT k0.idx FROM index_keys k0 WHERE k0.log_id = $1 AND k0.kind = $4 AND k0.key = $5 AND k0.idx >= $2`)
	for i, k := range keys {
		h := k.hash()
		args = append(args, int16(k.Kind), h[:])
		if i > 0 {
			// Placeholders only: no value is ever formatted into the SQL.
			fmt.Fprintf(&q, ` AND EXISTS (SELECT 1 FROM index_keys k%[1]d WHERE k%[1]d.log_id = $1 AND k%[1]d.kind = $%[2]d
				AND k%[1]d.key = $%[3]d AND k%[1]d.idx = k0.idx)`, i, 4+2*i, 5+2*i)
		}
	}
	q.WriteString(` ORDER BY k0.idx LIMIT $3`)
	rows, err := s.pool.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("index: looking up %d keys: %w", len(keys), err)
	}
	idxs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("index: looking up %d keys: %w", len(keys), err)
	}
	out := make([]uint64, len(idxs))
	for i, v := range idxs {
		out[i] = uint64(v)
	}
	return out, nil
}

// Close implements Store. It leaves the pool open: the caller owns it.
func (s *PostgresStore) Close() error { return nil }
