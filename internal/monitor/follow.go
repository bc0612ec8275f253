package monitor

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"
	sumdbnote "golang.org/x/mod/sumdb/note"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

// follower follows one log. It is used by one goroutine at a time.
type follower struct {
	m        *monitor
	name     string // "log" or "certlog": the state key and the "log" field of events
	url      string
	origin   string
	verifier sumdbnote.Verifier
	c        *client.Client
	describe func(leaf []byte) (*entry.Facts, error)
	// witnesses must cosign every checkpoint (nil: none); log names the
	// log to the verifier memory (nil without one).
	witnesses *verify.WitnessPolicy
	log       *verify.TransparencyLog
	// idTiles: scans look bundles up in their identity tiles first.
	idTiles bool
}

// RollbackError is a signed checkpoint smaller than the last verified one
// and not shown to be inconsistent with it: a stale view (a cache, a
// lagging replica) is not proof of misbehaviour, but it is not progress
// either. The state keeps the larger checkpoint.
type RollbackError struct {
	Log            string
	Size, Verified uint64
	// Unchecked is why consistency could not be checked (the log no
	// longer serves the tiles of the larger tree), or nil if it was.
	Unchecked error
}

// Error gives both sizes and whether consistency was checked.
func (e *RollbackError) Error() string {
	msg := fmt.Sprintf("%s served a checkpoint of size %d, smaller than the verified size %d", e.Log, e.Size, e.Verified)
	if e.Unchecked != nil {
		return msg + "; its consistency could not be checked: " + e.Unchecked.Error()
	}
	return msg + " (consistent with it: a stale view)"
}

// Unwrap returns why consistency could not be checked, if so.
func (e *RollbackError) Unwrap() error { return e.Unchecked }

var rf = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// step verifies the log's latest checkpoint (its signature, the witness
// quorum, the verifier memory), checks it against the state and scans the
// new entries.
func (f *follower) step(ctx context.Context) error {
	raw, err := f.c.Checkpoint(ctx)
	if err != nil {
		return err
	}
	cp, err := note.VerifyCheckpoint(raw, f.origin, f.verifier)
	if err != nil {
		return err
	}
	if err := f.witnessed(ctx, cp, raw); err != nil {
		return err
	}
	if err := f.remember(ctx, cp, raw); err != nil {
		return err
	}
	ls := f.m.state.Logs[f.name]
	if ls == nil {
		if ls, err = f.firstUse(ctx, cp, raw); err != nil {
			return err
		}
	} else if err := f.advance(ctx, ls, cp, raw); err != nil {
		return err
	}
	return f.scan(ctx, ls, cp)
}

// firstUse trusts cp and starts the scan at Config.Start, taking the
// compact range below it from the log's tiles (checked against the signed
// root when the scan ends).
func (f *follower) firstUse(ctx context.Context, cp *log.Checkpoint, raw []byte) (*LogState, error) {
	start := f.m.cfg.Start
	if start > cp.Size {
		return nil, fmt.Errorf("start index %d is beyond the log's size %d", start, cp.Size)
	}
	frontier, err := tclient.FetchRangeNodes(ctx, start, f.tilesAt(cp.Size))
	if err != nil {
		return nil, fmt.Errorf("reading the tree below start index %d: %w", start, err)
	}
	ls := &LogState{Origin: f.origin, Checkpoint: string(raw), Next: start, Frontier: frontier}
	f.m.state.Logs[f.name] = ls
	fmt.Fprintf(f.m.progress, "%s %s: trusting checkpoint of size %d on first use; scanning from %d\n", f.name, f.origin, cp.Size, start)
	return ls, f.m.save()
}

// tilesAt reads tiles as they are at tree size: the widths Tessera's
// proof builder asks for at a smaller size may never have been published,
// but a prefix of the tile at size holds the same hashes.
func (f *follower) tilesAt(size uint64) tclient.TileFetcherFunc {
	return func(ctx context.Context, level, index uint64, _ uint8) ([]byte, error) {
		return f.c.ReadTile(ctx, level, index, layout.PartialTileSize(level, index, size))
	}
}

// advance checks cp against the last verified checkpoint and records it.
func (f *follower) advance(ctx context.Context, ls *LogState, cp *log.Checkpoint, raw []byte) error {
	if string(raw) == ls.Checkpoint {
		return nil
	}
	old, err := ls.check(f.m.cfg.StatePath, f.name, f.origin, f.verifier)
	if err != nil {
		return err
	}
	switch {
	case cp.Size == old.Size && bytes.Equal(cp.Hash, old.Hash):
		return nil // the same tree, signed again
	case cp.Size == old.Size:
		return f.alarm(ctx, &AlarmError{Kind: AlarmFork, Old: []byte(ls.Checkpoint), New: raw, Message: fmt.Sprintf(
			"two signed checkpoints of size %d with different roots: %s and %s",
			cp.Size, hex.EncodeToString(old.Hash), hex.EncodeToString(cp.Hash))}, old.Size, cp.Size)
	case cp.Size < old.Size:
		err := f.consistent(ctx, cp, old, raw, []byte(ls.Checkpoint))
		var a *AlarmError
		if errors.As(err, &a) {
			return err
		}
		return &RollbackError{Log: f.name, Size: cp.Size, Verified: old.Size, Unchecked: err}
	}
	if err := f.consistent(ctx, old, cp, []byte(ls.Checkpoint), raw); err != nil {
		return err
	}
	ls.Checkpoint = string(raw)
	return f.m.save()
}

// consistent proves that small's tree is a prefix of large's, from the
// log's tiles at large's size. A proof that does not verify is an alarm.
func (f *follower) consistent(ctx context.Context, small, large *log.Checkpoint, smallRaw, largeRaw []byte) error {
	if small.Size == 0 {
		return nil
	}
	hashes, err := f.prove(ctx, small.Size, large.Size)
	if err != nil {
		return err
	}
	err = proof.VerifyConsistency(rfc6962.DefaultHasher, small.Size, large.Size, hashes, small.Hash, large.Hash)
	if err == nil {
		return nil
	}
	return f.alarm(ctx, &AlarmError{Kind: AlarmInconsistent, Old: smallRaw, New: largeRaw, Proof: hashes, Message: fmt.Sprintf(
		"the checkpoint of size %d is not consistent with the one of size %d: %v", large.Size, small.Size, err)},
		small.Size, large.Size)
}

// alarm completes a, writes its evidence and the alarm line, notifies the
// webhook (best effort, even when ctx is done) and returns a.
func (f *follower) alarm(ctx context.Context, a *AlarmError, oldSize, newSize uint64) error {
	a.Log, a.Origin, a.OldSize, a.NewSize = f.name, f.origin, oldSize, newSize
	if err := writeEvidence(f.m.cfg.EvidenceDir, f.url, a); err != nil {
		a.Message += fmt.Sprintf(" (%v)", err)
	}
	ev := AlarmEvent{Type: "alarm", Log: a.Log, Origin: a.Origin, Kind: a.Kind, Message: a.Message,
		OldSize: a.OldSize, NewSize: a.NewSize, Evidence: a.EvidenceDir}
	if err := f.m.report.line(ev); err != nil {
		fmt.Fprintf(f.m.progress, "writing alarm: %v\n", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := f.m.report.post(ctx, ev); err != nil {
		fmt.Fprintf(f.m.progress, "webhook did not accept the alarm: %v\n", err)
	}
	return a
}
