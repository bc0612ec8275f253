// Package index is Mosaic's search index: a follower of the log that finds
// entries by artifact digest, public-key fingerprint and certificate
// identity (SAN, OIDC issuer, or both).
//
// An Index reads the log's entry bundles, in order, from its recorded
// position up to the latest published checkpoint, reads each leaf's facts
// with entry.Describe and records one posting per key (KindDigest,
// KindPublicKey, KindSAN, KindIssuer, KindIdentity) in a Store. A store
// advances its position in the same atomic, durable step as the postings of
// the leaves it covers, so after a crash or restart the index resumes where
// it stopped, with no gap and no leaf recorded twice. A leaf that does not
// parse is counted as skipped and logged; it never stops indexing.
//
// The index holds keys and log indices only. Search reads the entries it
// returns back from the log's own entry bundles, never from a second copy,
// and checks that each one has the keys asked for. Everything in a store can
// be rebuilt from the log: delete it and it is rebuilt from index 0.
//
// Two stores implement the contract, one file each: PostgresStore (the
// tables of migrations/0002_index.sql, beside a PostgreSQL log) and
// BadgerStore (an embedded database in a directory, beside a file log).
package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/outage"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// Source is the log an index follows; *internal/tlog.Log is one.
type Source interface {
	// Checkpoint returns the latest published checkpoint, verified. An
	// error wrapping os.ErrNotExist means none is published yet.
	Checkpoint(ctx context.Context) (*log.Checkpoint, []byte, error)
	// ReadEntryBundle returns the entry bundle index (tlog-tiles format)
	// with exactly width entries (width 0: a full bundle of 256).
	ReadEntryBundle(ctx context.Context, index uint64, width uint8) ([]byte, error)
}

// maxBatchPostings bounds the postings of one commit (a batch always holds
// at least one leaf, whatever its number of keys).
const maxBatchPostings = 4096

// Config tunes an Index; the zero value is usable.
type Config struct {
	// Poll is how often Run looks for a new checkpoint (default 1 s).
	Poll    time.Duration
	Logger  *slog.Logger
	Metrics *Metrics
}

// Status is how far the index has caught up with the log.
type Status struct {
	// IndexedSize is the number of leaves, from index 0, indexed.
	IndexedSize uint64
	// LogSize is the size of the latest checkpoint the index read.
	LogSize uint64
	// Lag is LogSize - IndexedSize (0 if the index is ahead).
	Lag uint64
	// Skipped counts the indexed leaves that did not parse.
	Skipped uint64
	// UpdatedAt is when IndexedSize last advanced (recorded in the store,
	// so it survives restarts); zero if it never did.
	UpdatedAt time.Time
	// CheckedAt is when IndexedSize and LogSize were last read; zero
	// before the first pass.
	CheckedAt time.Time
}

// Index follows a log into a Store and searches it. Its methods are safe
// for concurrent use.
type Index struct {
	src     Source
	store   Store // owned by the caller, who closes it after Run returns
	poll    time.Duration
	logger  *slog.Logger
	metrics *Metrics
	// failing logs the start and the end of a run of failed passes (while
	// the log's store is down, every pass fails the same way), not each.
	failing *outage.Tracker

	// syncMu is held for the whole of a Sync pass: one pass at a time.
	syncMu sync.Mutex
	// mu guards status.
	mu     sync.Mutex
	status Status
}

// New returns an index of src kept in store. It does no I/O: Run (or
// Sync) does the indexing. The caller closes store once Run has returned.
func New(src Source, store Store, cfg Config) *Index {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	return &Index{src: src, store: store, poll: cfg.Poll, logger: cfg.Logger, metrics: cfg.Metrics,
		failing: outage.NewTracker(cfg.Logger, "index: following the log")}
}

// Run indexes the log until ctx ends: a pass at once, then one every Poll.
// A failed pass is counted (mosaic_index_pass_errors_total) and retried at
// the next poll; a run of them is logged when it starts and when it ends.
// While the store's disk is full (diskspace.ErrFull) indexing pauses, logged
// once, and resumes by itself.
func (ix *Index) Run(ctx context.Context) {
	t := time.NewTicker(ix.poll)
	defer t.Stop()
	paused := false
	for {
		err := ix.Sync(ctx)
		if err == nil {
			ix.failing.OK()
		}
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, diskspace.ErrFull):
			if !paused {
				ix.logger.Warn("index: paused while the disk is full; it resumes by itself", "err", err)
				paused = true
			}
		case err != nil:
			ix.metrics.errors.Inc()
			ix.failing.Fail(err)
		case paused:
			ix.logger.Info("index: resumed")
			paused = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync does one pass: it indexes every leaf the latest checkpoint covers
// that the store has not indexed yet, committing batch by batch. It returns
// early, without error, when another indexer of the same store commits
// first (it then continues at the next pass).
func (ix *Index) Sync(ctx context.Context) error {
	ix.syncMu.Lock()
	defer ix.syncMu.Unlock()
	size, err := ix.logSize(ctx)
	if err != nil {
		return err
	}
	pos, err := ix.store.Position(ctx)
	if err != nil {
		return err
	}
	ix.setStatus(pos, size)
	if pos.Size > size {
		return fmt.Errorf("index: the index holds %d leaves but the log only %d: it belongs to another log, "+
			"or the log was reset; remove the index to rebuild it", pos.Size, size)
	}
	for pos.Size < size {
		b, skips, err := ix.read(ctx, pos.Size, size)
		if err != nil {
			return err
		}
		if err := ix.store.Commit(ctx, b); errors.Is(err, ErrPositionMoved) {
			ix.logger.Debug("index: another indexer committed first", "err", err)
			if pos, err = ix.store.Position(ctx); err == nil {
				ix.setStatus(pos, size)
			}
			return err
		} else if err != nil {
			return err
		}
		ix.committed(b, skips)
		pos = Position{Size: b.To, Skipped: pos.Skipped + b.Skipped, UpdatedAt: time.Now()}
		ix.setStatus(pos, size)
	}
	return nil
}

// logSize is the latest checkpoint's size, 0 before the first.
func (ix *Index) logSize(ctx context.Context) (uint64, error) {
	cp, _, err := ix.src.Checkpoint(ctx)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("index: reading the log's checkpoint: %w", err)
	}
	return cp.Size, nil
}

