package monitor

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// harness runs the monitor against one log with a state file in a
// temporary directory.
type harness struct {
	t   *testing.T
	dir string
	cfg Config
	out bytes.Buffer
}

func newHarness(t *testing.T, lc LogConfig) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir()}
	h.cfg = Config{Log: lc, StatePath: filepath.Join(h.dir, "state.json"), Output: &h.out,
		Progress: testWriter{t}, Parallelism: 4,
		Client: []client.Option{client.WithMaxAttempts(2), client.WithBackoff(time.Nanosecond, time.Nanosecond)}}
	return h
}

// run does one pass and returns the JSON lines it wrote.
func (h *harness) run() ([]map[string]any, error) {
	h.t.Helper()
	h.out.Reset()
	err := Run(context.Background(), h.cfg)
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(h.out.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if jerr := json.Unmarshal([]byte(l), &m); jerr != nil {
			h.t.Fatalf("output line %q is not JSON: %v", l, jerr)
		}
		lines = append(lines, m)
	}
	return lines, err
}

func (h *harness) mustRun() []map[string]any {
	h.t.Helper()
	lines, err := h.run()
	if err != nil {
		h.t.Fatal(err)
	}
	return lines
}

func (h *harness) state() *LogState {
	h.t.Helper()
	st, err := LoadState(h.cfg.StatePath)
	if err != nil {
		h.t.Fatal(err)
	}
	return st.Logs["log"]
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fakeHarness(t *testing.T) (*fakeLog, *harness) {
	t.Helper()
	f := newFakeLog(t, newKey(t))
	return f, newHarness(t, LogConfig{URL: f.URL, Verifier: f.verifier()})
}

func TestMonitorFollowsGrowingLog(t *testing.T) {
	f, h := fakeHarness(t)
	all := leaves("entry", 600)
	for _, size := range []int{0, 5, 5, 300, 513, 600} {
		f.set(newTree(t, all[:size]), nil)
		if lines := h.mustRun(); len(lines) != 0 {
			t.Fatalf("size %d: unexpected output %v", size, lines)
		}
		if ls := h.state(); ls.Next != uint64(size) {
			t.Fatalf("size %d: state next %d", size, ls.Next)
		}
	}
}

// TestMonitorResumes stops a scan at a bundle that cannot be read, and
// checks that the next run goes on from the saved frontier and verifies
// the root.
func TestMonitorResumes(t *testing.T) {
	f, h := fakeHarness(t)
	f.set(newTree(t, leaves("entry", 700)), nil)
	f.breakPath("tile/entries/002.p/188")
	if _, err := h.run(); err == nil || !strings.Contains(err.Error(), "entry bundle 2") {
		t.Fatalf("run with a broken bundle: %v", err)
	}
	if ls := h.state(); ls.Next != 512 || len(ls.Frontier) != 1 {
		t.Fatalf("state next %d with %d frontier hashes, want 512 and 1", ls.Next, len(ls.Frontier))
	}
	f.breakPath("")
	h.mustRun()
	if ls := h.state(); ls.Next != 700 {
		t.Fatalf("state next %d after resuming, want 700", ls.Next)
	}
	files, err := os.ReadDir(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name() != "state.json" {
		t.Errorf("state directory holds %v, want only state.json", files)
	}
}

func TestMonitorStartIndex(t *testing.T) {
	f, h := fakeHarness(t)
	f.set(newTree(t, leaves("entry", 600)), nil)
	h.cfg.Start = 300
	h.mustRun()
	if ls := h.state(); ls.Next != 600 {
		t.Fatalf("state next %d, want 600", ls.Next)
	}
	h.cfg.Start = 601
	h.cfg.StatePath = filepath.Join(h.dir, "other.json")
	if _, err := h.run(); err == nil || !strings.Contains(err.Error(), "beyond the log's size") {
		t.Errorf("start beyond the log: %v", err)
	}
}

func TestMonitorFork(t *testing.T) {
	f, h := fakeHarness(t)
	f.set(newTree(t, leaves("a", 5)), nil)
	h.mustRun()
	f.set(newTree(t, leaves("b", 5)), nil)
	lines, err := h.run()
	a := checkAlarm(t, h, lines, err, AlarmFork)
	if a.Proof != nil {
		t.Errorf("a fork has no consistency proof, got %d hashes", len(a.Proof))
	}
	// The state still holds the first checkpoint: the alarm repeats.
	if _, err := h.run(); !errors.As(err, &a) {
		t.Errorf("second run after a fork: %v", err)
	}
}

func TestMonitorInconsistent(t *testing.T) {
	f, h := fakeHarness(t)
	f.set(newTree(t, leaves("a", 5)), nil)
	h.mustRun()
	f.set(newTree(t, append(leaves("b", 5), leaves("c", 3)...)), nil)
	lines, err := h.run()
	a := checkAlarm(t, h, lines, err, AlarmInconsistent)
	if len(a.Proof) == 0 {
		t.Error("no consistency proof in the alarm")
	}
	var ev evidence
	js, rerr := os.ReadFile(filepath.Join(a.EvidenceDir, "evidence.json"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err := json.Unmarshal(js, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.OldSize != 5 || ev.NewSize != 8 || len(ev.Proof) != len(a.Proof) || !bytes.Equal(ev.Proof[0], a.Proof[0]) {
		t.Errorf("evidence.json %s does not hold the sizes and the proof", js)
	}
}

func TestMonitorSmallerCheckpoint(t *testing.T) {
	f, h := fakeHarness(t)
	f.set(newTree(t, leaves("a", 8)), nil)
	h.mustRun()
	f.setPrefix(newTree(t, leaves("a", 8)), 5, nil)
	var rb *RollbackError
	if _, err := h.run(); !errors.As(err, &rb) || rb.Size != 5 || rb.Verified != 8 || rb.Unchecked != nil {
		t.Fatalf("a consistent smaller checkpoint: %v, want a checked RollbackError", err)
	}
	if ls := h.state(); ls.Next != 8 {
		t.Errorf("state moved back to %d", ls.Next)
	}
	// Only the smaller tree is served: consistency cannot be checked.
	f.set(newTree(t, leaves("a", 5)), nil)
	if _, err := h.run(); !errors.As(err, &rb) || rb.Unchecked == nil {
		t.Fatalf("a smaller checkpoint without the larger tree's tiles: %v, want an unchecked RollbackError", err)
	}
	f.setPrefix(newTree(t, leaves("b", 8)), 5, nil)
	lines, err := h.run()
	checkAlarm(t, h, lines, err, AlarmInconsistent)
}

func TestMonitorEntriesDoNotMatchRoot(t *testing.T) {
	f, h := fakeHarness(t)
	f.set(newTree(t, leaves("a", 300)), nil)
	f.serveBundlesFrom(newTree(t, leaves("b", 300)))
	lines, err := h.run()
	checkAlarm(t, h, lines, err, AlarmEntries)
	if ls := h.state(); ls.Next != 0 {
		t.Errorf("state kept next %d from entries that do not match the root", ls.Next)
	}
}

func TestMonitorBadSignature(t *testing.T) {
	f, h := fakeHarness(t)
	other := newFakeLog(t, newKey(t)) // same origin, another key
	f.set(newTree(t, leaves("a", 5)), other.signer)
	_, err := h.run()
	var ce *note.CheckpointError
	if !errors.As(err, &ce) {
		t.Fatalf("checkpoint signed by another key: %v, want a CheckpointError", err)
	}
	if _, serr := os.Stat(h.cfg.StatePath); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("a state file was written for an unverified checkpoint: %v", serr)
	}
	// A state recorded under the right key, then a bad signature.
	f.set(newTree(t, leaves("a", 5)), nil)
	h.mustRun()
	f.set(newTree(t, leaves("a", 6)), other.signer)
	if _, err := h.run(); !errors.As(err, &ce) {
		t.Fatalf("bad signature after a good one: %v", err)
	}
}

// A log followed under another origin than its checkpoints carry: the
// error names both origins and ends the run (retrying does not help).
func TestMonitorOtherOrigin(t *testing.T) {
	f, h := fakeHarness(t)
	f.set(newTree(t, leaves("a", 5)), nil)
	v, err := note.NewVerifier("127.0.0.1", f.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	h.cfg.Log = LogConfig{URL: f.URL, Origin: "127.0.0.1", Verifier: v}
	_, err = h.run()
	want := `the checkpoint is signed for origin "fake.example", you asked for "127.0.0.1"`
	var oe *note.OriginError
	if !errors.As(err, &oe) || !fatal(err) || err.Error() != want {
		t.Fatalf("other origin: %v, want a fatal %q", err, want)
	}
}

func TestMonitorStateForAnotherLog(t *testing.T) {
	f, h := fakeHarness(t)
	f.set(newTree(t, leaves("a", 5)), nil)
	h.mustRun()
	g := newFakeLog(t, newKey(t))
	g.set(newTree(t, leaves("a", 5)), nil)
	h.cfg.Log.Verifier = g.verifier()
	var se *StateError
	if _, err := h.run(); !errors.As(err, &se) {
		t.Fatalf("state of another key: %v, want a StateError", err)
	}
	if err := os.WriteFile(h.cfg.StatePath, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := h.run(); !errors.As(err, &se) {
		t.Fatalf("malformed state: %v, want a StateError", err)
	}
}

// checkAlarm checks that err is an alarm of kind with an alarm line and
// evidence files holding both checkpoints.
func checkAlarm(t *testing.T, h *harness, lines []map[string]any, err error, kind string) *AlarmError {
	t.Helper()
	var a *AlarmError
	if !errors.As(err, &a) {
		t.Fatalf("got %v, want a %s alarm", err, kind)
	}
	if a.Kind != kind {
		t.Fatalf("alarm %q, want %q: %v", a.Kind, kind, a)
	}
	if len(lines) != 1 || lines[0]["type"] != "alarm" || lines[0]["kind"] != kind || lines[0]["evidence"] != a.EvidenceDir ||
		lines[0]["oldSize"] != float64(a.OldSize) || lines[0]["newSize"] != float64(a.NewSize) {
		t.Errorf("output %v, want one %s alarm line naming %s", lines, kind, a.EvidenceDir)
	}
	if !strings.HasPrefix(a.EvidenceDir, h.dir) {
		t.Fatalf("evidence in %q, not under %s", a.EvidenceDir, h.dir)
	}
	for file, want := range map[string][]byte{"old.checkpoint": a.Old, "new.checkpoint": a.New} {
		got, err := os.ReadFile(filepath.Join(a.EvidenceDir, file))
		if err != nil || !bytes.Equal(got, want) || len(got) == 0 {
			t.Errorf("evidence %s: %q, %v", file, got, err)
		}
	}
	return a
}
