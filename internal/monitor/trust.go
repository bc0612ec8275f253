package monitor

import (
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	tclient "github.com/transparency-dev/tessera/client"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

// Checks beyond the log's own signature, made on every checkpoint the
// monitor fetches before it is compared with the monitor's state: the
// witness policy (LogConfig.Witnesses) and the verifier memory
// (Config.Memory), which mosaic verify shares. Neither changes the state
// when it fails.

// witnessed requires the log's witness quorum on cp: a checkpoint without
// it is an AlarmWitnesses alarm naming the missing witnesses.
func (f *follower) witnessed(ctx context.Context, cp *log.Checkpoint, raw []byte) error {
	if !f.witnesses.Requires() {
		return nil
	}
	_, err := f.witnesses.Verify(raw)
	var qe *verify.QuorumError
	if !errors.As(err, &qe) {
		return err
	}
	return f.alarm(ctx, &AlarmError{Kind: AlarmWitnesses, New: raw, Message: fmt.Sprintf(
		"the checkpoint of size %d: %v", cp.Size, qe)}, cp.Size, cp.Size)
}

// remember checks cp against the verifier memory and remembers it when it
// is the larger (verify.Remember), with consistency proofs built from the
// log's tiles. A contradiction is an AlarmSplitView alarm whose evidence
// includes the split-view evidence file (SplitViewEvidenceFile); the
// remembered checkpoint is kept.
func (f *follower) remember(ctx context.Context, cp *log.Checkpoint, raw []byte) error {
	if f.m.cfg.Memory == nil {
		return nil
	}
	vcp := &verify.Checkpoint{Origin: cp.Origin, Size: cp.Size, Hash: cp.Hash, Note: raw, Log: f.log}
	_, err := verify.Remember(ctx, f.m.cfg.Memory, vcp, f.prove)
	var sv *verify.SplitViewError
	if !errors.As(err, &sv) {
		return err
	}
	ev := sv.Evidence
	older, oerr := note.ParseCheckpoint(ev.Older)
	newer, nerr := note.ParseCheckpoint(ev.Newer)
	if oerr != nil || nerr != nil { // Remember verified both
		return fmt.Errorf("split-view evidence with unreadable checkpoints: %w", errors.Join(oerr, nerr))
	}
	return f.alarm(ctx, &AlarmError{Kind: AlarmSplitView, Old: ev.Older, New: ev.Newer, Proof: ev.Proof, SplitView: ev,
		Message: "the checkpoint contradicts the one the verifier memory holds: " + sv.Error()}, older.Size, newer.Size)
}

// prove builds the consistency proof from size first to size second from
// the log's tiles at size second.
func (f *follower) prove(ctx context.Context, first, second uint64) ([][]byte, error) {
	pb, err := tclient.NewProofBuilder(ctx, second, f.c.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("reading the tiles at size %d: %w", second, err)
	}
	hashes, err := pb.ConsistencyProof(ctx, first, second)
	if err != nil {
		return nil, fmt.Errorf("building the consistency proof %d -> %d from tiles: %w", first, second, err)
	}
	return hashes, nil
}

// memoryFailed reports whether err is the verifier memory failing to be
// read, checked or stored (unreadable, or kept for another log): retrying
// does not help.
func memoryFailed(err error) bool {
	var ve *verify.Error
	return errors.As(err, &ve) && ve.Check == verify.CheckCheckpointMemory
}
