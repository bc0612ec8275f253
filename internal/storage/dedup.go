package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// The POSIX store's persistent duplicate map implements internal/tlog's
// Deduplicator, the one statement of the contract (and of why it is not
// Tessera's Antispam); storage may not import tlog, so the conformance is
// asserted in dedup_conformance_test.go.

// badgerDedup keeps the map in a Badger database (an embedded, maintained
// key-value store) beside the POSIX log: "i"+identity → big-endian index,
// and "scanned" → big-endian log size.
//
// What Record notes stays in memory (recent) until RecordScanned writes the
// same entries, durably, or Close writes what is left: Record need not be
// durable (a crash loses only what the scan redoes), and a Badger
// transaction per new entry cost about a twentieth of the server's CPU
// under load. Past maxRecent entries (a scan that cannot keep up), Record
// writes to Badger as before.
type badgerDedup struct {
	db *badger.DB

	mu     sync.Mutex
	recent map[string]uint64
}

// maxRecent bounds the entries Record keeps in memory (~100 bytes each).
const maxRecent = 1 << 20

var scannedKey = []byte("scanned")

// openBadgerDedup opens (creating if needed) the map in dir. Badger holds
// an exclusive lock on dir, so one process at a time serves the log.
func openBadgerDedup(dir string) (*badgerDedup, error) {
	opts := badger.DefaultOptions(dir).
		WithLogger(nil).
		// Record is not synced (the scan redoes a lost one); RecordScanned
		// syncs explicitly before Scanned moves.
		WithSyncWrites(false).
		// Badger creates its write-ahead log at twice the memtable size and
		// its value log at twice the file size, sparse, and writes them
		// through memory maps: small files keep what the disk watcher must
		// allocate for them small (space.go). Values (8 bytes) stay in the
		// LSM tree, under the threshold, so the value log stays empty.
		WithMemTableSize(4 << 20).
		WithValueLogFileSize(1 << 20).
		WithValueThreshold(1 << 10).
		WithNumCompactors(2)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("opening the dedup map in %s (is another mosaicd serving this directory?): %w", dir, err)
	}
	return &badgerDedup{db: db, recent: map[string]uint64{}}, nil
}

func identityKey(identity []byte) []byte { return append([]byte{'i'}, identity...) }

// Lookup returns the first index recorded for identity, in memory or in
// Badger.
func (d *badgerDedup) Lookup(ctx context.Context, identity []byte) (uint64, bool, error) {
	d.mu.Lock()
	mem, inMem := d.recent[string(identity)]
	d.mu.Unlock()
	var idx uint64
	err := d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(identityKey(identity))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("dedup map value of %d bytes, want 8", len(v))
			}
			idx = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return mem, inMem, nil
	case err != nil:
		return 0, false, err
	case inMem && mem < idx:
		return mem, true, nil
	}
	return idx, true, nil
}

// Record keeps the first index recorded for an identity: a log written
// before deduplication may hold an entry twice, and retries resolve to the
// earliest copy. It notes it in memory (see badgerDedup).
func (d *badgerDedup) Record(ctx context.Context, identity []byte, index uint64) error {
	d.mu.Lock()
	if old, ok := d.recent[string(identity)]; ok && old <= index {
		d.mu.Unlock()
		return nil
	}
	if len(d.recent) < maxRecent {
		d.recent[string(identity)] = index
		d.mu.Unlock()
		return nil
	}
	d.mu.Unlock()
	return d.record(identity, index)
}

// record writes identity at index to Badger, keeping an earlier index.
func (d *badgerDedup) record(identity []byte, index uint64) error {
	for {
		err := d.db.Update(func(txn *badger.Txn) error { return setFirst(txn, identity, index) })
		// A conflict means a concurrent transaction wrote the same key;
		// retrying sees its value and keeps the first.
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
}

func setFirst(txn *badger.Txn, identity []byte, index uint64) error {
	key := identityKey(identity)
	_, err := txn.Get(key)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	return txn.Set(key, binary.BigEndian.AppendUint64(nil, index))
}

func (d *badgerDedup) Scanned(ctx context.Context) (uint64, error) {
	var n uint64
	err := d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(scannedKey)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("dedup scan position of %d bytes, want 8", len(v))
			}
			n = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	return n, err
}

// RecordScanned writes the identities, syncs them, and only then moves the
// scan position, so the position never runs ahead of what is on disk.
func (d *badgerDedup) RecordScanned(ctx context.Context, from uint64, identities [][]byte) error {
	if err := d.db.Update(func(txn *badger.Txn) error {
		for i, id := range identities {
			if err := setFirst(txn, id, from+uint64(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := d.db.Sync(); err != nil {
		return err
	}
	// Durable now: what Record noted for them is no longer needed.
	d.mu.Lock()
	for _, id := range identities {
		delete(d.recent, string(id))
	}
	d.mu.Unlock()
	if err := d.db.Update(func(txn *badger.Txn) error {
		return txn.Set(scannedKey, binary.BigEndian.AppendUint64(nil, from+uint64(len(identities))))
	}); err != nil {
		return err
	}
	return d.db.Sync()
}

// Close writes what Record noted and the scan has not, then closes.
func (d *badgerDedup) Close() error {
	d.mu.Lock()
	recent := d.recent
	d.recent = map[string]uint64{}
	d.mu.Unlock()
	return errors.Join(d.writeRecent(recent), d.db.Close())
}

// writeRecent writes recent to Badger in as few transactions as fit.
func (d *badgerDedup) writeRecent(recent map[string]uint64) error {
	txn := d.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for id, index := range recent {
		err := setFirst(txn, []byte(id), index)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = d.db.NewTransaction(true)
			err = setFirst(txn, []byte(id), index)
		}
		if err != nil {
			return err
		}
	}
	return txn.Commit()
}
