package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipeTx is a transaction sent as pipelined batches on one connection: BEGIN
// and the transaction's settings travel with its first statements, and
// COMMIT with its last, so a transaction of k dependent steps costs k round
// trips rather than one per statement plus BEGIN, settings and COMMIT.
//
// The guarantees are those of inTx: READ COMMITTED, the driver's lock,
// statement and idle timeouts, synchronous_commit forced on, and commit
// reported only once the server has answered COMMIT. Each statement of a
// batch still runs on its own, in order, with a snapshot of its own, so a
// read queued after a row lock sees everything committed before the lock was
// granted.
//
// A pipeTx is used by one goroutine. Every pipeTx must be ended with end.
type pipeTx struct {
	s     *Store
	op    string
	conn  *pgxpool.Conn
	begun bool // BEGIN has been sent
	ended bool // committed, or given up
}

// beginPipe takes a connection for a transaction of op. Nothing is sent yet.
func (s *Store) beginPipe(ctx context.Context, op string) (*pipeTx, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquiring a connection: %w", err)
	}
	return &pipeTx{s: s, op: op, conn: conn}, nil
}

// send sends b as one round trip, preceded by BEGIN and the transaction's
// settings if it is the transaction's first batch. The caller reads b's
// results from the returned BatchResults, in order, and closes it.
func (t *pipeTx) send(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	if t.begun {
		return t.conn.SendBatch(ctx, b), nil
	}
	t.begun = true
	first := &pgx.Batch{}
	first.Queue(`BEGIN ISOLATION LEVEL READ COMMITTED`)
	first.Queue(`SELECT set_config('lock_timeout', $1, true),
		set_config('statement_timeout', $2, true),
		set_config('idle_in_transaction_session_timeout', $3, true),
		set_config('synchronous_commit', 'on', true)`,
		millis(t.s.cfg.LockTimeout), millis(t.s.cfg.StatementTimeout), millis(DefaultIdleInTxTimeout))
	first.QueuedQueries = append(first.QueuedQueries, b.QueuedQueries...)
	br := t.conn.SendBatch(ctx, first)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("beginning transaction: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("setting transaction timeouts: %w", err)
	}
	return br, nil
}

// errNotCommitted reports a COMMIT that the server turned into a ROLLBACK.
var errNotCommitted = errors.New("transaction was rolled back instead of committed")

// commitWith sends b followed by COMMIT as one round trip. check reads b's
// results (in order); the transaction commits only if check returns nil
// and the server answers COMMIT. With b empty it sends COMMIT alone.
func (t *pipeTx) commitWith(ctx context.Context, b *pgx.Batch, check func(pgx.BatchResults) error) error {
	b.Queue(`COMMIT`)
	br, err := t.send(ctx, b)
	if err != nil {
		return err
	}
	defer br.Close()
	if check != nil {
		if err := check(br); err != nil {
			return err
		}
	}
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("committing: %w (server answered %q)", errNotCommitted, tag.String())
	}
	t.ended = true
	t.s.metrics.transactions.WithLabelValues(t.op, "commit").Inc()
	return nil
}

// end rolls the transaction back unless it committed, and gives the
// connection back to the pool. A connection left inside a transaction (the
// rollback failed) is closed by the pool rather than reused.
func (t *pipeTx) end(ctx context.Context) {
	if !t.ended && t.begun {
		ctx, cancel := rollbackCtx(ctx)
		_, _ = t.conn.Exec(ctx, `ROLLBACK`) // The pool discards the connection if this failed.
		cancel()
		t.s.metrics.transactions.WithLabelValues(t.op, "rollback").Inc()
	}
	t.ended = true
	t.conn.Release()
}
