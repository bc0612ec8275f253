package verify

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The checks of Remember, which runs after Verify on each verified
// checkpoint.
const (
	// CheckCheckpointMemory: the remembered checkpoint could not be read,
	// checked or stored.
	CheckCheckpointMemory Check = "checkpoint memory"
	// CheckSplitView: the log signed a checkpoint that contradicts the
	// remembered one. The *Error wraps a *SplitViewError with the evidence.
	CheckSplitView Check = "split view"
)

// LogKey names a log to a CheckpointMemory: its checkpoint origin and its
// log ID (the hash of its key), so that a log that changes its key or
// origin is a new log.
type LogKey struct {
	Origin string
	LogID  []byte
}

// MemoryKey is the LogKey of l.
func (l *TransparencyLog) MemoryKey() LogKey { return LogKey{Origin: l.Origin, LogID: l.LogID} }

// CheckpointMemory keeps, per log, the largest checkpoint a verifier has
// verified (the signed note, verbatim). DirMemory keeps it in files; a
// library user may keep it anywhere else.
type CheckpointMemory interface {
	// Update calls f with the log's remembered checkpoint (nil when there
	// is none). When f returns a note and no error, that note is
	// remembered in place of the old, durably, before Update returns nil;
	// otherwise nothing changes and Update returns f's error. Concurrent
	// Updates of one log (from any process sharing the memory) must not
	// interleave: each sees what the one before it stored.
	Update(ctx context.Context, log LogKey, f func(remembered []byte) ([]byte, error)) error
}

// ConsistencyProver returns the RFC 6962 consistency proof from tree size
// first to tree size second of a log, usually fetched from the log itself.
// The proof need not be trusted: Remember verifies it.
type ConsistencyProver func(ctx context.Context, first, second uint64) ([][]byte, error)

// Recall is what Remember established about a checkpoint.
type Recall struct {
	// Previous is the checkpoint remembered before, nil on first use.
	Previous *Checkpoint
	// Stored is whether the checkpoint is now the remembered one.
	Stored bool
	// Unchecked, when set, says what could not be checked without a
	// prover (offline): the remembered checkpoint is then left as it was.
	Unchecked string
}

// Remember checks cp, a checkpoint verified for cp.Log, against the
// checkpoint mem remembers for that log, and remembers cp when it is the
// larger:
//
//   - at the remembered size, cp must have the remembered root;
//   - a larger cp must be proven consistent with the remembered one (by a
//     proof from prove) before it is remembered;
//   - a smaller cp must be proven consistent with the remembered one, which
//     stays.
//
// With a nil prove (offline) the proofs are not fetched: Recall.Unchecked
// says so and nothing is stored. A contradiction is an *Error with Check
// CheckSplitView wrapping a *SplitViewError whose Evidence holds both
// signed checkpoints (and the proof); the remembered checkpoint is kept.
// Failing to read, check or store the memory, or to get a proof, is an
// *Error with Check CheckCheckpointMemory or CheckConsistencyProof.
func Remember(ctx context.Context, mem CheckpointMemory, cp *Checkpoint, prove ConsistencyProver) (*Recall, error) {
	if cp == nil || cp.Log == nil {
		return nil, fail(CheckCheckpointMemory, "no verified checkpoint to remember")
	}
	rec := &Recall{}
	err := mem.Update(ctx, cp.Log.MemoryKey(), func(remembered []byte) ([]byte, error) {
		*rec = Recall{}
		return rec.decide(ctx, cp, remembered, prove)
	})
	if _, ok := err.(*Error); err != nil && !ok {
		err = fail(CheckCheckpointMemory, "log %s: %w", cp.Log.Origin, err)
	}
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// decide compares cp with the remembered note and returns the note to
// remember (nil: keep the old one).
func (rec *Recall) decide(ctx context.Context, cp *Checkpoint, remembered []byte, prove ConsistencyProver) ([]byte, error) {
	if remembered == nil {
		rec.Stored = true
		return cp.Note, nil
	}
	prev, err := cp.Log.VerifyCheckpoint(remembered)
	if err != nil {
		return nil, fail(CheckCheckpointMemory, "the remembered checkpoint of log %s does not verify with the log's key: %w", cp.Log.Origin, err)
	}
	rec.Previous = prev
	switch {
	case cp.Size == prev.Size && bytes.Equal(cp.Hash, prev.Hash):
		return nil, nil
	case cp.Size == prev.Size:
		return nil, splitView(SplitViewSameSize, prev, cp, nil)
	case prove == nil && min(cp.Size, prev.Size) != 0:
		rec.Unchecked = fmt.Sprintf("offline: the consistency of the checkpoint of size %d with the remembered one of size %d was not checked", cp.Size, prev.Size)
		return nil, nil
	case cp.Size > prev.Size:
		if err := consistent(ctx, prev, cp, prove); err != nil {
			return nil, err
		}
		rec.Stored = true
		return cp.Note, nil
	default:
		return nil, consistent(ctx, cp, prev, prove)
	}
}

// consistent proves, with a proof from prove, that small's tree is a
// prefix of large's.
func consistent(ctx context.Context, small, large *Checkpoint, prove ConsistencyProver) error {
	if small.Size == 0 {
		return nil
	}
	hashes, err := prove(ctx, small.Size, large.Size)
	if err != nil {
		return fail(CheckConsistencyProof, "getting the consistency proof from size %d to %d of log %s: %w", small.Size, large.Size, small.Log.Origin, err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, small.Size, large.Size, hashes, small.Hash, large.Hash); err != nil {
		return splitView(SplitViewInconsistent, small, large, hashes)
	}
	return nil
}

// splitView is the *Error for two contradicting checkpoints.
func splitView(kind SplitViewKind, older, newer *Checkpoint, hashes [][]byte) error {
	ev := &Evidence{Kind: kind, Origin: older.Log.Origin, LogID: older.Log.LogID, PublicKey: older.Log.PublicKey,
		Older: older.Note, Newer: newer.Note, Proof: hashes, Detected: time.Now().UTC()}
	if kind == SplitViewInconsistent && hashes == nil {
		ev.Proof = [][]byte{}
	}
	return &Error{Check: CheckSplitView, Err: &SplitViewError{Evidence: ev}}
}

// SplitViewError is a log caught signing two checkpoints that cannot both
// be true of one append-only log.
type SplitViewError struct {
	Evidence *Evidence
}

// Error says what contradicts what.
func (e *SplitViewError) Error() string {
	f, err := e.Evidence.Verify()
	if err != nil {
		return "split view: " + err.Error()
	}
	return f.Summary
}
