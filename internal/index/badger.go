package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/mosaiclog/mosaic/internal/diskspace"
)

// Badger keys. The position is one key; a posting is a key with no value:
//
//	'k' | kind (1 byte) | Key.hash() (32 bytes) | big-endian index (8 bytes)
//
// so that the postings of one key are contiguous and in index order.
var positionKey = []byte("p")

const (
	postingTag       = 'k'
	postingPrefixLen = 1 + 1 + 32
	postingKeyLen    = postingPrefixLen + 8
	positionValueLen = 24
)

// BadgerStore keeps an index in an embedded Badger database, for logs on
// local disk. Writes are synchronous: Commit returns once the batch is on
// disk. One process at a time may open a directory.
//
// Badger writes its files through memory maps, which a full disk answers
// with SIGBUS (see internal/diskspace). A store opened with a watcher of its
// disk therefore writes nothing while the disk is full: Commit fails with
// the watcher's *diskspace.FullError (Run pauses, and resumes by itself),
// the database is opened only once the disk has room (opening writes), and
// Close leaves it to the process's exit on a full disk (closing writes a
// table; with synchronous writes its write-ahead log is already on disk).
type BadgerStore struct {
	dir    string
	logger *slog.Logger
	// space is the disk's watcher; nil: never full.
	space *diskspace.Watcher

	// mu guards db, nil until opened, and closed.
	mu     sync.Mutex
	db     *badger.DB
	closed bool
}

var _ Store = (*BadgerStore)(nil)

// OpenBadger opens (creating if needed) the index database in dir. logger
// receives Badger's warnings and errors; nil discards them.
func OpenBadger(dir string, logger *slog.Logger) (*BadgerStore, error) {
	return OpenBadgerWatched(dir, logger, nil)
}

// OpenBadgerWatched is OpenBadger for a directory whose disk space is
// watched: while space reports the disk full, the store writes nothing and
// the database is opened later, by the first use that finds room.
func OpenBadgerWatched(dir string, logger *slog.Logger, space *diskspace.Watcher) (*BadgerStore, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &BadgerStore{dir: dir, logger: logger, space: space}
	if space.Check() != nil {
		logger.Warn("index: not opening the search index on a full disk; it opens once there is room", "dir", dir)
		return s, nil
	}
	if _, err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// open returns the database, opening it first if the disk has room.
func (s *BadgerStore) open() (*badger.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, errors.New("index: the store is closed")
	case s.db != nil:
		return s.db, nil
	}
	if err := s.space.Measure(); err != nil {
		return nil, fmt.Errorf("index: opening %s: %w", s.dir, err)
	}
	opts := badger.DefaultOptions(s.dir).
		WithSyncWrites(true).
		WithLogger(badgerLogger{s.logger}).
		WithNumVersionsToKeep(1).
		// The write-ahead log is created at twice the memtable size and the
		// value log at twice its file size, sparse, written through memory
		// maps: small ones keep what the disk watcher allocates small.
		// Values (at most 24 bytes) stay in the LSM tree.
		WithMemTableSize(4 << 20).
		WithValueLogFileSize(1 << 20).
		WithValueThreshold(1 << 10).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("index: opening %s: %w (is another mosaicd using this directory?)", s.dir, err)
	}
	s.db = db
	return db, nil
}

// Position implements Store.
func (s *BadgerStore) Position(ctx context.Context) (Position, error) {
	db, err := s.open()
	if err != nil {
		return Position{}, err
	}
	var p Position
	err = db.View(func(txn *badger.Txn) error {
		var err error
		p, err = readPosition(txn)
		return err
	})
	return p, err
}

