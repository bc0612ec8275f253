package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/formats/log"
)

// busyRetry is how soon a frontend tries again to publish when another
// frontend holds the publishing lock.
const busyRetry = 200 * time.Millisecond

// publishLoop publishes checkpoints when woken by an integration that grew
// the tree, and otherwise when its last decision said to come back.
func (a *appender) publishLoop(ctx context.Context) {
	timer := time.NewTimer(a.cpInterval)
	defer timer.Stop()
	var bo backoff
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.publishWakes:
		case <-timer.C:
		}
		wait, err := a.publish(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.s.logFailure(ctx, "publishing", err)
			wait = bo.next()
		} else {
			bo.reset()
			a.s.health.OK()
		}
		timer.Reset(wait)
	}
}

// pubState is what the publishing decision looks at.
type pubState struct {
	published bool          // a checkpoint has been published
	pubSize   uint64        // its size
	age       time.Duration // time since it was published (database clock)
	intSize   uint64        // size of the integrated tree
}

// decidePublish says whether to publish now, and when to look again.
func decidePublish(st pubState, interval, republish time.Duration) (bool, time.Duration, error) {
	switch {
	case !st.published:
		return true, interval, nil
	case st.intSize < st.pubSize:
		return false, interval, fmt.Errorf("%w: integrated size %d is below the published size %d",
			ErrIntegrity, st.intSize, st.pubSize)
	case st.intSize > st.pubSize && st.age >= interval:
		return true, interval, nil
	case st.intSize > st.pubSize:
		return false, interval - st.age, nil
	case republish > 0 && st.age >= republish:
		return true, interval, nil
	case republish > 0:
		return false, min(interval, republish-st.age), nil
	default:
		return false, interval, nil
	}
}

// publish publishes a checkpoint for the integrated tree if this frontend
// wins the pub_coord row lock and decidePublish says so. It returns when to
// look again.
func (a *appender) publish(ctx context.Context) (time.Duration, error) {
	s := a.s
	// Signing and witnessing happen inside the transaction, which the
	// server ends if it idles for DefaultIdleInTxTimeout.
	ctx, cancel := context.WithTimeout(s.metrics.withOp(ctx, opPublish), DefaultIdleInTxTimeout+s.cfg.StatementTimeout)
	defer cancel()
	// Most wake-ups find nothing to publish: decide without locking first.
	if st, _, ok, err := a.readPubState(ctx, s.pool, false); err == nil && ok {
		if publishNow, wait, err := decidePublish(st, a.cpInterval, a.cpRepublish); err == nil && !publishNow {
			return wait, nil
		}
	}
	start := time.Now()
	var out published
	err := s.inTx(ctx, opPublish, func(tx pgx.Tx) error {
		var err error
		out, err = a.publishTx(ctx, tx)
		return err
	})
	if err != nil || out.size != nil {
		s.metrics.observeTx("publish", start, err)
	}
	if errors.Is(err, ErrIntegrity) {
		s.metrics.integrityFailures.Inc()
	}
	if err != nil {
		return 0, fmt.Errorf("publishing checkpoint: %w", err)
	}
	if out.size != nil {
		s.metrics.publishedSize.Set(float64(*out.size))
	}
	return out.wait, nil
}

// published is the outcome of publishTx.
type published struct {
	wait time.Duration // when to look again
	size *uint64       // the size published, nil if none was
}

// publishTx is publish's transaction. The signed note is stored in it, and
// never for a smaller size than the one stored.
func (a *appender) publishTx(ctx context.Context, tx pgx.Tx) (published, error) {
	st, root, ok, err := a.readPubState(ctx, tx, true)
	if err != nil {
		return published{}, err
	}
	if !ok {
		return published{wait: min(a.cpInterval, busyRetry)}, nil
	}
	publishNow, wait, err := decidePublish(st, a.cpInterval, a.cpRepublish)
	if err != nil || !publishNow {
		return published{wait: wait}, err
	}
	note, err := a.publishCP(ctx, st.intSize, root)
	if err != nil {
		return published{}, fmt.Errorf("signing checkpoint for size %d: %w", st.intSize, err)
	}
	if err := checkNote(note, st.intSize, root); err != nil {
		return published{}, err
	}
	tag, err := tx.Exec(ctx, `UPDATE pub_coord SET size = $2, note = $3, published_at = clock_timestamp()
		WHERE log_id = $1 AND (size IS NULL OR size <= $2)`, a.s.cfg.LogID, int64(st.intSize), note)
	if err != nil {
		return published{}, fmt.Errorf("storing checkpoint: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return published{}, fmt.Errorf("%w: refusing to publish size %d: a larger checkpoint is published", ErrIntegrity, st.intSize)
	}
	return published{wait: wait, size: &st.intSize}, nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// readPubState reads what decidePublish needs, and the integrated root.
// With lock it takes the pub_coord row lock first, and reports ok == false
// when another frontend holds it. int_coord is read after the lock, by a
// statement of its own, so that it is at least as recent as what the last
// publisher saw: a single statement's snapshot could predate it.
func (a *appender) readPubState(ctx context.Context, q querier, lock bool) (pubState, []byte, bool, error) {
	var st pubState
	var pubSize *int64
	var at *time.Time
	var now time.Time
	query := `SELECT size, note IS NOT NULL, published_at, clock_timestamp() FROM pub_coord WHERE log_id = $1`
	if lock {
		query += ` FOR UPDATE SKIP LOCKED`
	}
	err := q.QueryRow(ctx, query, a.s.cfg.LogID).Scan(&pubSize, &st.published, &at, &now)
	if errors.Is(err, pgx.ErrNoRows) && lock {
		return st, nil, false, nil
	}
	if err != nil {
		return st, nil, false, a.s.coordErr("reading pub_coord", err)
	}
	if pubSize != nil && at != nil {
		st.pubSize, st.age = uint64(*pubSize), now.Sub(*at)
	}
	var intSize int64
	var root []byte
	err = q.QueryRow(ctx, `SELECT size, root FROM int_coord WHERE log_id = $1`, a.s.cfg.LogID).Scan(&intSize, &root)
	if err != nil {
		return st, nil, false, a.s.coordErr("reading int_coord", err)
	}
	st.intSize = uint64(intSize)
	return st, root, true, nil
}

// checkNote verifies that a signed checkpoint commits to size and root.
func checkNote(note []byte, size uint64, root []byte) error {
	i := bytes.LastIndex(note, []byte("\n\n"))
	if i < 0 {
		return errors.New("checkpoint publisher returned a malformed note")
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal(note[:i+1]); err != nil {
		return fmt.Errorf("checkpoint publisher returned an unparsable checkpoint: %w", err)
	}
	if cp.Size != size || !bytes.Equal(cp.Hash, root) {
		return fmt.Errorf("checkpoint publisher signed size %d root %x, want size %d root %x", cp.Size, cp.Hash, size, root)
	}
	return nil
}