// skip is a leaf that did not parse.
type skip struct {
	index uint64
	err   error
}

// read builds the batch of leaves from `from` to at most the end of its
// entry bundle (and at most maxBatchPostings postings) in a log of size.
func (ix *Index) read(ctx context.Context, from, size uint64) (*Batch, []skip, error) {
	bundle := from / layout.EntryBundleWidth
	first := bundle * layout.EntryBundleWidth
	end := min(size, first+layout.EntryBundleWidth)
	leaves, err := ix.bundle(ctx, bundle, size)
	if err != nil {
		return nil, nil, err
	}
	if uint64(len(leaves)) < end-first {
		return nil, nil, fmt.Errorf("index: entry bundle %d has %d entries, the log of size %d needs %d",
			bundle, len(leaves), size, end-first)
	}
	b := &Batch{From: from, To: from}
	var skips []skip
	for i := from; i < end; i++ {
		_, keys, err := keysOf(leaves[i-first])
		if len(b.Postings) > 0 && len(b.Postings)+len(keys) > maxBatchPostings {
			break
		}
		if err != nil {
			b.Skipped++
			skips = append(skips, skip{i, err})
		}
		for _, k := range keys {
			b.Postings = append(b.Postings, Posting{Key: k, Index: i})
		}
		b.To = i + 1
	}
	return b, skips, nil
}

// bundle reads and splits entry bundle n as published in a log of size.
func (ix *Index) bundle(ctx context.Context, n, size uint64) ([][]byte, error) {
	raw, err := ix.src.ReadEntryBundle(ctx, n, layout.PartialTileSize(0, n, size))
	if err != nil {
		return nil, fmt.Errorf("index: reading entry bundle %d: %w", n, err)
	}
	var eb api.EntryBundle
	if err := eb.UnmarshalText(raw); err != nil {
		return nil, fmt.Errorf("index: entry bundle %d: %w", n, err)
	}
	return eb.Entries, nil
}

// committed accounts for a batch the store holds now.
func (ix *Index) committed(b *Batch, skips []skip) {
	for _, s := range skips {
		ix.logger.Warn("index: skipped a leaf that is not an entry this index understands", "index", s.index, "err", s.err)
	}
	ix.metrics.indexed.Add(float64(b.To - b.From))
	ix.metrics.skipped.Add(float64(b.Skipped))
}

func (ix *Index) setStatus(pos Position, logSize uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.status = Status{IndexedSize: pos.Size, LogSize: logSize, Skipped: pos.Skipped,
		UpdatedAt: pos.UpdatedAt, CheckedAt: time.Now()}
	if logSize > pos.Size {
		ix.status.Lag = logSize - pos.Size
	}
	ix.metrics.size.Set(float64(pos.Size))
	ix.metrics.lag.Set(float64(ix.status.Lag))
}

// Status reports how far the index has caught up, as of the last pass.
func (ix *Index) Status() Status {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.status
}

// keysOf describes a leaf and lists the keys it is found by, each once.
func keysOf(leaf []byte) (*entry.Facts, []Key, error) {
	f, err := entry.Describe(leaf)
	if err != nil {
		return nil, nil, err
	}
	var keys []Key
	if f.Digest != "" {
		keys = append(keys, Key{KindDigest, f.Digest})
	}
	if f.KeyFingerprint != "" {
		keys = append(keys, Key{KindPublicKey, f.KeyFingerprint})
	}
	if f.Issuer != "" {
		keys = append(keys, Key{KindIssuer, f.Issuer})
	}
	sans := slices.Clone(f.SANs)
	slices.Sort(sans)
	for _, san := range slices.Compact(sans) {
		if san == "" {
			continue
		}
		keys = append(keys, Key{KindSAN, san})
		if f.Issuer != "" {
			keys = append(keys, Key{KindIdentity, IdentityValue(f.Issuer, san)})
		}
	}
	return f, keys, nil
}
