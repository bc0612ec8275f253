package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	sumdbnote "golang.org/x/mod/sumdb/note"

	"github.com/mosaiclog/mosaic/internal/atomicfile"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// stateVersion is the state file format this package reads and writes.
const stateVersion = 1

// State is what the monitor remembers between runs, per followed log.
type State struct {
	Version int `json:"version"`
	// Logs is keyed by the log's name in reports ("log", "certlog").
	Logs map[string]*LogState `json:"logs"`
}

// LogState is one log's progress.
//
// Invariants: Checkpoint is the latest checkpoint whose signature verified
// and that was proven consistent with every earlier one; entries below
// Next have been read and every match among them reported; Frontier is the
// compact range (RFC 6962, transparency-dev/merkle compact) of the leaf
// hashes of entries [0, Next). When Next reaches the checkpoint's size the
// frontier's root is checked against the checkpoint's before the state is
// saved, so a saved state with Next equal to the size is fully verified.
type LogState struct {
	Origin     string   `json:"origin"`
	Checkpoint string   `json:"checkpoint"`
	Next       uint64   `json:"next"`
	Frontier   [][]byte `json:"frontier"`
}

// StateError is a state file that cannot be used: unreadable, malformed,
// or recorded for another log or key. The operator must look at it; the
// monitor never overwrites it.
type StateError struct {
	Path string
	Err  error
}

// Error names the state file and the problem.
func (e *StateError) Error() string { return fmt.Sprintf("monitor state %s: %v", e.Path, e.Err) }

// Unwrap returns the underlying error.
func (e *StateError) Unwrap() error { return e.Err }

// LoadState reads the state file at path. A missing file is an empty state
// (the first run).
func LoadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Version: stateVersion, Logs: map[string]*LogState{}}, nil
	}
	if err != nil {
		return nil, &StateError{path, err}
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, &StateError{path, fmt.Errorf("malformed: %w", err)}
	}
	if st.Version != stateVersion {
		return nil, &StateError{path, fmt.Errorf("format version %d, this monitor reads version %d", st.Version, stateVersion)}
	}
	if st.Logs == nil {
		st.Logs = map[string]*LogState{}
	}
	return &st, nil
}

// Save writes the state atomically: a temporary file in the same
// directory, synced, renamed over path, and the directory synced, so a
// crash leaves either the old or the new state.
func (st *State) Save(path string) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Replace(path, append(data, '\n')); err != nil {
		return fmt.Errorf("saving monitor state to %s: %w", path, err)
	}
	return nil
}

// check verifies a loaded log state against the configured log: same
// origin, checkpoint signed by the configured key, a frontier that fits
// Next. It returns the parsed checkpoint.
func (ls *LogState) check(path, name, origin string, v sumdbnote.Verifier) (*log.Checkpoint, error) {
	fail := func(format string, args ...any) (*log.Checkpoint, error) {
		return nil, &StateError{path, fmt.Errorf("%s: "+format, append([]any{name}, args...)...)}
	}
	if ls.Origin != origin {
		return fail("recorded for origin %q, but the configured log is %q; use another state file", ls.Origin, origin)
	}
	cp, err := note.VerifyCheckpoint([]byte(ls.Checkpoint), origin, v)
	if err != nil {
		return fail("the saved checkpoint does not verify with the configured key: %v", err)
	}
	if ls.Next > cp.Size {
		return fail("next index %d is beyond the saved checkpoint's size %d", ls.Next, cp.Size)
	}
	if got, want := len(ls.Frontier), compact.RangeSize(0, ls.Next); got != want {
		return fail("frontier has %d hashes, want %d for %d entries", got, want, ls.Next)
	}
	for _, h := range ls.Frontier {
		if len(h) != 32 {
			return fail("frontier hash of %d bytes, want 32", len(h))
		}
	}
	return cp, nil
}
