package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/tlogproof"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// proofOutput is `mosaic proof --output json`.
type proofOutput struct {
	Leaf     string `json:"leaf"`
	Proof    string `json:"proof"`
	Index    uint64 `json:"index"`
	Origin   string `json:"origin"`
	TreeSize uint64 `json:"treeSize"`
	Verified bool   `json:"verified"`
}

// cmdProof writes an entry's leaf and its C2SP tlog-proof, from the log
// (--index) or from a Sigstore bundle (--bundle, offline).
func cmdProof(e *env, args []string) error {
	fs, output := newFlags(e, "proof", "proof (--index N [--url URL] | --bundle FILE) [--out PREFIX] "+
		"[--trusted-root T | --vkey K | --log-key PEM [--origin O]]")
	index := fs.String("index", "", "the entry's index in the log at --url")
	bundlePath := fs.String("bundle", "", "a Sigstore bundle: write its log entry's proof without the network")
	prefix := fs.String("out", "", "write the leaf to PREFIX and the proof to PREFIX"+tlogproof.Extension+" (default entry-<index>)")
	keys := addLogKeyFlags(fs)
	if _, err := parse(fs, output, args, 0, 0); err != nil {
		return err
	}
	if (*index == "") == (*bundlePath == "") {
		return usagef("give one of --index N or --bundle FILE")
	}
	var (
		tle *rekorpb.TransparencyLogEntry
		err error
	)
	if *bundlePath != "" {
		tle, err = bundleEntry(*bundlePath)
	} else {
		tle, err = logEntry(e, *keys.url, *index)
	}
	if err != nil {
		return err
	}
	return writeProof(e, *output, *prefix, keys, tle)
}

// logEntry reads entry index from the log's tiles: its leaf from the entry
// bundle, the inclusion proof from the hash tiles, and the latest
// checkpoint as served, with its cosignatures.
func logEntry(e *env, url, index string) (*rekorpb.TransparencyLogEntry, error) {
	idx, err := parseIndex("--index", index)
	if err != nil {
		return nil, err
	}
	c, err := client.New(url)
	if err != nil {
		return nil, usagef("--url: %v", err)
	}
	return c.EntryFromTiles(e.ctx, idx)
}

// bundleEntry returns the transparency log entry of a Sigstore bundle
// (message signature or DSSE), which holds the leaf (canonicalized body),
// the index, the inclusion proof and the checkpoint.
func bundleEntry(path string) (*rekorpb.TransparencyLogEntry, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--bundle: %v", err)
	}
	var b protobundle.Bundle
	if err := protojson.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("%s is not a Sigstore bundle (protobuf-JSON Bundle): %w", path, err)
	}
	entries := b.GetVerificationMaterial().GetTlogEntries()
	if len(entries) != 1 {
		return nil, fmt.Errorf("%s holds %d transparency log entries, want exactly 1", path, len(entries))
	}
	tle := entries[0]
	ip := tle.GetInclusionProof()
	switch {
	case len(tle.GetCanonicalizedBody()) == 0:
		return nil, fmt.Errorf("%s: its log entry has no canonicalizedBody (the leaf)", path)
	case ip.GetCheckpoint().GetEnvelope() == "":
		return nil, fmt.Errorf("%s: its log entry has no inclusion proof with a checkpoint", path)
	case ip.GetLogIndex() != tle.GetLogIndex():
		return nil, fmt.Errorf("%s: its log entry is at index %d but its inclusion proof is for index %d", path, tle.GetLogIndex(), ip.GetLogIndex())
	}
	return tle, nil
}

