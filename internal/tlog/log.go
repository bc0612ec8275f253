// Package tlog is Mosaic's transparency log service over Tessera.
//
// It owns the Tessera appender lifecycle (batching, antispam, checkpoint
// signing) and answers the questions the HTTP layer asks: add this leaf and
// return its index, a signed checkpoint that covers it and an inclusion proof
// against that checkpoint; read the checkpoint, a tile or an entry bundle.
//
// Durability contract: Add returns an index only after the storage driver has
// made the entry durable and a checkpoint covering it has been published, so
// an acknowledged entry survives a crash of this process. Proofs are computed
// from the same tiles any tlog-tiles client reads, never from a second copy.
package tlog

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// ErrPushback means the log is overloaded and the client should retry later.
var ErrPushback = tessera.ErrPushback

// ErrNotFound means the requested resource (checkpoint, tile, bundle) does
// not exist (yet).
var ErrNotFound = os.ErrNotExist

// ErrShuttingDown means the log no longer accepts entries.
var ErrShuttingDown = errors.New("log is shutting down")

// Config is what a Log needs beyond its storage driver.
type Config struct {
	Origin string
	// Key signs checkpoints.
	Key crypto.Signer
	// BatchMaxSize and BatchMaxAge bound Tessera's sequencing batches.
	BatchMaxSize uint
	BatchMaxAge  time.Duration
	// CheckpointInterval is the least time between two published
	// checkpoints; CheckpointRepublishInterval re-signs an unchanged tree
	// so readers can tell the log is alive.
	CheckpointInterval          time.Duration
	CheckpointRepublishInterval time.Duration
	// AwaitPoll is how often waiting adds look for a new checkpoint.
	AwaitPoll time.Duration
	// PushbackMaxOutstanding bounds sequenced-but-unintegrated entries.
	// Tessera's POSIX driver integrates as it sequences and ignores it.
	PushbackMaxOutstanding uint
	// MaxInflightAdds bounds the adds in progress at once, on every store:
	// an Add beyond it fails at once with an *InflightLimitError instead of
	// queueing behind the others. Zero means DefaultMaxInflightAdds.
	MaxInflightAdds uint
	// AntispamInMemory is the size of Tessera's in-memory dedup cache.
	AntispamInMemory uint
	// Dedup is the persistent duplicate map for stores that do not
	// deduplicate themselves, or nil (see Deduplicator, and there why it
	// is not a tessera.Antispam). New brings it up
	// to date with the log before it returns (on a full disk, adds wait
	// for that instead: see SpaceGuard), and it follows the log until
	// Close.
	Dedup Deduplicator
	// Identity computes an entry's identity, what the log deduplicates on,
	// from its leaf (see identity.go); nil means SHA-256 of the leaf.
	Identity func(leaf []byte) []byte
	// Space says whether the store has room for new entries (see
	// SpaceGuard); nil: always.
	Space SpaceGuard
	// ReadCacheBytes bounds the full tiles and entry bundles kept in
	// memory, in bytes; 0 means DefaultReadCacheBytes.
	ReadCacheBytes int64
	Logger         *slog.Logger
	// Metrics are the log's collectors; nil: unregistered ones, labelled
	// with the origin.
	Metrics *Metrics
	// Record, if set, is the checkpoint record (record.go): New refuses a
	// store behind it (a *RollbackError), and every checkpoint is recorded
	// in it before it is signed.
	Record *Record
	// CutOffErr is the store's error for an add refused because another
	// process froze the log (storage.ErrFrozen); Add turns it into a
	// *FrozenError.
	CutOffErr error
	// Witnesses, if set, has each checkpoint cosigned by the witnesses of
	// its policy before it is published (witness.go). The store's driver
	// must use its HTTPClient.
	Witnesses *Witnesses
	// IdentityTiles, if set, serves the log's identity tiles
	// (ReadIdentityTile); nil: the log has none.
	IdentityTiles *IdentityTiles
}