func readPosition(txn *badger.Txn) (Position, error) {
	item, err := txn.Get(positionKey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("index: reading the position: %w", err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return Position{}, fmt.Errorf("index: reading the position: %w", err)
	}
	if len(v) != positionValueLen {
		return Position{}, fmt.Errorf("index: the stored position has %d bytes, want %d", len(v), positionValueLen)
	}
	p := Position{Size: binary.BigEndian.Uint64(v), Skipped: binary.BigEndian.Uint64(v[8:])}
	if ns := int64(binary.BigEndian.Uint64(v[16:])); ns != 0 {
		p.UpdatedAt = time.Unix(0, ns)
	}
	return p, nil
}

func encodePosition(p Position) []byte {
	v := make([]byte, positionValueLen)
	binary.BigEndian.PutUint64(v, p.Size)
	binary.BigEndian.PutUint64(v[8:], p.Skipped)
	binary.BigEndian.PutUint64(v[16:], uint64(p.UpdatedAt.UnixNano()))
	return v
}

// Commit implements Store with one Badger transaction, which commits
// atomically and, with synchronous writes, durably.
func (s *BadgerStore) Commit(ctx context.Context, b *Batch) error {
	if err := checkBatch(b); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.space.Check(); err != nil {
		return fmt.Errorf("index: committing leaves [%d, %d): %w", b.From, b.To, err)
	}
	db, err := s.open()
	if err != nil {
		return err
	}
	err = db.Update(func(txn *badger.Txn) error {
		p, err := readPosition(txn)
		if err != nil {
			return err
		}
		if p.Size != b.From {
			return fmt.Errorf("%w: the position is %d, the batch starts at %d", ErrPositionMoved, p.Size, b.From)
		}
		for _, ps := range b.Postings {
			if err := txn.Set(postingKey(ps.Key, ps.Index), nil); err != nil {
				return fmt.Errorf("index: recording leaf %d: %w", ps.Index, err)
			}
		}
		next := Position{Size: b.To, Skipped: p.Skipped + b.Skipped, UpdatedAt: time.Now()}
		return txn.Set(positionKey, encodePosition(next))
	})
	if errors.Is(err, badger.ErrConflict) {
		return fmt.Errorf("%w: a concurrent commit won", ErrPositionMoved)
	}
	if err != nil && !errors.Is(err, ErrPositionMoved) {
		return fmt.Errorf("index: committing leaves [%d, %d): %w", b.From, b.To, err)
	}
	return err
}

func postingPrefix(k Key) []byte {
	h := k.hash()
	p := make([]byte, postingPrefixLen, postingKeyLen)
	p[0], p[1] = postingTag, byte(k.Kind)
	copy(p[2:], h[:])
	return p
}

func postingKey(k Key, index uint64) []byte {
	return binary.BigEndian.AppendUint64(postingPrefix(k), index)
}

// Lookup implements Store by intersecting the keys' posting lists: each
// iterator seeks to the highest index any other has reached, until all
// agree (a leapfrog join).
func (s *BadgerStore) Lookup(ctx context.Context, keys []Key, from uint64, limit int) ([]uint64, error) {
	if err := checkLookup(keys, limit); err != nil {
		return nil, err
	}
	db, err := s.open()
	if err != nil {
		return nil, err
	}
	var out []uint64
	err = db.View(func(txn *badger.Txn) error {
		its := make([]*postingIter, len(keys))
		for i, k := range keys {
			its[i] = newPostingIter(txn, k)
			defer its[i].close()
		}
		target := from
		for len(out) < limit {
			if err := ctx.Err(); err != nil {
				return err
			}
			next, ok, agreed := intersectStep(its, target)
			if !ok {
				return nil
			}
			if agreed {
				out = append(out, next)
				if next == ^uint64(0) {
					return nil
				}
				next++
			}
			target = next
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index: looking up %d keys: %w", len(keys), err)
	}
	return out, nil
}

// intersectStep seeks every iterator to target. ok is false when one is
// exhausted; agreed when all stand at target; otherwise next is the index
// to try after target.
func intersectStep(its []*postingIter, target uint64) (next uint64, ok, agreed bool) {
	for _, it := range its {
		idx, ok := it.seek(target)
		if !ok {
			return 0, false, false
		}
		if idx > target {
			return idx, true, false
		}
	}
	return target, true, true
}

// postingIter walks one key's postings in index order.
type postingIter struct {
	it     *badger.Iterator
	prefix []byte
}

func newPostingIter(txn *badger.Txn, k Key) *postingIter {
	prefix := postingPrefix(k)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	return &postingIter{it: it, prefix: prefix}
}

// seek returns the first index >= target, if any.
func (p *postingIter) seek(target uint64) (uint64, bool) {
	p.it.Seek(binary.BigEndian.AppendUint64(bytes.Clone(p.prefix), target))
	if !p.it.Valid() {
		return 0, false
	}
	k := p.it.Item().Key()
	if len(k) != postingKeyLen {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[postingPrefixLen:]), true
}

func (p *postingIter) close() { p.it.Close() }

// Close implements Store; on a full disk it leaves the database open (see
// BadgerStore).
func (s *BadgerStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.db == nil {
		return nil
	}
	if err := s.space.Measure(); err != nil {
		s.logger.Warn("index: leaving the search index open on a full disk: closing it would write a table; "+
			"the next start replays its write-ahead log", "dir", s.dir, "err", err)
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("index: closing: %w", err)
	}
	return nil
}

// badgerLogger passes Badger's warnings and errors to slog and drops its
// routine chatter.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, v ...any) {
	b.l.Error("badger: " + strings.TrimSpace(fmt.Sprintf(f, v...)))
}

func (b badgerLogger) Warningf(f string, v ...any) {
	b.l.Warn("badger: " + strings.TrimSpace(fmt.Sprintf(f, v...)))
}

func (b badgerLogger) Infof(string, ...any)  {}
func (b badgerLogger) Debugf(string, ...any) {}
