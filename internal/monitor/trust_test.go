package monitor

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	sumdbnote "golang.org/x/mod/sumdb/note"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/witnesstest"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

// memoryHarness follows l with the verifier memory mem.
func memoryHarness(t *testing.T, l *mosaictest.Log, mem verify.CheckpointMemory) *harness {
	t.Helper()
	h := logHarness(t, l)
	h.cfg.Memory = mem
	h.cfg.Log.Log = &verify.TransparencyLog{BaseURL: l.URL, Origin: l.Origin, LogID: l.LogID, PublicKey: l.Key.Public()}
	return h
}

// remembered is the checkpoint mem holds for l's key and origin.
func remembered(t *testing.T, mem *verify.DirMemory, l *mosaictest.Log) *log.Checkpoint {
	t.Helper()
	raw, err := mem.Load(verify.LogKey{Origin: l.Origin, LogID: l.LogID})
	if err != nil || raw == nil {
		t.Fatalf("the memory holds %q, %v", raw, err)
	}
	cp, err := note.ParseCheckpoint(raw)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// checkSplitView checks a split-view alarm: its line, and evidence that
// verify.ParseEvidence reads and Evidence.Verify confirms as kind.
func checkSplitView(t *testing.T, h *harness, lines []map[string]any, err error, kind verify.SplitViewKind) {
	t.Helper()
	a := checkAlarm(t, h, lines, err, AlarmSplitView)
	data, rerr := os.ReadFile(filepath.Join(a.EvidenceDir, SplitViewEvidenceFile))
	if rerr != nil {
		t.Fatal(rerr)
	}
	ev, perr := verify.ParseEvidence(data)
	if perr != nil {
		t.Fatalf("%s: %v", SplitViewEvidenceFile, perr)
	}
	if _, verr := ev.Verify(); verr != nil || ev.Kind != kind {
		t.Fatalf("%s of kind %s: %v; want a %s split view that holds", SplitViewEvidenceFile, ev.Kind, verr, kind)
	}
}

// Two logs with one key and origin but different entries show two views
// of "one" log. A monitor of the first fills the verifier memory; monitors
// of the second, with their own fresh state, are then caught by it (same
// size, different root; larger, not consistent), and the memory keeps the
// first log's checkpoint until that log really grows.
func TestMonitorVerifierMemorySplitView(t *testing.T) {
	key := newKey(t)
	a := mosaictest.NewLog(t, mosaictest.Options{Key: key})
	b := mosaictest.NewLog(t, mosaictest.Options{Key: key})
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	for i := range 2 {
		logEntry(t, a, s, fmt.Appendf(nil, "a %d", i))
		logEntry(t, b, s, fmt.Appendf(nil, "b %d", i))
	}
	mem, err := verify.NewDirMemory(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ha := memoryHarness(t, a, mem)
	ha.mustRun()
	if cp := remembered(t, mem, a); cp.Size != 2 || ha.state().Checkpoint == "" {
		t.Fatalf("after following log A: remembered size %d", cp.Size)
	}
	aRoot := remembered(t, mem, a).Hash

	hb := memoryHarness(t, b, mem)
	lines, err := hb.run()
	checkSplitView(t, hb, lines, err, verify.SplitViewSameSize)
	if _, serr := os.Stat(hb.cfg.StatePath); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("the monitor of B saved a state for a checkpoint the memory contradicts: %v", serr)
	}

	logEntry(t, b, s, []byte("b 2"))
	lines, err = hb.run()
	checkSplitView(t, hb, lines, err, verify.SplitViewInconsistent)
	if cp := remembered(t, mem, a); cp.Size != 2 || !bytes.Equal(cp.Hash, aRoot) {
		t.Fatalf("the memory now holds size %d root %x, want A's size 2 root %x", cp.Size, cp.Hash, aRoot)
	}

	logEntry(t, a, s, []byte("a 2"))
	ha.mustRun()
	if cp := remembered(t, mem, a); cp.Size != 3 {
		t.Fatalf("after A grew: remembered size %d, want 3", cp.Size)
	}
	lines, err = hb.run() // now both at size 3
	checkSplitView(t, hb, lines, err, verify.SplitViewSameSize)
}

// A verifier memory that cannot be used (not a remembered checkpoint) ends
// the run (fatal: in continuous mode too), and is left as it was.
func TestMonitorVerifierMemoryUnusable(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	logEntry(t, l, mosaictest.NewSigner(t, mosaictest.ECDSAP256), []byte("one"))
	mem, err := verify.NewDirMemory(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := mem.Path(verify.LogKey{Origin: l.Origin, LogID: l.LogID})
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := memoryHarness(t, l, mem)
	_, err = h.run()
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != verify.CheckCheckpointMemory || !strings.Contains(err.Error(), path) || !fatal(err) {
		t.Fatalf("unusable memory: %v, want a %q error naming %s", err, verify.CheckCheckpointMemory, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "{not json" {
		t.Errorf("the memory file was overwritten: %q", got)
	}

	h.cfg.Log.Log = nil
	if _, err := h.run(); err == nil || !strings.Contains(err.Error(), "LogConfig.Log") {
		t.Errorf("memory without the log's key: %v", err)
	}
}

// A log witnessed by a real litewitness: the monitor accepts its
// checkpoints under a policy the witness satisfies, and alarms under one
// that also requires a witness that never cosigned, naming that witness.
func TestMonitorWitnessPolicy(t *testing.T) {
	key := newKey(t)
	vkey, err := note.VerifierKey("127.0.0.1", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	w := witnesstest.Start(t, "w1.example")
	w.AddLog("127.0.0.1", vkey)
	one := w.PolicyLine("w1") + "\nquorum w1\n"
	l := mosaictest.NewLog(t, mosaictest.Options{Key: key, WitnessPolicy: one, WitnessFailClosed: true, WitnessTimeout: 10 * time.Second})
	logEntry(t, l, mosaictest.NewSigner(t, mosaictest.ECDSAP256), []byte("witnessed"))

	h := logHarness(t, l)
	h.cfg.Log.Witnesses = mustPolicy(t, one)
	h.mustRun()

	_, w2, err := sumdbnote.GenerateKey(rand.Reader, "w2.example") // a witness that never saw the log
	if err != nil {
		t.Fatal(err)
	}
	two := fmt.Sprintf("%s\nwitness w2 %s https://w2.example\ngroup both all w1 w2\nquorum both\n", w.PolicyLine("w1"), w2)
	h.cfg.Log.Witnesses = mustPolicy(t, two)
	before, err := os.ReadFile(h.cfg.StatePath)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := h.run()
	var a *AlarmError
	if !errors.As(err, &a) || a.Kind != AlarmWitnesses {
		t.Fatalf("a checkpoint without w2's cosignature: %v, want a %s alarm", err, AlarmWitnesses)
	}
	if want := "missing cosignatures from w2 (key w2.example)"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "cosigned by w1") {
		t.Errorf("the alarm %q does not say %q", err, want)
	}
	if len(lines) != 1 || lines[0]["kind"] != AlarmWitnesses || lines[0]["evidence"] != a.EvidenceDir {
		t.Errorf("output %v, want one witnesses alarm line", lines)
	}
	if got, err := os.ReadFile(filepath.Join(a.EvidenceDir, "new.checkpoint")); err != nil || !bytes.Equal(got, a.New) || len(got) == 0 {
		t.Errorf("evidence new.checkpoint: %q, %v", got, err)
	}
	if after, _ := os.ReadFile(h.cfg.StatePath); !bytes.Equal(before, after) {
		t.Error("the state changed on a witnesses alarm")
	}
}

func mustPolicy(t *testing.T, text string) *verify.WitnessPolicy {
	t.Helper()
	p, err := verify.ParseWitnessPolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