// Log is a running transparency log. Its methods are safe for concurrent use.
type Log struct {
	origin   string
	logID    []byte
	pub      crypto.PublicKey
	verifier sumdbnote.Verifier
	logger   *slog.Logger
	metrics  *Metrics

	appender *tessera.Appender
	shutdown func(context.Context) error
	reader   *cachedReader
	nodes    *nodeCache
	awaiter  *awaiter
	dedup    Deduplicator
	identity func(leaf []byte) []byte // Config.Identity
	// flightMu guards flights: the adds in flight to the store, by
	// identity, when the log deduplicates (dedup set; see claim).
	flightMu sync.Mutex
	flights  map[string]*flight
	// dedupDone is closed when the dedup follower (started by New when
	// dedup is set, stopped by Close) has returned; nil without dedup.
	dedupDone chan struct{}
	// stopAwaiter ends the awaiter's poll loop; called by Close.
	stopAwaiter context.CancelFunc
	// space is Config.Space, never nil. dedupBehind is set by New when it
	// started without catching the dedup map up (the disk was full) and
	// cleared by the follower once it has (space.go).
	space       SpaceGuard
	dedupBehind atomic.Bool

	// mu guards closed, set once by Close.
	mu     sync.Mutex
	closed bool

	// inflight counts the adds holding one of maxInflight slots, taken by
	// admit on entering Add and released when Add returns.
	inflight    atomic.Int64
	maxInflight int64

	// freezeMu orders Freeze after every add that found refusal nil:
	// appendLeaf holds it for reading from that check until appending
	// counts the add; Freeze takes it to set refusal. refusal, once set,
	// is what every Add fails with (freeze.go). appendedSize is one more
	// than the highest index an add of this process was given.
	freezeMu     sync.RWMutex
	refusal      atomic.Pointer[FrozenError]
	appending    sync.WaitGroup
	appendedSize atomic.Uint64
	// cutOffErr is Config.CutOffErr.
	cutOffErr error
	// idTiles serves identity tiles (identities.go), or is nil.
	idTiles *identityTiles

	// latest is the newest published checkpoint read and verified, which
	// every request and the awaiter share (checkpoint.go).
	latest *latestCheckpoint
}

