// Package diskspace watches the free space of the filesystem a store writes
// to and says when writing must stop, before the filesystem is full.
//
// Why before, and not on the first failed write: the embedded store has two
// kinds of writer. Tessera's POSIX driver writes with write(2); on a full
// filesystem a write fails with ENOSPC, its batch fails and nothing in it is
// acknowledged. Badger (the dedup map and the search index) is different: it
// extends its write-ahead log, value log and table files with ftruncate,
// which allocates nothing, maps them into memory and writes through the
// mapping. When the page a write touches has no block behind it and the
// filesystem has none left, the kernel answers the page fault with SIGBUS and
// the process dies; Badger v4 has no option to write those files with
// write(2). So a Watcher measures the filesystem (statfs) every Interval (a
// tenth of it near the reserve) and reports it full once the space left for
// writes falls below a reserve; the
// log refuses adds, the dedup map and the index stop writing, and the
// reserve absorbs what is already in flight (a Tessera batch, a Badger
// memtable flush or compaction). It reports room again, by itself, once the
// space left is back above the reserve plus an eighth (so it does not flap).
//
// The space left for writes is what statfs says is available to
// unprivileged users minus the bytes of memory-mapped files (Config.Mapped)
// that have no block yet. Each measurement first allocates those bytes
// (fallocate), so that what Badger writes into the files it has already
// created is backed by blocks, even if something else fills the filesystem
// afterwards; whatever could not be allocated is counted as used.
//
// A nil *Watcher always reports room: stores that are not on local disk
// (PostgreSQL) have none.
package diskspace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFull matches every *FullError.
var ErrFull = errors.New("disk full")

// FullError says that a filesystem has less space left for writes than its
// reserve. Writes are refused until it has more.
type FullError struct {
	// Path is the directory whose filesystem is full.
	Path string
	// Available is the space left for writes, in bytes; Reserve the least
	// the watcher keeps free.
	Available, Reserve uint64
}

func (e *FullError) Error() string {
	return fmt.Sprintf("the filesystem of %s is full: %s left for writes, below the reserve of %s (--disk-reserve)",
		e.Path, FormatBytes(e.Available), FormatBytes(e.Reserve))
}

// Is makes errors.Is(err, ErrFull) true for a *FullError.
func (e *FullError) Is(target error) bool { return target == ErrFull }

// Config configures a Watcher.
type Config struct {
	// Path is a directory on the filesystem to watch.
	Path string
	// Reserve is the space kept free; the zero value is DefaultReserve.
	Reserve Reserve
	// Mapped lists directories of files written through memory maps
	// (Badger's). Their unallocated bytes are allocated, or counted as
	// used. A directory that does not exist (yet) is skipped.
	Mapped []string
	// Interval is the time between two measurements (default 1 s; a
	// tenth of it near the reserve).
	Interval time.Duration
	Logger   *slog.Logger
	// Metrics receives the measurements; nil keeps none.
	Metrics *Metrics
	// OnChange, if set, is called after every change between full and not
	// full, from the goroutine that measured. It must not block.
	OnChange func(Status)
}

// Status is one measurement.
type Status struct {
	Path string
	// Size is the filesystem's size; Free what statfs reports available
	// to unprivileged users.
	Size, Free uint64
	// Unallocated is the part of memory-mapped files that has no block
	// and could not be given one; it is counted as used.
	Unallocated uint64
	// Available is Free less Unallocated: the space left for writes.
	Available uint64
	// Reserve is the resolved reserve for this filesystem.
	Reserve uint64
	// Full is set while writes must stop; Since is when Full last changed.
	Full  bool
	Since time.Time
	// MeasuredAt is when the measurement was taken.
	MeasuredAt time.Time
}

// Watcher keeps the latest Status of one filesystem. Its methods are safe
// for concurrent use, and for use on a nil *Watcher.
type Watcher struct {
	cfg Config
	// status is the latest measurement, replaced whole by measure; readers
	// load it without locking.
	status atomic.Pointer[Status]
	// measureMu is held for the whole of a measurement, so that two never
	// interleave their allocation and their state change.
	measureMu sync.Mutex
	// warned is set once a failed measurement was logged, and cleared by
	// the next one that succeeds, so a lasting failure is logged once.
	warned bool
}

