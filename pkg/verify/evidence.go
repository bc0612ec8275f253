package verify

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// EvidenceFormat is the "format" of a split-view evidence file.
const EvidenceFormat = "mosaic-split-view-evidence/v1"

// maxEvidenceBytes bounds an evidence file: two checkpoints with their
// cosignatures and a proof of at most 64 hashes fit many times over.
const maxEvidenceBytes = 1 << 20

// SplitViewKind is the contradiction a piece of evidence shows.
type SplitViewKind string

const (
	// SplitViewSameSize: two checkpoints of the same size with different
	// roots. Conclusive by itself.
	SplitViewSameSize SplitViewKind = "same-size-different-root"
	// SplitViewInconsistent: the log's consistency proof between a smaller
	// and a larger checkpoint does not verify.
	SplitViewInconsistent SplitViewKind = "inconsistent"
)

// Evidence is what a verifier keeps when it catches a log in a split view:
// everything a third party needs to re-check it, and nothing else.
type Evidence struct {
	Kind SplitViewKind
	// Origin, LogID and PublicKey are the log's identity; both checkpoints
	// must verify under them.
	Origin    string
	LogID     []byte
	PublicKey crypto.PublicKey
	// Older and Newer are the two signed checkpoints, verbatim; Older's
	// tree is no larger than Newer's.
	Older, Newer []byte
	// Proof is the consistency proof from Older to Newer the log gave
	// (SplitViewInconsistent only).
	Proof [][]byte
	// Detected is when the verifier caught it (informative).
	Detected time.Time
}

// evidenceFile is the JSON form of Evidence. Checkpoints are strings (the
// notes verbatim), hashes and the log ID base64, the key PKIX PEM.
type evidenceFile struct {
	Format      string        `json:"format"`
	Kind        SplitViewKind `json:"kind"`
	Origin      string        `json:"origin"`
	LogID       string        `json:"logId"`
	PublicKey   string        `json:"logPublicKey"`
	Older       string        `json:"olderCheckpoint"`
	Newer       string        `json:"newerCheckpoint"`
	Proof       []string      `json:"consistencyProof,omitempty"`
	Detected    time.Time     `json:"detected,omitzero"`
	Explanation string        `json:"explanation,omitempty"`
}

