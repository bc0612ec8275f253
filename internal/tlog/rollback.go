package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/client"
)

// RollbackError refuses a store that is behind, or not a continuation of,
// the largest checkpoint the log has published (its checkpoint record).
type RollbackError struct {
	// Record is the checkpoint record's path; Recorded its checkpoint.
	Record   string
	Recorded *log.Checkpoint
	// StoreSize is the size of the tree the store holds (integrated).
	StoreSize uint64
	// Reason says what differs.
	Reason string
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("refusing to serve this store: %s. This log already published a checkpoint of size %d "+
		"(recorded in %s), so clients may hold it; serving this store would fork the log, and any of them could prove it. "+
		"The store was restored from an older copy, rolled back, or is another log's. "+
		"Point --storage at the log's current store, or restore a copy at least as new as size %d "+
		"(or fetch the missing entries from a mirror with 'mosaicd import'). There is no override: "+
		"see \"Backup, restore and rollback\" in the README before doing anything else with %s",
		e.Reason, e.Recorded.Size, e.Record, e.Recorded.Size, e.Record)
}

// CheckRecord compares the tree the store holds (r's integrated tree, read
// through its tiles) with the checkpoint recorded in rec, and returns a
// *RollbackError when the store is smaller, or holds another tree at the
// recorded size, or when its published checkpoint (verified with v) is not
// consistent with the record. A record that does not exist yet passes:
// the log has published nothing through it.
func CheckRecord(ctx context.Context, rec *Record, origin string, r tessera.LogReader) error {
	cp, err := rec.Load()
	if err != nil || cp == nil {
		return err
	}
	refuse := func(size uint64, format string, args ...any) error {
		return &RollbackError{Record: rec.Path(), Recorded: cp, StoreSize: size, Reason: fmt.Sprintf(format, args...)}
	}
	if cp.Origin != origin {
		return fmt.Errorf("checkpoint record %s is of the log %q, but this server serves %q: give each log its own --checkpoint-record",
			rec.Path(), cp.Origin, origin)
	}
	size, err := r.IntegratedSize(ctx)
	if err != nil {
		return fmt.Errorf("reading the store's tree size: %w", err)
	}
	if size < cp.Size {
		return refuse(size, "the store holds a tree of size %d, smaller than %d", size, cp.Size)
	}
	if cp.Size == 0 {
		return nil
	}
	root, err := rootAt(ctx, cp.Size, r.ReadTile)
	if err != nil {
		return fmt.Errorf("computing the store's root hash at the recorded size %d: %w", cp.Size, err)
	}
	if !bytes.Equal(root, cp.Hash) {
		return refuse(size, "the store's tree at size %d has root hash %x, not the recorded %x", cp.Size, root, cp.Hash)
	}
	return checkPublished(ctx, cp, r, refuse)
}

// checkPublished verifies a consistency proof from the recorded checkpoint
// to the store's published one, when that is at least as large: what every
// client holding the record's checkpoint will check.
func checkPublished(ctx context.Context, cp *log.Checkpoint, r tessera.LogReader, refuse func(uint64, string, ...any) error) error {
	raw, err := r.ReadCheckpoint(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the store's checkpoint: %w", err)
	}
	pub, err := unverifiedBody(raw)
	if err != nil {
		return fmt.Errorf("the store's checkpoint: %w", err)
	}
	if pub.Size < cp.Size {
		// Published before the record's checkpoint was stored (a crash in
		// between): the tiles at the recorded size were checked above.
		return nil
	}
	pb, err := client.NewProofBuilder(ctx, pub.Size, r.ReadTile)
	if err != nil {
		return fmt.Errorf("reading the store's tiles at size %d: %w", pub.Size, err)
	}
	p, err := pb.ConsistencyProof(ctx, cp.Size, pub.Size)
	if err != nil {
		return fmt.Errorf("building a consistency proof from %d to %d: %w", cp.Size, pub.Size, err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, cp.Size, pub.Size, p, cp.Hash, pub.Hash); err != nil {
		return refuse(pub.Size, "the store's published checkpoint of size %d is not consistent with the recorded one: %v", pub.Size, err)
	}
	return nil
}

// unverifiedBody parses the body of a signed checkpoint without checking
// its signature (the caller compares it with the record, which it trusts).
func unverifiedBody(raw []byte) (*log.Checkpoint, error) {
	i := bytes.LastIndex(raw, []byte("\n\n"))
	if i < 0 {
		return nil, errors.New("malformed signed note")
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal(raw[:i+1]); err != nil {
		return nil, err
	}
	return &cp, nil
}

// rootAt computes the root hash of the tree of size from the tiles.
func rootAt(ctx context.Context, size uint64, readTile client.TileFetcherFunc) ([]byte, error) {
	nodes, err := client.FetchRangeNodes(ctx, size, readTile)
	if err != nil {
		return nil, err
	}
	rng, err := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewRange(0, size, nodes)
	if err != nil {
		return nil, err
	}
	return rng.GetRootHash(nil)
}
