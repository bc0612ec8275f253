package monitor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mosaiclog/mosaic/pkg/verify"
)

// Alarm kinds: what the log was caught doing.
const (
	// AlarmFork: two signed checkpoints of the same size with different
	// roots.
	AlarmFork = "fork"
	// AlarmInconsistent: a signed checkpoint whose tree does not extend (or,
	// for a smaller one, is not a prefix of) the last verified one; the
	// consistency proof built from the log's tiles does not verify.
	AlarmInconsistent = "inconsistent"
	// AlarmEntries: the entries the log serves do not hash to the root it
	// signed.
	AlarmEntries = "entries"
	// AlarmWitnesses: a signed checkpoint without the cosignatures of the
	// witness policy's quorum (LogConfig.Witnesses). Not proof of
	// misbehaviour alone, but a checkpoint no verifier requiring the
	// quorum accepts.
	AlarmWitnesses = "witnesses"
	// AlarmSplitView: a signed checkpoint that contradicts the one the
	// verifier memory (Config.Memory) holds, as verify.SplitViewError
	// says; AlarmError.SplitView is the evidence.
	AlarmSplitView = "split-view"
)

// SplitViewEvidenceFile is the file, in a split-view alarm's evidence
// directory, holding the evidence in verify.EvidenceFormat (re-checked by
// verify.ParseEvidence and Evidence.Verify, or mosaic verify-evidence).
const SplitViewEvidenceFile = "split-view.json"

// AlarmError is proof that the log misbehaved. Run returns it at once, in
// continuous mode too, after writing an "alarm" line and the evidence.
type AlarmError struct {
	// Log is the log's name in reports ("log", "certlog"); Origin its
	// checkpoint origin.
	Log, Origin string
	Kind        string
	Message     string
	// Old and New are the two checkpoint notes as the log served them,
	// OldSize and NewSize their tree sizes.
	Old, New         []byte
	OldSize, NewSize uint64
	// Proof is the consistency proof from Old's size to New's, as built
	// from the log's tiles (nil when none applies).
	Proof [][]byte
	// Computed is the root the monitor derived from the entries
	// (AlarmEntries).
	Computed []byte
	// SplitView is the split-view evidence (AlarmSplitView).
	SplitView *verify.Evidence
	// EvidenceDir holds the evidence files ("" if writing them failed;
	// the error is then in Message).
	EvidenceDir string
}

// Error says what the log did and where the evidence is.
func (e *AlarmError) Error() string {
	msg := fmt.Sprintf("ALARM: %s log %q: %s: %s", e.Log, e.Origin, e.Kind, e.Message)
	if e.EvidenceDir != "" {
		msg += "; evidence in " + e.EvidenceDir
	}
	return msg
}

// evidence is evidence.json: everything needed to show a third party,
// hashes and notes in base64 (encoding/json's []byte encoding).
type evidence struct {
	Log      string    `json:"log"`
	Origin   string    `json:"origin"`
	Kind     string    `json:"kind"`
	Message  string    `json:"message"`
	Time     time.Time `json:"time"`
	URL      string    `json:"url"`
	Old      []byte    `json:"oldCheckpoint"`
	New      []byte    `json:"newCheckpoint"`
	OldSize  uint64    `json:"oldSize"`
	NewSize  uint64    `json:"newSize"`
	Proof    [][]byte  `json:"consistencyProof,omitempty"`
	Computed []byte    `json:"computedRoot,omitempty"`
}

// writeEvidence saves the alarm's checkpoints (as served, in
// old.checkpoint and new.checkpoint; a witnesses alarm has only the new),
// evidence.json and, for a split view, SplitViewEvidenceFile in a new
// directory under root, and records it in a.EvidenceDir.
func writeEvidence(root, url string, a *AlarmError) error {
	name := fmt.Sprintf("%s-%s-%s", time.Now().UTC().Format("20060102T150405.000000000Z"), a.Log, a.Kind)
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating evidence directory: %w", err)
	}
	ev := evidence{Log: a.Log, Origin: a.Origin, Kind: a.Kind, Message: a.Message, Time: time.Now().UTC(), URL: url,
		Old: a.Old, New: a.New, OldSize: a.OldSize, NewSize: a.NewSize, Proof: a.Proof, Computed: a.Computed}
	js, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{"old.checkpoint": a.Old, "new.checkpoint": a.New, "evidence.json": append(js, '\n')}
	if a.SplitView != nil {
		if files[SplitViewEvidenceFile], err = a.SplitView.Marshal(); err != nil {
			return fmt.Errorf("encoding the split-view evidence: %w", err)
		}
	}
	for file, data := range files {
		if data == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			return fmt.Errorf("writing evidence: %w", err)
		}
	}
	a.EvidenceDir = dir
	return nil
}