// New measures the filesystem of cfg.Path once and returns a Watcher of
// it. It fails when the filesystem cannot be measured (no such directory,
// or a platform without statfs).
func New(cfg Config) (*Watcher, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Reserve == (Reserve{}) {
		cfg.Reserve = DefaultReserve
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{cfg: cfg}
	st, err := w.take(nil)
	if err != nil {
		return nil, err
	}
	if st.Reserve >= st.Size {
		cfg.Logger.Warn("the disk reserve is as large as the filesystem: writes are refused until --disk-reserve is lowered",
			"path", cfg.Path, "reserve", FormatBytes(st.Reserve), "filesystem", FormatBytes(st.Size))
	}
	w.publish(st)
	return w, nil
}

// Run measures every Interval until ctx ends; ten times as often while
// less than twice the reserve is left, so that the log stops writing well
// before it has written the reserve away.
func (w *Watcher) Run(ctx context.Context) {
	if w == nil {
		return
	}
	t := time.NewTimer(w.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_ = w.Measure()
		next := w.cfg.Interval
		if st := w.status.Load(); st.Available < 2*st.Reserve {
			next = max(w.cfg.Interval/10, 10*time.Millisecond)
		}
		t.Reset(next)
	}
}

// Check returns nil while the filesystem has room for writes and a
// *FullError while it does not, as of the latest measurement (at most one
// Interval old).
func (w *Watcher) Check() error {
	if w == nil {
		return nil
	}
	return w.status.Load().err()
}

// Measure measures now and returns what Check returns afterwards. A
// measurement that fails leaves the previous state in place.
func (w *Watcher) Measure() error {
	if w == nil {
		return nil
	}
	w.measureMu.Lock()
	defer w.measureMu.Unlock()
	prev := w.status.Load()
	st, err := w.take(prev)
	if err != nil {
		if !w.warned {
			w.cfg.Logger.Warn("measuring free disk space failed; keeping the last measurement", "path", w.cfg.Path, "err", err)
			w.warned = true
		}
		return prev.err()
	}
	w.warned = false
	w.publish(st)
	return st.err()
}

// Status returns the latest measurement; the zero Status for a nil Watcher.
func (w *Watcher) Status() Status {
	if w == nil {
		return Status{}
	}
	return *w.status.Load()
}

func (s *Status) err() error {
	if !s.Full {
		return nil
	}
	return &FullError{Path: s.Path, Available: s.Available, Reserve: s.Reserve}
}

// take measures the filesystem; prev (nil at first) decides the hysteresis.
func (w *Watcher) take(prev *Status) (*Status, error) {
	unallocated := allocateMapped(w.cfg.Mapped)
	size, free, err := statfs(w.cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("measuring the filesystem of %s: %w", w.cfg.Path, err)
	}
	now := time.Now()
	st := &Status{Path: w.cfg.Path, Size: size, Free: free, Unallocated: unallocated,
		Reserve: w.cfg.Reserve.Bytes(size), MeasuredAt: now, Since: now}
	if free > unallocated {
		st.Available = free - unallocated
	}
	st.Full = st.Available < st.Reserve
	if prev != nil && prev.Full {
		// Stay full until there is clearly room again.
		st.Full = st.Available < st.Reserve+st.Reserve/8
	}
	if prev != nil && prev.Full == st.Full {
		st.Since = prev.Since
	}
	return st, nil
}

// publish makes st the current state, and reports a change.
func (w *Watcher) publish(st *Status) {
	prev := w.status.Swap(st)
	w.cfg.Metrics.observe(st)
	if prev == nil || prev.Full == st.Full {
		if prev == nil && st.Full {
			w.logChange(st)
		}
		return
	}
	w.logChange(st)
	if w.cfg.OnChange != nil {
		w.cfg.OnChange(*st)
	}
}

func (w *Watcher) logChange(st *Status) {
	w.cfg.Metrics.changed(st)
	if st.Full {
		w.cfg.Logger.Warn("disk full: refusing writes until space is freed; reads are served",
			"path", st.Path, "available", FormatBytes(st.Available), "reserve", FormatBytes(st.Reserve),
			"free", FormatBytes(st.Free), "unallocated_mapped", FormatBytes(st.Unallocated))
		return
	}
	w.cfg.Logger.Info("disk space is back: writing resumes",
		"path", st.Path, "available", FormatBytes(st.Available), "reserve", FormatBytes(st.Reserve))
}

// allocateMapped gives blocks to the unallocated bytes of the files in dirs
// and returns how many bytes are still without one.
func allocateMapped(dirs []string) uint64 {
	var total uint64
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // not created yet, or gone: nothing mapped there
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				total += allocate(filepath.Join(dir, e.Name()))
			}
		}
	}
	return total
}