// Marshal encodes the evidence as its JSON file (see ParseEvidence), with
// an explanation for people that ParseEvidence ignores.
func (ev *Evidence) Marshal() ([]byte, error) {
	pemKey, err := note.MarshalPublicKey(ev.PublicKey)
	if err != nil {
		return nil, err
	}
	f := evidenceFile{Format: EvidenceFormat, Kind: ev.Kind, Origin: ev.Origin, LogID: base64.StdEncoding.EncodeToString(ev.LogID),
		PublicKey: string(pemKey), Older: string(ev.Older), Newer: string(ev.Newer), Detected: ev.Detected}
	for _, h := range ev.Proof {
		f.Proof = append(f.Proof, base64.StdEncoding.EncodeToString(h))
	}
	if ev.Kind == SplitViewInconsistent && f.Proof == nil {
		f.Proof = []string{}
	}
	if found, err := ev.Verify(); err == nil {
		f.Explanation = found.Summary
	} else {
		f.Explanation = "does not show a split view: " + err.Error()
	}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// ParseEvidence reads an evidence file strictly: the known format and
// kind, no unknown fields, a valid origin, a log ID that is the key's, two
// non-empty checkpoints, and 32-byte proof hashes (at most 64, and only for
// SplitViewInconsistent). It checks no signature: Verify does.
func ParseEvidence(data []byte) (*Evidence, error) {
	if len(data) > maxEvidenceBytes {
		return nil, fmt.Errorf("evidence file of %d bytes, want at most %d", len(data), maxEvidenceBytes)
	}
	var f evidenceFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("evidence file: not a JSON object of the known fields: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("evidence file: data after the JSON object")
	}
	if f.Format != EvidenceFormat {
		return nil, fmt.Errorf("evidence file: format %q, want %q", f.Format, EvidenceFormat)
	}
	ev := &Evidence{Kind: f.Kind, Origin: f.Origin, Older: []byte(f.Older), Newer: []byte(f.Newer), Detected: f.Detected}
	if err := ev.parseIdentity(f); err != nil {
		return nil, fmt.Errorf("evidence file: %w", err)
	}
	if err := ev.parseProof(f); err != nil {
		return nil, fmt.Errorf("evidence file: %w", err)
	}
	if f.Older == "" || f.Newer == "" {
		return nil, errors.New("evidence file: olderCheckpoint and newerCheckpoint are required")
	}
	return ev, nil
}

// parseIdentity reads the log's origin, key and log ID, which must agree.
func (ev *Evidence) parseIdentity(f evidenceFile) error {
	if err := note.ValidOrigin(f.Origin); err != nil {
		return fmt.Errorf("origin %q: %w", f.Origin, err)
	}
	pub, err := note.ParsePublicKey([]byte(f.PublicKey))
	if err != nil {
		return fmt.Errorf("logPublicKey: %w", err)
	}
	ev.PublicKey = pub
	if ev.LogID, err = base64.StdEncoding.DecodeString(f.LogID); err != nil || len(ev.LogID) != 32 {
		return fmt.Errorf("logId %q: want the base64 of 32 bytes", f.LogID)
	}
	want, err := note.LogID(f.Origin, pub)
	if err != nil {
		return fmt.Errorf("logPublicKey: %w", err)
	}
	if !bytes.Equal(want, ev.LogID) {
		return fmt.Errorf("logId %s is not the log ID %s of origin %q and logPublicKey", f.LogID, base64.StdEncoding.EncodeToString(want), f.Origin)
	}
	return nil
}

// parseProof reads the kind and its proof.
func (ev *Evidence) parseProof(f evidenceFile) error {
	switch f.Kind {
	case SplitViewSameSize:
		if f.Proof != nil {
			return fmt.Errorf("kind %s carries no consistencyProof", f.Kind)
		}
		return nil
	case SplitViewInconsistent:
		if f.Proof == nil {
			return fmt.Errorf("kind %s needs a consistencyProof (an empty list when the log gave none)", f.Kind)
		}
	default:
		return fmt.Errorf("kind %q, want %q or %q", f.Kind, SplitViewSameSize, SplitViewInconsistent)
	}
	if len(f.Proof) > 64 {
		return fmt.Errorf("consistencyProof of %d hashes, want at most 64", len(f.Proof))
	}
	ev.Proof = [][]byte{}
	for i, s := range f.Proof {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != 32 {
			return fmt.Errorf("consistencyProof[%d] %q: want the base64 of a 32-byte hash", i, s)
		}
		ev.Proof = append(ev.Proof, h)
	}
	return nil
}

// Finding is what verified evidence shows.
type Finding struct {
	Older, Newer *log.Checkpoint
	// Conclusive is whether the evidence proves the split view on its
	// own: two roots for one size, or a proof that leads to the newer
	// root and gives the older size another root than the older
	// checkpoint's. Otherwise the log signed both checkpoints and gave a
	// proof between them that does not verify.
	Conclusive bool
	// Summary says what the evidence shows, in one sentence.
	Summary string
}

// Verify re-checks the evidence: both checkpoints are signed by the log's
// key under its origin, and they contradict each other as Kind says. An
// error says why the evidence does not show a split view.
func (ev *Evidence) Verify() (*Finding, error) {
	v, err := note.NewVerifier(ev.Origin, ev.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("the log's key: %w", err)
	}
	older, err := note.VerifyCheckpoint(ev.Older, ev.Origin, v)
	if err != nil {
		return nil, fmt.Errorf("the older checkpoint: %w", err)
	}
	newer, err := note.VerifyCheckpoint(ev.Newer, ev.Origin, v)
	if err != nil {
		return nil, fmt.Errorf("the newer checkpoint: %w", err)
	}
	f := &Finding{Older: older, Newer: newer}
	switch ev.Kind {
	case SplitViewSameSize:
		if older.Size != newer.Size || bytes.Equal(older.Hash, newer.Hash) {
			return nil, fmt.Errorf("the checkpoints (size %d root %x, size %d root %x) are not of one size with two roots",
				older.Size, older.Hash, newer.Size, newer.Hash)
		}
		f.Conclusive = true
		f.Summary = fmt.Sprintf("log %s signed two checkpoints of size %d with different roots, %x and %x",
			ev.Origin, older.Size, older.Hash, newer.Hash)
		return f, nil
	case SplitViewInconsistent:
		return f, ev.verifyInconsistent(f)
	}
	return nil, fmt.Errorf("unknown kind %q", ev.Kind)
}

// verifyInconsistent requires the proof not to verify, and finds whether
// it is conclusive.
func (ev *Evidence) verifyInconsistent(f *Finding) error {
	older, newer := f.Older, f.Newer
	if older.Size >= newer.Size {
		return fmt.Errorf("the older checkpoint's size %d is not below the newer's %d", older.Size, newer.Size)
	}
	err := proof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, ev.Proof, older.Hash, newer.Hash)
	if err == nil {
		return fmt.Errorf("the consistency proof from size %d to %d verifies: the checkpoints are consistent", older.Size, newer.Size)
	}
	f.Summary = fmt.Sprintf("log %s signed checkpoints of sizes %d and %d, and its consistency proof between them does not verify (%v)",
		ev.Origin, older.Size, newer.Size, readable(err))
	// If the proof leads to the newer root from some root other than the
	// older one, the newer tree's prefix has that other root.
	var rm proof.RootMismatchError
	if errors.As(err, &rm) && bytes.Equal(rm.ExpectedRoot, older.Hash) &&
		proof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, ev.Proof, rm.CalculatedRoot, newer.Hash) == nil {
		f.Conclusive = true
		f.Summary = fmt.Sprintf("log %s signed a checkpoint of size %d with root %x, and one of size %d whose tree has root %x at size %d "+
			"(the consistency proof leads to its root)", ev.Origin, older.Size, older.Hash, newer.Size, rm.CalculatedRoot, older.Size)
	}
	return nil
}
