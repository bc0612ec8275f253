package tlog

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/tessera"
)

// ErrFrozen means the log takes no more entries: it is frozen (or being
// frozen), or this process only reads it. A *FrozenError says which.
var ErrFrozen = errors.New("the log takes no new entries")

// FrozenError refuses an add to a log that takes no new entries.
type FrozenError struct {
	Origin string
	// Frozen is set once the freeze is recorded: Size is then the final
	// size, At when it was frozen, Successor where entries go instead.
	Frozen    bool
	Size      uint64
	At        time.Time
	Successor string
	// ReadOnly is set for a log this process serves only for reading
	// (another process writes it).
	ReadOnly bool
}

func (e *FrozenError) Error() string {
	var msg string
	switch {
	case e.Frozen:
		msg = fmt.Sprintf("log %s is frozen: its final checkpoint, of size %d, was published at %s, and it takes no new entries",
			e.Origin, e.Size, e.At.UTC().Format(time.RFC3339))
	case e.ReadOnly:
		msg = fmt.Sprintf("log %s is served read-only here: it is not this server's active shard", e.Origin)
	default:
		msg = fmt.Sprintf("log %s is being frozen and takes no new entries", e.Origin)
	}
	if e.Successor != "" {
		msg += "; new entries go to " + e.Successor
	}
	return msg
}

func (e *FrozenError) Is(target error) bool { return target == ErrFrozen }

// Final is a frozen log's final checkpoint.
type Final struct {
	Size       uint64
	Checkpoint []byte
}

// CutOff stops every other writer of the log from sequencing and returns
// the log's final size; ok is false when the store has no such means (only
// this process writes the log). See storage.Backend.CutOff.
type CutOff func(ctx context.Context) (size uint64, ok bool, err error)

// Freeze stops the log taking entries and returns its final checkpoint,
// which covers every entry given an index: from here on Add fails with a
// *FrozenError (ErrFrozen); adds that had reached the store before finish
// and are acknowledged as usual, and adds that had not are refused, so
// nothing is acknowledged without being in the final checkpoint; the
// refusals name successor. cut stops
// the store's other writers (nil: none). The caller records the freeze
// (storage.Backend.RecordFrozen) and then calls MarkFrozen.
func (l *Log) Freeze(ctx context.Context, cut CutOff, successor string) (*Final, error) {
	l.freezeMu.Lock()
	if l.refusal.Load() == nil {
		l.refusal.Store(&FrozenError{Origin: l.origin, Successor: successor})
	}
	l.freezeMu.Unlock()
	// Every add past the check above has its future; wait for them all to
	// resolve (sequenced, or failed), so that target covers them.
	drained := make(chan struct{})
	go func() { l.appending.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		return nil, fmt.Errorf("freezing: waiting for adds in flight: %w", ctx.Err())
	}
	target := l.appendedSize.Load()
	if cut != nil {
		size, ok, err := cut(ctx)
		if err != nil {
			return nil, fmt.Errorf("freezing: stopping sequencing: %w", err)
		}
		if ok {
			target = max(target, size)
		}
	}
	// Entries sequenced before a restart are in the tree even if no
	// checkpoint covered them yet.
	if n, err := l.reader.IntegratedSize(ctx); err == nil {
		target = max(target, n)
	}
	if target > 0 {
		if _, err := l.awaiter.wait(ctx, target-1); err != nil {
			return nil, fmt.Errorf("freezing: waiting for a checkpoint of size %d: %w", target, err)
		}
	}
	cp, raw, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("freezing: %w", err)
	}
	if cp.Size < target {
		return nil, fmt.Errorf("freezing: the checkpoint is of size %d, want %d", cp.Size, target)
	}
	return &Final{Size: cp.Size, Checkpoint: raw}, nil
}

// MarkFrozen makes every later Add fail with e (and with it ErrFrozen):
// the log is frozen, or served read-only. It does not stop Tessera's
// publication: a frozen log's checkpoint is re-signed for the same tree.
func (l *Log) MarkFrozen(e *FrozenError) {
	l.freezeMu.Lock()
	defer l.freezeMu.Unlock()
	e.Origin = l.origin
	l.refusal.Store(e)
}

// Refusal is the error every Add fails with, or nil while the log takes
// entries.
func (l *Log) Refusal() *FrozenError { return l.refusal.Load() }

// appendLeaf hands leaf to Tessera unless the log is frozen; Freeze waits
// for every call that got past the check.
func (l *Log) appendLeaf(ctx context.Context, leaf []byte) (tessera.Index, error) {
	l.freezeMu.RLock()
	if e := l.refusal.Load(); e != nil {
		l.freezeMu.RUnlock()
		return tessera.Index{}, e
	}
	l.appending.Add(1)
	l.freezeMu.RUnlock()
	defer l.appending.Done()
	idx, err := l.appender.Add(ctx, tessera.NewEntry(leaf))()
	if err == nil {
		for n := idx.Index + 1; ; {
			old := l.appendedSize.Load()
			if old >= n || l.appendedSize.CompareAndSwap(old, n) {
				break
			}
		}
	}
	return idx, err
}

// ReadOnlyConfig is what OpenReadOnly needs.
type ReadOnlyConfig struct {
	Origin    string
	PublicKey crypto.PublicKey
	// Refusal is what adds fail with (required).
	Refusal   *FrozenError
	AwaitPoll time.Duration
	// ReadCacheBytes is as in Config.
	ReadCacheBytes int64
	Logger         *slog.Logger
	Metrics        *Metrics
	// IdentityTiles is as in Config.
	IdentityTiles *IdentityTiles
}

// OpenReadOnly serves a log from reader without writing it: a frozen log,
// whose signing key is no longer needed, or one another process writes.
// Reads, proofs and checkpoints work as for any log; Add fails with
// cfg.Refusal.
func OpenReadOnly(ctx context.Context, reader tessera.LogReader, cfg ReadOnlyConfig) (*Log, error) {
	if err := note.ValidOrigin(cfg.Origin); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(cfg.Origin)
	}
	if cfg.AwaitPoll == 0 {
		cfg.AwaitPoll = time.Second
	}
	verifier, err := note.NewVerifier(cfg.Origin, cfg.PublicKey)
	if err != nil {
		return nil, err
	}
	logID, err := note.LogID(cfg.Origin, cfg.PublicKey)
	if err != nil {
		return nil, err
	}
	cr, nodes, err := newReadCaches(reader, cfg.ReadCacheBytes)
	if err != nil {
		return nil, err
	}
	idTiles, err := newIdentityTiles(cfg.IdentityTiles)
	if err != nil {
		return nil, err
	}
	awaitCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l := &Log{
		idTiles: idTiles,
		origin:  cfg.Origin, logID: logID, pub: cfg.PublicKey, verifier: verifier,
		logger: cfg.Logger, metrics: cfg.Metrics, reader: cr, nodes: nodes,
		shutdown:    func(context.Context) error { return nil },
		flights:     map[string]*flight{},
		stopAwaiter: stop, space: alwaysRoom{}, maxInflight: int64(DefaultMaxInflightAdds),
	}
	cfg.Refusal.Origin = cfg.Origin
	l.refusal.Store(cfg.Refusal)
	l.startAwaiter(awaitCtx, cfg.AwaitPoll)
	return l, nil
}
