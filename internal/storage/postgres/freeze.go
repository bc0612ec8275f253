package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrFrozen is returned by sequencing once the log is frozen: it takes no
// more entries, from any frontend.
var ErrFrozen = errors.New("the log is frozen")

// A freeze takes two steps (migrations/0003_freeze.sql). CutOff marks the
// log's seq_coord row frozen, under the row lock every sequencing
// transaction takes, so that no index is assigned after it commits: the
// returned next index is the log's final size, and a batch sequenced at the
// same time either committed before (and is counted) or fails with
// ErrFrozen (and none of its entries was given an index). Once a checkpoint
// of that size is published, RecordFrozen writes it as the freeze.

// CutOff stops sequencing in the log for good and returns its final size.
// It is idempotent: a second call returns the same size.
func (s *Store) CutOff(ctx context.Context) (uint64, error) {
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	var next int64
	err := s.pool.QueryRow(ctx, `UPDATE seq_coord SET frozen = true WHERE log_id = $1 RETURNING next`, s.cfg.LogID).Scan(&next)
	if err != nil {
		return 0, s.coordErr("freezing seq_coord", err)
	}
	return uint64(next), nil
}

// Frozen is a log's recorded freeze.
type Frozen struct {
	Size       uint64
	Checkpoint []byte
	Successor  string
	At         time.Time
}

// RecordFrozen records f as the log's freeze unless one is recorded, and
// returns the one recorded afterwards. It refuses a log whose sequencing
// was not cut off at f.Size.
func (s *Store) RecordFrozen(ctx context.Context, f Frozen) (Frozen, error) {
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	var rec Frozen
	err := s.inTx(ctx, opOther, func(tx pgx.Tx) error {
		var next int64
		var cut bool
		if err := tx.QueryRow(ctx, `SELECT next, frozen FROM seq_coord WHERE log_id = $1`, s.cfg.LogID).Scan(&next, &cut); err != nil {
			return s.coordErr("reading seq_coord", err)
		}
		if !cut || uint64(next) != f.Size {
			return fmt.Errorf("recording the freeze of log %q at size %d: sequencing is at %d (cut off: %t)", s.cfg.LogID, f.Size, next, cut)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO log_frozen (log_id, size, checkpoint, successor) VALUES ($1, $2, $3, $4)
			ON CONFLICT (log_id) DO NOTHING`, s.cfg.LogID, int64(f.Size), f.Checkpoint, f.Successor); err != nil {
			return fmt.Errorf("recording the freeze of log %q: %w", s.cfg.LogID, err)
		}
		return nil
	})
	if err != nil {
		return Frozen{}, err
	}
	found, err := s.readFrozen(ctx, &rec)
	if err == nil && !found {
		err = fmt.Errorf("the freeze of log %q was recorded but cannot be read back", s.cfg.LogID)
	}
	return rec, err
}

// Frozen returns the log's recorded freeze, and false when it has none.
// Running servers poll it (to notice a freeze made elsewhere), so it counts
// as the log's own state polling, not as a read served to a client.
func (s *Store) Frozen(ctx context.Context) (Frozen, bool, error) {
	ctx, cancel := s.stateCtx(ctx)
	defer cancel()
	var f Frozen
	found, err := s.readFrozen(ctx, &f)
	return f, found, err
}

func (s *Store) readFrozen(ctx context.Context, f *Frozen) (bool, error) {
	var size int64
	err := s.pool.QueryRow(ctx, `SELECT size, checkpoint, successor, frozen_at FROM log_frozen WHERE log_id = $1`, s.cfg.LogID).
		Scan(&size, &f.Checkpoint, &f.Successor, &f.At)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading the freeze of log %q: %w", s.cfg.LogID, err)
	}
	f.Size = uint64(size)
	return true, nil
}

// CreatedAt is when the log's identity was recorded: when it was first
// served.
func (s *Store) CreatedAt(ctx context.Context) (time.Time, error) {
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	var at time.Time
	err := s.pool.QueryRow(ctx, `SELECT created_at FROM log_identity WHERE log_id = $1`, s.cfg.LogID).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading when log %q was created: %w", s.cfg.LogID, err)
	}
	return at, nil
}

// LogIDs lists the logs of the database that have a recorded identity.
func LogIDs(ctx context.Context, pool interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT log_id FROM log_identity ORDER BY created_at, log_id`)
	if err != nil {
		return nil, fmt.Errorf("listing logs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing logs: %w", err)
	}
	return ids, nil
}
