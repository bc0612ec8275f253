package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// Deduplicator is a persistent map from an entry's identity (Config.Identity
// of its leaf; by default SHA-256, as Tessera computes it) to its index, for
// stores whose driver does not deduplicate by itself (the embedded POSIX
// store). With the coalescing of adds in flight in this process (identity.go)
// it makes duplicate detection exact for one process and across its
// restarts:
//
//   - every entry up to Scanned is recorded, and Scanned only moves after
//     the entries below it are durably recorded;
//   - the log records each entry it appends as soon as it has an index
//     (not necessarily durably: a crash loses only what the scan redoes);
//   - at start the log scans from Scanned to its integrated size before it
//     takes entries, so every entry ever acknowledged (acknowledgement waits
//     for a published checkpoint), and every one sequenced before a crash,
//     is found after it.
//
// This is the only statement of the contract; the POSIX store's map
// (storage.DedupMap) implements it. It is not a tessera.Antispam (a
// Decorator around Add plus a Follower fed entry bundles), although it has
// that shape, because Tessera's contract (v1.0.4) cannot keep it exact:
//
//   - Tessera starts the Follower in the background once the appender
//     exists and takes adds at once: nothing in the contract lets the log
//     refuse adds until the map has caught up after a kill -9, so a retry
//     of an entry sequenced before the crash but not yet followed would get
//     a second index (Tessera's own antispam is best-effort: it "reduces"
//     duplicates);
//   - the Follower learns of an entry only from its bundle, after
//     integration: a repeat arriving in between is not found, where Add
//     here records each entry as soon as it has an index;
//   - Tessera hands the Follower its own bundle hasher (SHA-256 of the
//     leaf), and keys its decorators on tessera.Entry.Identity, which
//     cannot be set: twins (Config.Identity) would be two entries;
//   - Tessera's shutdown waits for every Follower to reach the log's size,
//     but on a full disk this map writes nothing (SpaceGuard), so Close
//     would wait out its whole deadline.
type Deduplicator interface {
	// Lookup returns the index recorded for identity.
	Lookup(ctx context.Context, identity []byte) (index uint64, ok bool, err error)
	// Record notes that identity is at index.
	Record(ctx context.Context, identity []byte, index uint64) error
	// Scanned is the log size below which every entry is recorded.
	Scanned(ctx context.Context) (uint64, error)
	// RecordScanned durably records identities[i] at from+i and moves
	// Scanned to from+len(identities).
	RecordScanned(ctx context.Context, from uint64, identities [][]byte) error
}

// lookupDuplicate returns the index of an entry of identity id the
// deduplicator knows, if any; also one recorded under SHA-256 of leaf,
// when that differs from id, by a map written before Config.Identity was
// set (identity.go).
func (l *Log) lookupDuplicate(ctx context.Context, leaf, id []byte) (uint64, bool, error) {
	if l.dedup == nil {
		return 0, false, nil
	}
	idx, ok, err := l.dedup.Lookup(ctx, id)
	if err == nil && !ok {
		if legacy := sha256.Sum256(leaf); !bytes.Equal(legacy[:], id) {
			idx, ok, err = l.dedup.Lookup(ctx, legacy[:])
		}
	}
	if err != nil {
		return 0, false, fmt.Errorf("looking up duplicates: %w", err)
	}
	return idx, ok, nil
}

// recordAppended notes a new entry's index. A failure is logged, not
// returned: the entry is in the log, and the dedup scan records it later.
func (l *Log) recordAppended(ctx context.Context, id []byte, index uint64) {
	if l.dedup == nil {
		return
	}
	if err := l.dedup.Record(ctx, id, index); err != nil {
		l.logger.Warn("recording a new entry for deduplication; the dedup scan will", "index", index, "err", err)
	}
}

// CatchUpDedup records every integrated entry the deduplicator has not
// scanned yet. New calls it before it returns a log.
func (l *Log) CatchUpDedup(ctx context.Context) error {
	if l.dedup == nil {
		return nil
	}
	size, err := l.dedupScanSize(ctx)
	if err != nil {
		return err
	}
	from, err := l.dedup.Scanned(ctx)
	if err != nil {
		return fmt.Errorf("reading the dedup scan position: %w", err)
	}
	start, logged := time.Now(), time.Now()
	for from < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, err := l.scanBundle(ctx, from, size)
		if err != nil {
			return err
		}
		from = next
		if time.Since(logged) > 5*time.Second {
			l.logger.Info("catching up deduplication", "scanned", from, "size", size)
			logged = time.Now()
		}
	}
	if d := time.Since(start); d > time.Second {
		l.logger.Info("deduplication caught up", "size", size, "took", d.Round(time.Millisecond))
	}
	return nil
}

// dedupScanSize is how far the dedup scan may go: the integrated tree, which
// after a crash includes entries sequenced but not yet published (never
// acknowledged, but a client may retry them), else the published size.
func (l *Log) dedupScanSize(ctx context.Context) (uint64, error) {
	if n, err := l.reader.IntegratedSize(ctx); err == nil {
		return n, nil
	}
	cp, _, err := l.Checkpoint(ctx)
	if errors.Is(err, ErrNotFound) {
		return 0, nil // a new log: nothing published, nothing to scan
	} else if err != nil {
		return 0, err
	}
	return cp.Size, nil
}

// scanBundle records the entries of the bundle holding index from, up to
// size, and returns where the next scan starts.
func (l *Log) scanBundle(ctx context.Context, from, size uint64) (uint64, error) {
	bundleIdx := from / layout.EntryBundleWidth
	first := bundleIdx * layout.EntryBundleWidth
	width := layout.PartialTileSize(0, bundleIdx, size)
	raw, err := l.reader.bundle(ctx, bundleIdx, width)
	if err != nil {
		return 0, fmt.Errorf("reading entry bundle %d for the dedup scan: %w", bundleIdx, err)
	}
	var b api.EntryBundle
	if err := b.UnmarshalText(raw); err != nil {
		return 0, fmt.Errorf("parsing entry bundle %d for the dedup scan: %w", bundleIdx, err)
	}
	end := min(first+layout.EntryBundleWidth, size)
	if uint64(len(b.Entries)) < end-first {
		return 0, fmt.Errorf("entry bundle %d holds %d entries, want %d", bundleIdx, len(b.Entries), end-first)
	}
	ids := make([][]byte, 0, end-from)
	for _, e := range b.Entries[from-first : end-first] {
		ids = append(ids, l.identityOf(e, nil))
	}
	if err := l.dedup.RecordScanned(ctx, from, ids); err != nil {
		return 0, fmt.Errorf("recording entries %d to %d for deduplication: %w", from, end, err)
	}
	return end, nil
}

// followDedup keeps the dedup scan close behind the log until ctx ends, so
// a restart has little to catch up.
func (l *Log) followDedup(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.space.Check() != nil {
			continue // nothing is written to a full disk (space.go)
		}
		if err := l.CatchUpDedup(ctx); err != nil && ctx.Err() == nil {
			l.logger.Warn("following the log for deduplication", "err", err)
		} else if err == nil {
			l.dedupCaughtUp()
		}
	}
}
