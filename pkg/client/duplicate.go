package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/pkg/note"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"
	"google.golang.org/protobuf/proto"
)

// ErrEntryMismatch is returned when the leaf a log names as the duplicate
// of a submission does not hold the submitted entry.
var ErrEntryMismatch = errors.New("the logged entry differs from the submitted one")

// duplicate turns a 409 into the existing entry: its index comes from
// X-Log-Index or, failing that, from the message ("... with index 12",
// "... at index 12"); its leaf must hold what req submitted.
func (c *Client) duplicate(ctx context.Context, req *pb.CreateEntryRequest, he *Error) (*AddedEntry, error) {
	index, ok := duplicateIndex(he.Header(LogIndexHeader), he.Message)
	if !ok {
		return nil, fmt.Errorf("%w (the log names no index for the existing entry)", he)
	}
	// The first submission may still await its checkpoint.
	tle, err := c.entryFromTiles(ctx, index, true)
	if err != nil {
		return nil, fmt.Errorf("the log holds an equal entry at index %d, but rebuilding it failed: %w", index, err)
	}
	if err := matchesRequest(tle.GetCanonicalizedBody(), req); err != nil {
		return nil, fmt.Errorf("the log says index %d holds the submitted entry: %w", index, err)
	}
	c.logger.InfoContext(ctx, "entry already logged", "index", index)
	return &AddedEntry{Entry: tle, Duplicate: true}, nil
}

var indexInMessage = regexp.MustCompile(`(?i)\bindex:? (\d{1,20})\b`)

// duplicateIndex reads the existing entry's index from the X-Log-Index
// header or the refusal's message.
func duplicateIndex(header, msg string) (uint64, bool) {
	digits := strings.TrimSpace(header)
	if header == "" {
		m := indexInMessage.FindStringSubmatch(msg)
		if m == nil {
			return 0, false
		}
		digits = m[1]
	}
	i, err := strconv.ParseUint(digits, 10, 63)
	if err != nil {
		return 0, false
	}
	return i, true
}

// EntryFromTiles rebuilds the TransparencyLogEntry at index from the log's
// checkpoint, entry bundle and hash tiles, which every tlog-tiles log
// (Rekor v2 included) serves: the leaf becomes canonicalizedBody, and the
// inclusion proof, built from the tiles, is checked against the checkpoint's
// root before it is returned. An index the latest checkpoint does not
// cover is an error.
//
// The checkpoint is verified only when the client has WithLogPublicKey. The
// log ID comes from WithLogID, else from that key and the checkpoint's
// origin, else from the server's GET /api/v2/log/info (Mosaic only).
func (c *Client) EntryFromTiles(ctx context.Context, index uint64) (*rekorpb.TransparencyLogEntry, error) {
	return c.entryFromTiles(ctx, index, false)
}

// entryFromTiles is EntryFromTiles; with wait, a checkpoint that does not
// cover index is read again, with backoff, for up to the per-request
// timeout.
func (c *Client) entryFromTiles(ctx context.Context, index uint64, wait bool) (*rekorpb.TransparencyLogEntry, error) {
	raw, cp, err := c.coveringCheckpoint(ctx, index, wait)
	if err != nil {
		return nil, err
	}
	leaf, err := c.leaf(ctx, index, cp.Size)
	if err != nil {
		return nil, err
	}
	pbuild, err := tclient.NewProofBuilder(ctx, cp.Size, c.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("reading tiles for the inclusion proof: %w", err)
	}
	hashes, err := pbuild.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("building the inclusion proof of entry %d: %w", index, err)
	}
	leafHash := rfc6962.DefaultHasher.HashLeaf(leaf)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, leafHash, hashes, cp.Hash); err != nil {
		return nil, fmt.Errorf("the tiles' inclusion proof of entry %d does not match the checkpoint: %w", index, err)
	}
	kv, err := kindVersion(leaf)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", index, err)
	}
	logID, err := c.resolveLogID(ctx, cp.Origin)
	if err != nil {
		return nil, err
	}
	return &rekorpb.TransparencyLogEntry{
		LogIndex:    int64(index),
		LogId:       &v1.LogId{KeyId: logID},
		KindVersion: kv,
		InclusionProof: &rekorpb.InclusionProof{
			LogIndex: int64(index), RootHash: cp.Hash, TreeSize: int64(cp.Size), Hashes: hashes,
			Checkpoint: &rekorpb.Checkpoint{Envelope: string(raw)},
		},
		CanonicalizedBody: leaf,
	}, nil
}

// coveringCheckpoint reads the latest checkpoint and, with wait, reads it
// again until it covers index.
func (c *Client) coveringCheckpoint(ctx context.Context, index uint64, wait bool) ([]byte, *log.Checkpoint, error) {
	deadline := time.Now().Add(c.timeout)
	for attempt := 1; ; attempt++ {
		raw, err := c.Checkpoint(ctx)
		if err != nil {
			return nil, nil, err
		}
		cp, err := c.openCheckpoint(raw)
		if err != nil {
			return nil, nil, err
		}
		if cp.Size > index {
			return raw, cp, nil
		}
		pause := c.backoff(attempt)
		if !wait || time.Now().Add(pause).After(deadline) {
			return nil, nil, fmt.Errorf("the latest checkpoint (size %d) does not cover entry %d", cp.Size, index)
		}
		if err := sleep(ctx, pause); err != nil {
			return nil, nil, err
		}
	}
}