// writeProof writes tle's leaf and tlog-proof, after verifying the proof
// when a log key was given.
func writeProof(e *env, output, prefix string, keys *logKeyFlags, tle *rekorpb.TransparencyLogEntry) error {
	ip := tle.GetInclusionProof()
	index := uint64(tle.GetLogIndex())
	if tle.GetLogIndex() < 0 {
		return fmt.Errorf("the log entry has a negative index %d", tle.GetLogIndex())
	}
	p, err := tlogproof.New(index, ip.GetHashes(), []byte(ip.GetCheckpoint().GetEnvelope()))
	if err != nil {
		return fmt.Errorf("entry %d: %w", index, err)
	}
	cp, err := note.ParseCheckpoint(p.Checkpoint)
	if err != nil {
		return err
	}
	if uint64(ip.GetTreeSize()) != cp.Size || !bytes.Equal(ip.GetRootHash(), cp.Hash) {
		return fmt.Errorf("the inclusion proof names tree size %d, root %s; its checkpoint size %d, root %s",
			ip.GetTreeSize(), b64(ip.GetRootHash()), cp.Size, b64(cp.Hash))
	}
	verified, err := verifyIfKeyed(keys, p, tle.GetCanonicalizedBody())
	if err != nil {
		return err
	}
	data, err := p.Marshal()
	if err != nil {
		return err
	}
	if prefix == "" {
		prefix = "entry-" + strconv.FormatUint(index, 10)
	}
	out := proofOutput{Leaf: prefix, Proof: prefix + tlogproof.Extension, Index: index, Origin: cp.Origin, TreeSize: cp.Size, Verified: verified}
	if err := os.WriteFile(out.Leaf, tle.GetCanonicalizedBody(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(out.Proof, data, 0o644); err != nil {
		return err
	}
	return emit(e, output, out, func(w io.Writer) {
		fmt.Fprintf(w, "wrote %s (entry %d of %s, %d bytes) and %s (tree size %d)\n",
			out.Leaf, index, out.Origin, len(tle.GetCanonicalizedBody()), out.Proof, out.TreeSize)
		if verified {
			fmt.Fprintf(w, "verified against the log's key before writing\n")
		}
	})
}

// verifyIfKeyed verifies p for leaf when a log key was given, and reports
// whether it did.
func verifyIfKeyed(keys *logKeyFlags, p *tlogproof.Proof, leaf []byte) (bool, error) {
	if *keys.vkey == "" && *keys.keyPath == "" && *keys.root == "" {
		return false, nil
	}
	v, origin, err := keys.verifier(false)
	if err != nil {
		return false, err
	}
	if _, err := p.Verify(leaf, origin, v); err != nil {
		return false, originHint(fmt.Errorf("the proof does not verify, nothing written: %w", err))
	}
	return true, nil
}

// verifyProofOutput is `mosaic verify-proof --output json`.
type verifyProofOutput struct {
	Verified bool   `json:"verified"`
	Leaf     string `json:"leaf"`
	Proof    string `json:"proof"`
	Origin   string `json:"origin"`
	TreeSize uint64 `json:"treeSize"`
	Index    uint64 `json:"index"`
	RootHash []byte `json:"rootHash"`
	// Unchecked names the checkpoint's other signatures (cosignatures).
	Unchecked []string `json:"uncheckedSignatures"`
}

// cmdVerifyProof verifies a leaf and its tlog-proof offline with the log's
// key alone.
func cmdVerifyProof(e *env, args []string) error {
	fs, output := newFlags(e, "verify-proof", "verify-proof (--trusted-root T | --vkey K | --log-key PEM [--origin O]) LEAF [PROOF]")
	keys := addLogKeyFlags(fs)
	pos, err := parse(fs, output, args, 1, 2)
	if err != nil {
		return err
	}
	leafPath, proofPath := pos[0], pos[0]+tlogproof.Extension
	if len(pos) == 2 {
		proofPath = pos[1]
	}
	v, origin, err := keys.verifier(false)
	if err != nil {
		return err
	}
	leaf, err := os.ReadFile(leafPath)
	if err != nil {
		return usagef("LEAF: %v", err)
	}
	data, err := readLimited(proofPath, tlogproof.MaxSize)
	if err != nil {
		return usagef("PROOF: %v", err)
	}
	got, err := tlogproof.Verify(data, leaf, origin, v)
	if err != nil {
		var pe *tlogproof.Error
		if errors.As(err, &pe) && pe.Check == tlogproof.CheckInclusion {
			err = fmt.Errorf("%w (is %s the entry this proof is for?)", err, leafPath)
		}
		return originHint(fmt.Errorf("%s: %w", proofPath, err))
	}
	out := verifyProofOutput{Verified: true, Leaf: leafPath, Proof: proofPath, Origin: got.Origin, TreeSize: got.Size,
		Index: got.Index, RootHash: got.RootHash, Unchecked: got.OtherSignatures}
	return emit(e, *output, out, func(w io.Writer) {
		fmt.Fprintf(w, "verified: %s is entry %d of log %s (tree size %d, root %s), checkpoint signed by the log's key\n",
			leafPath, got.Index, got.Origin, got.Size, b64(got.RootHash))
		if n := len(got.OtherSignatures); n > 0 {
			fmt.Fprintf(w, "%d other signature(s) carried, not checked: %s\n", n, strings.Join(got.OtherSignatures, ", "))
		}
	})
}

// readLimited reads a file of at most limit bytes; past that it returns
// limit+1 bytes, which the parser refuses by size.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}
