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
	if st, err := a.peekPubState(ctx); err == nil {
		if publishNow, wait, err := decidePublish(st, a.cpInterval, a.cpRepublish); err == nil && !publishNow {
			return wait, nil
		}
	}
	start := time.Now()
	out, err := a.publishTx(ctx)
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

// publishTx is publish's transaction, in two round trips around the
// signing: the first takes the pub_coord lock and reads the state, the
// second stores the signed note and commits. The note is never stored for a
// smaller size than the one stored. A transaction that does not publish
// writes nothing and is rolled back.
func (a *appender) publishTx(ctx context.Context) (published, error) {
	tx, err := a.s.beginPipe(ctx, opPublish)
	if err != nil {
		return published{}, err
	}
	defer tx.end(ctx)
	st, root, ok, err := a.lockPubState(ctx, tx)
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
	if a.s.cfg.Objects != nil {
		// The object first: readers take the checkpoint from there, and
		// every object it covers was written before int_coord committed.
		if err := a.s.cfg.Objects.Put(ctx, checkpointKey, note, false); err != nil {
			return published{}, fmt.Errorf("writing checkpoint for size %d: %w", st.intSize, err)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE pub_coord SET size = $2, note = $3, published_at = clock_timestamp()
		WHERE log_id = $1 AND (size IS NULL OR size <= $2)`, a.s.cfg.LogID, int64(st.intSize), note)
	err = tx.commitWith(ctx, b, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("storing checkpoint: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%w: refusing to publish size %d: a larger checkpoint is published", ErrIntegrity, st.intSize)
		}
		return nil
	})
	if err != nil {
		return published{}, err
	}
	if a.s.cfg.Objects != nil && st.published && st.intSize > st.pubSize {
		a.s.deletePartials(ctx, st.pubSize, st.intSize)
	}
	return published{wait: wait, size: &st.intSize}, nil
}

const (
	pubStateSQL = `SELECT size, note IS NOT NULL, published_at, clock_timestamp() FROM pub_coord WHERE log_id = $1`
	intStateSQL = `SELECT size, root FROM int_coord WHERE log_id = $1`
)

// peekPubState reads what decidePublish needs, without locking, in one
// statement.
func (a *appender) peekPubState(ctx context.Context) (pubState, error) {
	var st pubState
	var pubSize *int64
	var at *time.Time
	var now time.Time
	var intSize int64
	err := a.s.pool.QueryRow(ctx, `SELECT p.size, p.note IS NOT NULL, p.published_at, clock_timestamp(), c.size
		FROM pub_coord p JOIN int_coord c USING (log_id) WHERE p.log_id = $1`, a.s.cfg.LogID).
		Scan(&pubSize, &st.published, &at, &now, &intSize)
	if err != nil {
		return st, a.s.coordErr("reading pub_coord", err)
	}
	st.setPublished(pubSize, at, now)
	st.intSize = uint64(intSize)
	return st, nil
}

// setPublished records the published size and its age.
func (st *pubState) setPublished(size *int64, at *time.Time, now time.Time) {
	if size != nil && at != nil {
		st.pubSize, st.age = uint64(*size), now.Sub(*at)
	}
}

// lockPubState sends BEGIN, takes the pub_coord row lock and reads what
// decidePublish needs, and the integrated root, in one round trip. It
// reports ok == false when another frontend holds the lock. int_coord is
// read after the lock, by a statement of its own, so that it is at least as
// recent as what the last publisher saw: a single statement's snapshot
// could predate it.
func (a *appender) lockPubState(ctx context.Context, tx *pipeTx) (pubState, []byte, bool, error) {
	var st pubState
	b := &pgx.Batch{}
	b.Queue(pubStateSQL+` FOR UPDATE SKIP LOCKED`, a.s.cfg.LogID)
	b.Queue(intStateSQL, a.s.cfg.LogID)
	br, err := tx.send(ctx, b)
	if err != nil {
		return st, nil, false, err
	}
	defer br.Close()
	var pubSize *int64
	var at *time.Time
	var now time.Time
	err = br.QueryRow().Scan(&pubSize, &st.published, &at, &now)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil, false, nil
	}
	if err != nil {
		return st, nil, false, a.s.coordErr("reading pub_coord", err)
	}
	st.setPublished(pubSize, at, now)
	var intSize int64
	var root []byte
	if err := br.QueryRow().Scan(&intSize, &root); err != nil {
		return st, nil, false, a.s.coordErr("reading int_coord", err)
	}
	if err := br.Close(); err != nil {
		return st, nil, false, fmt.Errorf("reading publishing state: %w", err)
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