// New starts a log on driver.
func New(ctx context.Context, driver tessera.Driver, cfg Config) (*Log, error) {
	if err := note.ValidOrigin(cfg.Origin); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(cfg.Origin)
	}
	if cfg.MaxInflightAdds == 0 {
		cfg.MaxInflightAdds = DefaultMaxInflightAdds
	}
	pub := cfg.Key.Public()
	signer, err := note.NewSigner(ctx, cfg.Origin, cfg.Key)
	if err != nil {
		return nil, err
	}
	if cfg.Record != nil {
		signer = recordingSigner{Signer: signer, record: cfg.Record}
	}
	// Its awaiter is set once New has made it; a checkpoint signed
	// before (at start) hints nobody.
	hinting := &hintingSigner{Signer: signer}
	signer = hinting
	verifier, err := note.NewVerifier(cfg.Origin, pub)
	if err != nil {
		return nil, err
	}
	logID, err := note.LogID(cfg.Origin, pub)
	if err != nil {
		return nil, err
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(cfg.BatchMaxSize, cfg.BatchMaxAge).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithCheckpointRepublishInterval(cfg.CheckpointRepublishInterval).
		WithPushback(cfg.PushbackMaxOutstanding).
		WithAntispam(cfg.AntispamInMemory, nil)
	if cfg.Witnesses != nil {
		cfg.Witnesses.appendOptions(opts)
	}
	idTiles, err := newIdentityTiles(cfg.IdentityTiles)
	if err != nil {
		return nil, err
	}
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		return nil, fmt.Errorf("starting Tessera appender: %w", err)
	}
	if cfg.Record != nil {
		// Before any add is taken. The signer already refuses to sign
		// anything smaller than the record meanwhile.
		if err := CheckRecord(ctx, cfg.Record, cfg.Origin, reader); err != nil {
			_ = shutdown(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	cr, nodes, err := newReadCaches(reader, cfg.ReadCacheBytes)
	if err != nil {
		return nil, err
	}
	awaitCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l := &Log{
		origin:      cfg.Origin,
		logID:       logID,
		pub:         pub,
		verifier:    verifier,
		logger:      cfg.Logger,
		metrics:     cfg.Metrics,
		appender:    appender,
		shutdown:    shutdown,
		reader:      cr,
		nodes:       nodes,
		dedup:       cfg.Dedup,
		identity:    cfg.Identity,
		flights:     map[string]*flight{},
		stopAwaiter: stop,
		space:       cfg.Space,
		maxInflight: int64(cfg.MaxInflightAdds),
		cutOffErr:   cfg.CutOffErr,
		idTiles:     idTiles,
	}
	l.metrics.inflightLimit.Set(float64(cfg.MaxInflightAdds))
	if l.space == nil {
		l.space = alwaysRoom{}
	}
	l.startAwaiter(awaitCtx, cfg.AwaitPoll)
	hinting.awaiter.Store(l.awaiter)
	if l.dedup != nil {
		// Every entry stored before a restart must be found again before
		// the first add is taken; then the map follows the log.
		if err := l.CatchUpDedup(ctx); err != nil && !l.deferCatchUp(err) {
			stop()
			_ = shutdown(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("catching up deduplication: %w", err)
		}
		l.dedupDone = make(chan struct{})
		go func() { defer close(l.dedupDone); l.followDedup(awaitCtx, time.Second) }()
	}
	return l, nil
}

// hintingSigner tells the awaiter of each checkpoint signed (awaiter.hint),
// once New has set it.
type hintingSigner struct {
	sumdbnote.Signer
	awaiter atomic.Pointer[awaiter]
}

func (s *hintingSigner) Sign(msg []byte) ([]byte, error) {
	sig, err := s.Signer.Sign(msg)
	if a := s.awaiter.Load(); err == nil && a != nil {
		a.hint()
	}
	return sig, err
}

// Origin is the checkpoint origin (the log's name in signed notes).
func (l *Log) Origin() string { return l.origin }

// LogID is the 32-byte log ID clients find the log's key by.
func (l *Log) LogID() []byte { return l.logID }

// PublicKey is the checkpoint verification key.
func (l *Log) PublicKey() crypto.PublicKey { return l.pub }

// Verifier verifies this log's checkpoints.
func (l *Log) Verifier() sumdbnote.Verifier { return l.verifier }

// Added is the result of a successful Add.
type Added struct {
	Index uint64
	// Duplicate is set when an equal leaf was already in the log; Index is
	// then that earlier entry's index.
	Duplicate bool
	// Checkpoint is the signed note, as published, that commits to Index.
	Checkpoint []byte
	Size       uint64
	Root       []byte
	// Proof is the inclusion proof of Index in the tree of Size.
	Proof [][]byte
	// Leaf is the leaf at Index: the one added, or for a duplicate the one
	// first logged, which has the same identity but may differ in bytes
	// (an ECDSA signature's s, see Config.Identity).
	Leaf []byte
}

// Add appends leaf and returns once a published checkpoint covers it. If
// ctx ends after the entry was stored but before a checkpoint covered it, the
// error is an *UnpublishedError naming its index. An
// entry of the same identity already in the log (identity is the leaf's,
// computed by the caller, or nil: Config.Identity's) is not appended again:
// the result names the existing index, with Duplicate set, and proves the
// leaf there like a new one.
// When Config.MaxInflightAdds adds are already in progress, Add fails at once
// with an *InflightLimitError (ErrPushback). While Config.Space reports no
// room, Add fails at once with its error (a *diskspace.FullError).
func (l *Log) Add(ctx context.Context, leaf, identity []byte) (*Added, error) {
	if l.isClosed() {
		return nil, ErrShuttingDown
	}
	if e := l.refusal.Load(); e != nil {
		return nil, e
	}
	if err := l.roomForAdd(); err != nil {
		return nil, err
	}
	release, err := l.admit()
	if err != nil {
		return nil, err
	}
	defer release()
	start := time.Now()
	id := l.identityOf(leaf, identity)
	f, prev, found, err := l.claim(ctx, leaf, id)
	if err != nil {
		return nil, err
	} else if found {
		return l.prove(ctx, leaf, id, prev, true, start)
	}
	idx, err := l.appendLeaf(ctx, leaf)
	if err != nil {
		f.land(0, false)
		if errors.Is(err, tessera.ErrPushback) {
			l.metrics.pushbacks.WithLabelValues(pushbackBacklog).Inc()
		}
		return nil, l.appendFailed(err)
	}
	if !idx.IsDup {
		l.recordAppended(ctx, id, idx.Index)
	}
	f.land(idx.Index, true)
	// The entry is durable from here on; wait for a checkpoint to cover it.
	// A duplicate whose first copy is still being integrated waits too.
	return l.prove(ctx, leaf, id, idx.Index, idx.IsDup, start)
}

// prove waits for a published checkpoint covering index and proves leaf
// (identity id) at index against it; for a duplicate, the leaf at index.
func (l *Log) prove(ctx context.Context, leaf, id []byte, index uint64, dup bool, start time.Time) (*Added, error) {
	cpRaw, err := l.awaiter.wait(ctx, index)
	if err != nil {
		return nil, err
	}
	cp, err := l.parseCheckpoint(cpRaw)
	if err != nil {
		return nil, err
	}
	hashes, err := l.inclusionProof(ctx, index, cp.Size)
	if err != nil {
		return nil, err
	}
	if dup {
		if leaf, err = l.provenLeaf(ctx, leaf, id, index, cp.Size, cp.Hash, hashes); err != nil {
			return nil, err
		}
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, rfc6962.DefaultHasher.HashLeaf(leaf), hashes, cp.Hash); err != nil {
		// Never hand out a proof that does not verify: this is an
		// integrity failure of the log's own storage (or its dedup map).
		l.metrics.integrityFailures.Inc()
		l.logger.Error("inclusion proof for an added entry does not verify", "index", index, "size", cp.Size, "duplicate", dup, "err", err)
		return nil, fmt.Errorf("integrity failure: inclusion proof of %d in %d does not verify: %w", index, cp.Size, err)
	}
	if dup {
		l.metrics.duplicates.Inc()
	} else {
		l.metrics.appended.Inc()
		l.metrics.addLatency.Observe(time.Since(start).Seconds())
	}
	return &Added{Index: index, Duplicate: dup, Checkpoint: cpRaw, Size: cp.Size, Root: cp.Hash, Proof: hashes, Leaf: leaf}, nil
}

// Checkpoint returns the latest published checkpoint, verified and parsed,
// and as published. It is served from memory, read from storage again when
// older than Config.AwaitPoll (or sooner, by the awaiter), and never older
// than a checkpoint this log has returned before. The bytes are shared:
// callers must not modify them.
func (l *Log) Checkpoint(ctx context.Context) (*log.Checkpoint, []byte, error) {
	s, err := l.latest.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	cp := s.cp
	return &cp, s.raw, nil
}

// startAwaiter sets up the checkpoint held in memory and the awaiter that
// releases adds, which polls storage every poll while adds wait.
func (l *Log) startAwaiter(ctx context.Context, poll time.Duration) {
	l.latest = newLatestCheckpoint(poll, l.reader.ReadCheckpoint, l.verifyCheckpoint)
	l.awaiter = newAwaiter(ctx, poll, func(ctx context.Context) ([]byte, uint64, error) {
		s, err := l.latest.refresh(ctx)
		if err != nil {
			return nil, 0, err
		}
		return s.raw, s.cp.Size, nil
	})
}

// parseCheckpoint parses raw, a checkpoint this log published, verifying
// its signature unless it is the checkpoint held.
func (l *Log) parseCheckpoint(raw []byte) (*log.Checkpoint, error) {
	if cp, ok := l.latest.held(raw); ok {
		return cp, nil
	}
	return l.verifyCheckpoint(raw)
}

// verifyCheckpoint parses raw and verifies it with the log's key.
func (l *Log) verifyCheckpoint(raw []byte) (*log.Checkpoint, error) {
	cp, _, _, err := log.ParseCheckpoint(raw, l.origin, l.verifier)
	if err != nil {
		l.metrics.integrityFailures.Inc()
		return nil, fmt.Errorf("integrity failure: the stored checkpoint does not verify: %w", err)
	}
	return cp, nil
}

// inclusionProof builds the proof of index in the tree of size from tiles.
// Its hashes are shared with other proofs: callers must not modify them.
func (l *Log) inclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	hashes, err := l.nodes.inclusion(ctx, index, size)
	if err != nil {
		return nil, fmt.Errorf("building inclusion proof of %d in %d: %w", index, size, err)
	}
	return hashes, nil
}

// ReadTile returns the hash tile at level/index with exactly width hashes
// (width 0: a full tile of 256).
func (l *Log) ReadTile(ctx context.Context, level, index uint64, width uint8) ([]byte, error) {
	return l.reader.tile(ctx, level, index, width)
}

// ReadEntryBundle returns the entry bundle index with exactly width entries
// (width 0: a full bundle of 256).
func (l *Log) ReadEntryBundle(ctx context.Context, index uint64, width uint8) ([]byte, error) {
	return l.reader.bundle(ctx, index, width)
}

// Close stops accepting entries and waits (bounded by ctx) until every
// entry already handed an index is covered by a published checkpoint.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	err := l.shutdown(ctx)
	l.stopAwaiter()
	if l.dedupDone != nil {
		// The caller closes the dedup map after Close: nothing may use it then.
		<-l.dedupDone
	}
	if err != nil {
		return fmt.Errorf("shutting down appender: %w", err)
	}
	return nil
}

func (l *Log) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}
