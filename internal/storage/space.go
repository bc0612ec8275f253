package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/prometheus/client_golang/prometheus"
)

// A full disk and the POSIX store (see internal/diskspace for why Badger
// must never meet one):
//
//   - the store watches its filesystem (Space) and stops writes below the
//     reserve: the log refuses adds (HTTP 507), the dedup map below and the
//     search index (internal/index) stop writing, /readyz says "disk full";
//   - nothing at start-up writes when it need not: the identity is read
//     before it is written, and the Badger databases are opened by their
//     first use while the disk has room, because opening one creates and
//     writes memory-mapped files. So mosaicd starts on a full disk, serves
//     reads and refuses writes, and starts writing when space returns;
//   - closing a Badger database flushes its memtable into a new table
//     through a memory map, so on a full disk the dedup map is left to the
//     process's exit instead: its write-ahead log is in the page cache, and
//     the next start replays it (the dedup scan redoes anything lost);
//   - temporary files left by writes that died half-way are swept at
//     start-up and whenever the disk has room again (sweep.go).

// diskMetricsLabels labels the disk metrics of the store of logID.
func diskMetricsLabels(logID string) prometheus.Labels {
	if logID == "" {
		logID = DefaultLogID
	}
	return prometheus.Labels{"log": logID}
}

// sweepDelay is how long the sweeper waits before it removes temporary
// files last modified before the moment it was asked to sweep: a live
// writer's temporary file lives for milliseconds, so by then it is gone.
const sweepDelay = 10 * time.Second

// startSpace starts the watcher of the log directory's filesystem and the
// sweeper of stale temporary files: once for the files older than opened,
// and again whenever the disk has room after being full, for the files
// older than that moment. (Tessera's createTemp leaks its temporary file
// whenever the write into it fails, so every ENOSPC leaves one.)
func (b *posixBackend) startSpace(ctx context.Context, id string, opts Options, opened time.Time) {
	sweep := make(chan time.Time, 1)
	sweep <- opened
	var metrics *diskspace.Metrics
	if opts.Registerer != nil {
		metrics = diskspace.NewMetrics(diskMetricsLabels(id))
		for _, c := range metrics.Collectors() {
			_ = opts.Registerer.Register(c)
		}
	}
	w, err := diskspace.New(diskspace.Config{
		Path:    b.dir,
		Reserve: opts.DiskReserve,
		// Badger's databases: the dedup map here, the search index that
		// mosaicd opens beside it.
		Mapped:  []string{filepath.Join(b.dir, mosaicDir, "dedup"), filepath.Join(b.dir, mosaicDir, "index")},
		Logger:  b.logger,
		Metrics: metrics,
		OnChange: func(st diskspace.Status) {
			if !st.Full {
				select {
				case sweep <- st.MeasuredAt:
				default:
				}
			}
		},
	})
	if err != nil {
		b.logger.Warn("free disk space is not watched: writes will not stop before the disk is full", "dir", b.dir, "err", err)
	} else {
		b.space = w
		b.bg.Add(1)
		go func() { defer b.bg.Done(); w.Run(ctx) }()
	}
	b.bg.Add(1)
	go func() { defer b.bg.Done(); b.sweepLoop(ctx, sweep) }()
}

// sweepLoop sweeps stale temporary files each time it is asked to, until
// ctx ends.
func (b *posixBackend) sweepLoop(ctx context.Context, sweep <-chan time.Time) {
	for {
		var before time.Time
		select {
		case <-ctx.Done():
			return
		case before = <-sweep:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(before.Add(sweepDelay))):
		}
		removed, err := sweepTemps(ctx, b.dir, before)
		if len(removed) > 0 {
			b.logger.Info("removed temporary files left by interrupted writes", "dir", b.dir,
				"count", len(removed), "example", removed[0])
		}
		if err != nil && ctx.Err() == nil {
			b.logger.Warn("removing temporary files left by interrupted writes", "dir", b.dir, "err", err)
		}
	}
}

// DedupMap is the POSIX store's dedup map (a tlog.Deduplicator; see
// dedup.go), kept off a full disk: the Badger database is opened by the
// first use that finds room on the disk, and writes are refused while the
// disk is full. Reads need the database open, so before the first open they
// too are refused on a full disk; the log takes no adds then anyway.
type DedupMap struct {
	dir    string
	space  *diskspace.Watcher
	logger *slog.Logger

	// mu guards db and closed; db is nil until opened.
	mu     sync.Mutex
	db     *badgerDedup
	closed bool
}

var errDedupClosed = errors.New("the dedup map is closed")

// open returns the database, opening it if the disk has room.
func (d *DedupMap) open() (*badgerDedup, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return nil, errDedupClosed
	case d.db != nil:
		return d.db, nil
	}
	if err := d.space.Measure(); err != nil {
		return nil, fmt.Errorf("opening the dedup map in %s: %w", d.dir, err)
	}
	db, err := openBadgerDedup(d.dir)
	if err != nil {
		return nil, err
	}
	d.db = db
	return db, nil
}

// writable returns the database if the disk has room for a write.
func (d *DedupMap) writable() (*badgerDedup, error) {
	if err := d.space.Check(); err != nil {
		return nil, fmt.Errorf("writing the dedup map in %s: %w", d.dir, err)
	}
	return d.open()
}

func (d *DedupMap) Lookup(ctx context.Context, identity []byte) (uint64, bool, error) {
	db, err := d.open()
	if err != nil {
		return 0, false, err
	}
	return db.Lookup(ctx, identity)
}

func (d *DedupMap) Record(ctx context.Context, identity []byte, index uint64) error {
	db, err := d.writable()
	if err != nil {
		return err
	}
	return db.Record(ctx, identity, index)
}

func (d *DedupMap) Scanned(ctx context.Context) (uint64, error) {
	db, err := d.open()
	if err != nil {
		return 0, err
	}
	return db.Scanned(ctx)
}

func (d *DedupMap) RecordScanned(ctx context.Context, from uint64, identities [][]byte) error {
	db, err := d.writable()
	if err != nil {
		return err
	}
	return db.RecordScanned(ctx, from, identities)
}

// Close closes the database, unless the disk is full (see above).
func (d *DedupMap) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.db == nil {
		return nil
	}
	if err := d.space.Measure(); err != nil {
		d.logger.Warn("leaving the dedup map open on a full disk: closing it would write a table; "+
			"the next start replays its write-ahead log", "dir", d.dir, "err", err)
		return nil
	}
	err := d.db.Close()
	d.db = nil
	return err
}