// openCheckpoint parses a checkpoint, verifying its signature when the
// client knows the log's key: under the checkpoint's own origin, which the
// note key hash covers, so a checkpoint cannot claim another log's name.
func (c *Client) openCheckpoint(raw []byte) (*log.Checkpoint, error) {
	claimed, err := note.ParseCheckpoint(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	if c.logKey == nil {
		return claimed, nil
	}
	v, err := note.NewVerifier(claimed.Origin, c.logKey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint verifier: %w", err)
	}
	return note.VerifyCheckpoint(raw, claimed.Origin, v)
}

// leaf reads entry index from its entry bundle in a tree of size.
func (c *Client) leaf(ctx context.Context, index, size uint64) ([]byte, error) {
	bundle := index / layout.EntryBundleWidth
	data, err := c.ReadEntryBundle(ctx, bundle, layout.PartialTileSize(0, bundle, size))
	if err != nil {
		return nil, fmt.Errorf("reading the entry bundle of entry %d: %w", index, err)
	}
	entries, err := splitEntryBundle(data)
	if err != nil {
		return nil, err
	}
	pos := index % layout.EntryBundleWidth
	if pos >= uint64(len(entries)) {
		return nil, fmt.Errorf("%w: the entry bundle of entry %d holds only %d entries", ErrBadResponse, index, len(entries))
	}
	return entries[pos], nil
}

// resolveLogID returns the log ID for entries rebuilt from tiles.
func (c *Client) resolveLogID(ctx context.Context, origin string) ([]byte, error) {
	switch {
	case c.logID != nil:
		return c.logID, nil
	case c.logKey != nil:
		id, err := note.LogID(origin, c.logKey)
		if err != nil {
			return nil, fmt.Errorf("deriving the log ID: %w", err)
		}
		return id, nil
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("the log ID is unknown (give the client WithLogID or WithLogPublicKey): %w", err)
	}
	if len(info.LogID) != sha256.Size {
		return nil, fmt.Errorf("%w: log info has a %d-byte logId, want 32", ErrBadResponse, len(info.LogID))
	}
	return info.LogID, nil
}

// kindVersion reads the kind and apiVersion of a Rekor v2 leaf.
func kindVersion(leaf []byte) (*rekorpb.KindVersion, error) {
	var head struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(leaf, &head); err != nil {
		return nil, fmt.Errorf("%w: the leaf is not a JSON entry: %v", ErrBadResponse, err)
	}
	if head.Kind == "" || head.APIVersion == "" {
		return nil, fmt.Errorf("%w: the leaf names no kind or apiVersion", ErrBadResponse)
	}
	return &rekorpb.KindVersion{Kind: head.Kind, Version: head.APIVersion}, nil
}

// matchesRequest checks that leaf logs what req submitted: for a
// hashedrekord the same digest and the same signature (content, verifier
// and key details, which Rekor v2 logs verbatim); for a DSSE envelope the
// same payload hash.
func matchesRequest(leaf []byte, req *pb.CreateEntryRequest) error {
	var e pb.Entry
	if err := lenient.Unmarshal(leaf, &e); err != nil {
		return fmt.Errorf("%w: the leaf is not a Rekor v2 entry: %v", ErrEntryMismatch, err)
	}
	switch spec := req.GetSpec().(type) {
	case *pb.CreateEntryRequest_HashedRekordRequestV002:
		got := e.GetSpec().GetHashedRekordV002()
		want := spec.HashedRekordRequestV002
		switch {
		case got == nil:
			return fmt.Errorf("%w: the leaf is a %s entry, not hashedrekord", ErrEntryMismatch, e.GetKind())
		case !bytes.Equal(got.GetData().GetDigest(), want.GetDigest()):
			return fmt.Errorf("%w: its digest differs", ErrEntryMismatch)
		case !proto.Equal(got.GetSignature(), want.GetSignature()):
			return fmt.Errorf("%w: its signature or verifier differs", ErrEntryMismatch)
		}
	case *pb.CreateEntryRequest_DsseRequestV002:
		got := e.GetSpec().GetDsseV002()
		if got == nil {
			return fmt.Errorf("%w: the leaf is a %s entry, not dsse", ErrEntryMismatch, e.GetKind())
		}
		sum := sha256.Sum256(spec.DsseRequestV002.GetEnvelope().GetPayload())
		if !bytes.Equal(got.GetPayloadHash().GetDigest(), sum[:]) {
			return fmt.Errorf("%w: its payload hash differs", ErrEntryMismatch)
		}
	default:
		return fmt.Errorf("%w: unknown request kind %T", ErrEntryMismatch, spec)
	}
	return nil
}
