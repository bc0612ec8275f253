package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// An entry's identity is what the log deduplicates on. By default it is
// Tessera's, SHA-256 of the leaf; Config.Identity may make different leaves
// one entry (internal/entry.LeafIdentity: an ECDSA-signed entry and its twin
// with s replaced by n−s). Deduplication then holds for identities:
//
//   - the dedup map (Config.Dedup) is keyed on identities, by Add and by the
//     start-up scan alike, so that a crash loses nothing the scan cannot
//     redo; a lookup also tries SHA-256 of the leaf, under which a map
//     written before Config.Identity was set recorded the entry;
//   - Tessera's in-memory dedup, which keys on SHA-256 of the leaf and
//     cannot be changed, misses twins in flight, so adds of one identity in
//     flight in this process are coalesced here (flights): the first goes
//     to the store, the others wait for its index;
//   - a store that deduplicates itself (PostgreSQL) is given the same
//     function (storage.LogOptions.Identity).
//
// A duplicate's index may hold a leaf other than the one submitted (its
// twin); Add then proves and returns the leaf the log holds.
//
// Gap: a map written before Config.Identity was set recorded a high-S ECDSA
// entry under SHA-256 of its leaf only. An exact repeat of it is found; its
// twin is not, and gets an index of its own.

// identityOf is the identity of leaf: identity when the caller computed it,
// else Config.Identity's, else SHA-256 of the leaf.
func (l *Log) identityOf(leaf, identity []byte) []byte {
	switch {
	case identity != nil:
		return identity
	case l.identity != nil:
		return l.identity(leaf)
	}
	id := sha256.Sum256(leaf)
	return id[:]
}

// flight is an add in progress for one identity. Its fields are written
// once, by land, before done is closed.
type flight struct {
	l    *Log
	key  string
	once sync.Once
	done chan struct{}
	// index is where the identity's entry is; ok is false when the add
	// failed, and a waiter must then try itself.
	index uint64
	ok    bool
}

// land resolves f (once; later calls do nothing) and removes it from the
// log's flights, so that later adds of its identity find it in the dedup
// map instead. A nil flight does nothing.
func (f *flight) land(index uint64, ok bool) {
	if f == nil {
		return
	}
	f.once.Do(func() {
		f.index, f.ok = index, ok
		f.l.flightMu.Lock()
		delete(f.l.flights, f.key)
		f.l.flightMu.Unlock()
		close(f.done)
	})
}

// claim makes this add the one in flight for id, or finds id's entry: in the
// dedup map, or from another add of id in flight, which it waits for. It
// returns the flight to land once the entry has an index (nil without a
// dedup map: the store deduplicates), or the index of the existing entry.
func (l *Log) claim(ctx context.Context, leaf, id []byte) (f *flight, index uint64, found bool, err error) {
	if l.dedup == nil {
		return nil, 0, false, nil
	}
	key := string(id)
	for {
		l.flightMu.Lock()
		other, busy := l.flights[key]
		if !busy {
			f = &flight{l: l, key: key, done: make(chan struct{})}
			l.flights[key] = f
		}
		l.flightMu.Unlock()
		if !busy {
			break
		}
		select {
		case <-other.done:
		case <-ctx.Done():
			return nil, 0, false, ctx.Err()
		}
		if other.ok {
			return nil, other.index, true, nil
		}
		// The other add failed (pushback, say): try ourselves.
	}
	index, found, err = l.lookupDuplicate(ctx, leaf, id)
	if err != nil || found {
		f.land(index, found)
		return nil, index, found, err
	}
	return f, 0, false, nil
}

// provenLeaf returns the leaf the log holds at index, a duplicate of leaf
// (identity id), with its inclusion proof hashes in the tree of cp. An
// exact repeat's proof verifies for leaf itself; otherwise the entry
// bundle is read, and the leaf found must have identity id.
func (l *Log) provenLeaf(ctx context.Context, leaf, id []byte, index, size uint64, root []byte, hashes [][]byte) ([]byte, error) {
	if proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, rfc6962.DefaultHasher.HashLeaf(leaf), hashes, root) == nil {
		return leaf, nil
	}
	bundleIdx := index / layout.EntryBundleWidth
	raw, err := l.reader.bundle(ctx, bundleIdx, layout.PartialTileSize(0, bundleIdx, size))
	if err != nil {
		return nil, fmt.Errorf("reading entry bundle %d for duplicate %d: %w", bundleIdx, index, err)
	}
	var b api.EntryBundle
	if err := b.UnmarshalText(raw); err != nil {
		return nil, fmt.Errorf("parsing entry bundle %d for duplicate %d: %w", bundleIdx, index, err)
	}
	i := index % layout.EntryBundleWidth
	if i >= uint64(len(b.Entries)) {
		return nil, fmt.Errorf("entry bundle %d holds %d entries, not entry %d", bundleIdx, len(b.Entries), index)
	}
	logged := b.Entries[i]
	if !bytes.Equal(l.identityOf(logged, nil), id) {
		l.metrics.integrityFailures.Inc()
		l.logger.Error("the entry a duplicate resolved to has another identity", "index", index)
		return nil, fmt.Errorf("integrity failure: entry %d has another identity than the duplicate resolved to it", index)
	}
	return logged, nil
}
