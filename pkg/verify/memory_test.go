package verify_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// splitLog is one log identity (origin and key) that signs checkpoints of
// two different trees: history a and history b, which share their first
// shared entries and differ after.
type splitLog struct {
	tlog   *verify.TransparencyLog
	signer sumdbnote.Signer
	a, b   *testonly.Tree
}

func newSplitLog(t testing.TB, size, shared int) *splitLog {
	t.Helper()
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	const origin = "log.example"
	s, err := note.NewSigner(context.Background(), origin, key)
	if err != nil {
		t.Fatal(err)
	}
	id, err := note.LogID(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	l := &splitLog{tlog: &verify.TransparencyLog{Origin: origin, LogID: id, PublicKey: key.Public()}, signer: s,
		a: testonly.New(rfc6962.DefaultHasher), b: testonly.New(rfc6962.DefaultHasher)}
	for i := range size {
		l.a.AppendData(fmt.Appendf(nil, "entry %d", i))
		if i < shared {
			l.b.AppendData(fmt.Appendf(nil, "entry %d", i))
		} else {
			l.b.AppendData(fmt.Appendf(nil, "other entry %d", i))
		}
	}
	return l
}

// checkpoint signs tree's checkpoint at size and verifies it as a verifier
// would.
func (l *splitLog) checkpoint(t testing.TB, tree *testonly.Tree, size uint64) *verify.Checkpoint {
	t.Helper()
	body := log.Checkpoint{Origin: l.tlog.Origin, Size: size, Hash: tree.HashAt(size)}.Marshal()
	signed, err := sumdbnote.Sign(&sumdbnote.Note{Text: string(body)}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.tlog.VerifyCheckpoint(signed)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// prover serves consistency proofs from tree, as the log would.
func prover(tree *testonly.Tree) verify.ConsistencyProver {
	return func(_ context.Context, first, second uint64) ([][]byte, error) {
		return tree.ConsistencyProof(first, second)
	}
}

func newMemory(t testing.TB) *verify.DirMemory {
	t.Helper()
	m, err := verify.NewDirMemory(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// remembered returns the memory's checkpoint for l.
func remembered(t testing.TB, m *verify.DirMemory, l *splitLog) string {
	t.Helper()
	b, err := m.Load(l.tlog.MemoryKey())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRememberConsistent: the first checkpoint is remembered; the same one
// again changes nothing; a larger consistent one replaces it; a smaller
// consistent one is accepted and does not.
func TestRememberConsistent(t *testing.T) {
	ctx := context.Background()
	l := newSplitLog(t, 20, 20)
	m := newMemory(t)
	cp7, cp12, cp3 := l.checkpoint(t, l.a, 7), l.checkpoint(t, l.a, 12), l.checkpoint(t, l.a, 3)
	steps := []struct {
		cp     *verify.Checkpoint
		stored bool
		want   *verify.Checkpoint
	}{{cp7, true, cp7}, {cp7, false, cp7}, {cp12, true, cp12}, {cp3, false, cp12}, {cp12, false, cp12}}
	for i, s := range steps {
		rec, err := verify.Remember(ctx, m, s.cp, prover(l.a))
		if err != nil {
			t.Fatalf("step %d (size %d): %v", i, s.cp.Size, err)
		}
		if rec.Stored != s.stored || rec.Unchecked != "" || (i > 0) != (rec.Previous != nil) {
			t.Errorf("step %d (size %d): %+v", i, s.cp.Size, rec)
		}
		if got := remembered(t, m, l); got != string(s.want.Note) {
			t.Errorf("step %d: remembered\n%s\nwant\n%s", i, got, s.want.Note)
		}
	}
}

// TestRememberSplitView: each contradiction is a split view whose evidence
// re-checks (after a round trip through its file), and the remembered
// checkpoint stays.
func TestRememberSplitView(t *testing.T) {
	ctx := context.Background()
	l := newSplitLog(t, 20, 4)
	garbage := func(context.Context, uint64, uint64) ([][]byte, error) {
		return [][]byte{make([]byte, 32), make([]byte, 32), make([]byte, 32)}, nil
	}
	for _, tc := range []struct {
		name             string
		first, second    *verify.Checkpoint
		prove            verify.ConsistencyProver
		kind             verify.SplitViewKind
		conclusive       bool
		wantOlder, found string
	}{
		{"same size different root", l.checkpoint(t, l.a, 9), l.checkpoint(t, l.b, 9), nil, verify.SplitViewSameSize, true, "a", "two checkpoints of size 9 with different roots"},
		{"larger, the other history's proof", l.checkpoint(t, l.a, 7), l.checkpoint(t, l.b, 12), prover(l.b), verify.SplitViewInconsistent, true, "a", "whose tree has root"},
		{"larger, a proof that does not verify", l.checkpoint(t, l.a, 7), l.checkpoint(t, l.a, 12), garbage, verify.SplitViewInconsistent, false, "a", "does not verify"},
		{"larger, size 8 (a power of two)", l.checkpoint(t, l.a, 8), l.checkpoint(t, l.b, 12), prover(l.b), verify.SplitViewInconsistent, false, "a", "does not verify"},
		{"smaller inconsistent", l.checkpoint(t, l.a, 12), l.checkpoint(t, l.b, 6), prover(l.a), verify.SplitViewInconsistent, true, "b", "whose tree has root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemory(t)
			if _, err := verify.Remember(ctx, m, tc.first, nil); err != nil {
				t.Fatal(err)
			}
			_, err := verify.Remember(ctx, m, tc.second, tc.prove)
			wantCheck(t, err, verify.CheckSplitView)
			var sv *verify.SplitViewError
			if !errors.As(err, &sv) {
				t.Fatalf("not a *SplitViewError: %v", err)
			}
			if got := remembered(t, m, l); got != string(tc.first.Note) {
				t.Errorf("the remembered checkpoint changed to\n%s", got)
			}
			ev := sv.Evidence
			older := map[string]*verify.Checkpoint{"a": tc.first, "b": tc.second}[tc.wantOlder]
			if ev.Kind != tc.kind || string(ev.Older) != string(older.Note) {
				t.Errorf("evidence kind %s, older\n%s", ev.Kind, ev.Older)
			}
			file, err := ev.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := verify.ParseEvidence(file)
			if err != nil {
				t.Fatalf("ParseEvidence of Marshal: %v\n%s", err, file)
			}
			f, err := parsed.Verify()
			if err != nil {
				t.Fatalf("the evidence does not hold: %v\n%s", err, file)
			}
			if f.Conclusive != tc.conclusive || !strings.Contains(f.Summary, tc.found) || !strings.Contains(err2s(sv), tc.found) {
				t.Errorf("conclusive %v, summary %q", f.Conclusive, f.Summary)
			}
		})
	}
}

func err2s(err error) string { return err.Error() }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestRememberOffline: without a prover a larger or smaller checkpoint is
// not checked, says so, and is not remembered; a proof that cannot be
// fetched fails the check; the same size still needs the same root.
func TestRememberOffline(t *testing.T) {
	ctx := context.Background()
	l := newSplitLog(t, 20, 4)
	m := newMemory(t)
	cp7 := l.checkpoint(t, l.a, 7)
	if _, err := verify.Remember(ctx, m, cp7, nil); err != nil {
		t.Fatal(err)
	}
	for _, size := range []uint64{12, 5} {
		rec, err := verify.Remember(ctx, m, l.checkpoint(t, l.b, size), nil)
		if err != nil || rec.Stored || !strings.Contains(rec.Unchecked, "offline") {
			t.Errorf("size %d offline: %v %+v", size, err, rec)
		}
	}
	unreachable := func(context.Context, uint64, uint64) ([][]byte, error) { return nil, errors.New("connection refused") }
	_, err := verify.Remember(ctx, m, l.checkpoint(t, l.a, 12), unreachable)
	wantCheck(t, err, verify.CheckConsistencyProof)
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %v does not say why", err)
	}
	_, err = verify.Remember(ctx, m, l.checkpoint(t, l.b, 7), nil)
	wantCheck(t, err, verify.CheckSplitView)
	if got := remembered(t, m, l); got != string(cp7.Note) {
		t.Errorf("remembered changed to\n%s", got)
	}
}

// TestDirMemoryRefusesBadState: a state file that is not a checkpoint of
// this log is an error naming it, and is left as it was.
func TestDirMemoryRefusesBadState(t *testing.T) {
	ctx := context.Background()
	l := newSplitLog(t, 10, 10)
	other := newSplitLog(t, 10, 10)
	for name, content := range map[string]func(m *verify.DirMemory) []byte{
		"not JSON": func(*verify.DirMemory) []byte { return []byte("{\"origin\": \"log.ex") },
		"another key's checkpoint": func(m *verify.DirMemory) []byte {
			rec := fmt.Sprintf(`{"origin":"log.example","logId":%q,"checkpoint":%q}`, b64(l.tlog.LogID), other.checkpoint(t, other.a, 3).Note)
			return []byte(rec)
		},
		"another log's file": func(m *verify.DirMemory) []byte {
			return []byte(fmt.Sprintf(`{"origin":"log.example","logId":%q,"checkpoint":"x"}`, b64(other.tlog.LogID)))
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := newMemory(t)
			path := m.Path(l.tlog.MemoryKey())
			data := content(m)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := verify.Remember(ctx, m, l.checkpoint(t, l.a, 5), nil)
			wantCheck(t, err, verify.CheckCheckpointMemory)
			if got, _ := os.ReadFile(path); string(got) != string(data) {
				t.Errorf("the state file was overwritten")
			}
		})
	}
}

// TestDirMemoryCrashLeftovers: the temporary files a crash mid-write
// leaves (empty, truncated, complete but not renamed) change nothing: the
// last checkpoint written is loaded, and updates go on.
func TestDirMemoryCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	l := newSplitLog(t, 20, 20)
	m := newMemory(t)
	cp5, cp9 := l.checkpoint(t, l.a, 5), l.checkpoint(t, l.a, 9)
	if _, err := verify.Remember(ctx, m, cp5, nil); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(m.Path(l.tlog.MemoryKey()))
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(m.Path(l.tlog.MemoryKey()))
	for i, leftover := range [][]byte{nil, good[:len(good)/2], []byte(strings.Replace(string(good), string(cp5.Note), string(cp9.Note), 1))} {
		if err := os.WriteFile(filepath.Join(m.Dir(), fmt.Sprintf(".tmp-%s-%d", base, i)), leftover, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := remembered(t, m, l); got != string(cp5.Note) {
		t.Fatalf("after a crash, remembered\n%s\nwant the last written\n%s", got, cp5.Note)
	}
	if rec, err := verify.Remember(ctx, m, cp9, prover(l.a)); err != nil || !rec.Stored {
		t.Fatalf("update after a crash: %v %+v", err, rec)
	}
	if got := remembered(t, m, l); got != string(cp9.Note) {
		t.Errorf("remembered\n%s", got)
	}
}

// TestDirMemoryConcurrent: updates from many goroutines, each through its
// own DirMemory (own lock file descriptor, as separate processes have),
// never lose one: each sees the one before it.
func TestDirMemoryConcurrent(t *testing.T) {
	dir := t.TempDir()
	key := verify.LogKey{Origin: "log.example", LogID: make([]byte, 32)}
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			m, err := verify.NewDirMemory(dir)
			if err != nil {
				t.Error(err)
				return
			}
			err = m.Update(context.Background(), key, func(old []byte) ([]byte, error) {
				var count int
				if old != nil {
					if _, err := fmt.Sscanf(string(old), "count %d", &count); err != nil {
						return nil, err
					}
				}
				return fmt.Appendf(nil, "count %d", count+1), nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	m, _ := verify.NewDirMemory(dir)
	if got, err := m.Load(key); err != nil || string(got) != fmt.Sprintf("count %d", n) {
		t.Errorf("after %d updates: %q %v", n, got, err)
	}
}

// memoryHelperEnv makes the test binary a process that updates a memory
// in a loop (see TestDirMemoryKilledMidWrite).
const memoryHelperEnv = "MOSAIC_TEST_MEMORY_WRITER"

func countUpdate(old []byte) ([]byte, error) {
	var count int
	if old != nil {
		if _, err := fmt.Sscanf(string(old), "count %d", &count); err != nil {
			return nil, err
		}
	}
	return fmt.Appendf(nil, "count %d", count+1), nil
}

// TestDirMemoryKilledMidWrite: a process killed (SIGKILL) while it writes
// the memory as fast as it can leaves the last checkpoint it acknowledged,
// or the one after it, loadable; its lock dies with it.
func TestDirMemoryKilledMidWrite(t *testing.T) {
	key := verify.LogKey{Origin: "log.example", LogID: make([]byte, 32)}
	if dir := os.Getenv(memoryHelperEnv); dir != "" {
		m, err := verify.NewDirMemory(dir)
		if err != nil {
			t.Fatal(err)
		}
		for {
			var wrote []byte
			if err := m.Update(context.Background(), key, func(old []byte) ([]byte, error) {
				var err error
				wrote, err = countUpdate(old)
				return wrote, err
			}); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("%s\n", wrote)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDirMemoryKilledMidWrite$")
	cmd.Env = append(os.Environ(), memoryHelperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := 0
	for acked < 200 && sc.Scan() {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "count ")); err == nil {
			acked = n
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if acked < 200 {
		t.Fatalf("the writer stopped after %d updates", acked)
	}
	m, err := verify.NewDirMemory(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Load(key)
	if err != nil {
		t.Fatalf("after the kill: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(got), "count "))
	if err != nil || n < acked {
		t.Fatalf("after the kill the memory holds %q, want count >= %d (acknowledged)", got, acked)
	}
	// The dead writer's lock is gone: an update goes through.
	if err := m.Update(context.Background(), key, countUpdate); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d acknowledged updates; the memory held count %d", acked, n)
}
