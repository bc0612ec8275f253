package tlog

import (
	"errors"
	"fmt"
)

// SpaceGuard says whether the store has room for new entries.
// *internal/diskspace.Watcher is one: it reports a full disk before the disk
// is full, so that the store never meets ENOSPC (or, for memory-mapped
// files, SIGBUS) half-way through a write.
//
// While Check fails, Add refuses new entries with its error (before they
// reach the store), the dedup follower writes nothing, and a start-up that
// finds the disk full does not catch deduplication up: adds are then
// refused until the follower has caught up, once there is room. Reads and
// proofs are unaffected.
type SpaceGuard interface {
	// Check returns nil while the store has room, else an error saying
	// why not, as of the latest measurement.
	Check() error
	// Measure measures now and returns what Check returns afterwards.
	Measure() error
}

// alwaysRoom is the SpaceGuard of a log configured without one.
type alwaysRoom struct{}

func (alwaysRoom) Check() error   { return nil }
func (alwaysRoom) Measure() error { return nil }

// errDedupBehind refuses adds after a start on a full disk until the dedup
// map has caught up with the log: before that, a retry of an entry already
// in the log would be appended a second time.
var errDedupBehind = fmt.Errorf("%w: deduplication is catching up with the log after the disk was full", ErrPushback)

// roomForAdd refuses an add while the store has no room, or while the dedup
// map is behind the log.
func (l *Log) roomForAdd() error {
	if err := l.space.Check(); err != nil {
		return err
	}
	if l.dedupBehind.Load() {
		return errDedupBehind
	}
	return nil
}

// appendFailed wraps an error of the store's append. When the disk is full
// now, the error is the guard's, as if the add had been refused before the
// append (the store's own error, ENOSPC, is logged): the client then learns
// that the disk is full rather than that storage failed.
func (l *Log) appendFailed(err error) error {
	var fe *FrozenError
	if errors.As(err, &fe) {
		return fe
	}
	if l.cutOffErr != nil && errors.Is(err, l.cutOffErr) {
		if e := l.refusal.Load(); e != nil {
			return e
		}
		return &FrozenError{Origin: l.origin}
	}
	if errors.Is(err, ErrPushback) {
		return fmt.Errorf("appending entry: %w", err)
	}
	if serr := l.space.Measure(); serr != nil {
		l.logger.Warn("appending an entry failed with the disk full", "err", err)
		return fmt.Errorf("appending entry: %w", serr)
	}
	return fmt.Errorf("appending entry: %w", err)
}

// deferCatchUp decides what a failed start-up catch-up of deduplication
// means: when the disk is full, the log starts anyway, read-only, and the
// follower catches up once there is room (reported true); otherwise the
// start fails (false).
func (l *Log) deferCatchUp(err error) bool {
	if l.space.Measure() == nil {
		return false
	}
	l.dedupBehind.Store(true)
	l.logger.Warn("starting without catching deduplication up: the disk is full; "+
		"adds are refused until there is room and the dedup map has caught up", "err", err)
	return true
}

// dedupCaughtUp notes a catch-up that reached the log's size.
func (l *Log) dedupCaughtUp() {
	if l.dedupBehind.CompareAndSwap(true, false) {
		l.logger.Info("deduplication caught up with the log; taking adds")
	}
}
