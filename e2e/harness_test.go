// Package e2e builds Mosaic's binaries and drives them as users do: start
// mosaicd, post entries over HTTP, kill it, restart it, read the log back
// with Tessera's client and check that nothing acknowledged was lost.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// binDir holds the binaries TestMain builds.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mosaic-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", dir+"/", "../cmd/mosaicd", "../cmd/mosaic", "./example")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building binaries:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running mosaicd process.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	URL    string
	Origin string
	args   []string
	dir    string
	stderr *bytes.Buffer
	done   chan struct{}
	// startedAt is the route start polls for a 200: "/readyz" unless set
	// ("/healthz" for a server that serves but is not ready, as on a full
	// disk).
	startedAt string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs "mosaicd serve" with args in dir, on a free port, and
// waits until it is ready.
func startServer(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	s := &server{t: t, dir: dir, URL: "http://" + freeAddr(t), Origin: "127.0.0.1"}
	s.args = append([]string{"serve", "--listen", strings.TrimPrefix(s.URL, "http://")}, args...)
	s.start()
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.stderr = &bytes.Buffer{}
	s.cmd = exec.Command(filepath.Join(binDir, "mosaicd"), s.args...)
	s.cmd.Dir = s.dir
	s.cmd.Stderr = &syncWriter{w: s.stderr}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	s.t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.t.Fatalf("mosaicd exited during start-up: %v\n%s", s.cmd.ProcessState, s.stderr)
		default:
		}
		route := cmp.Or(s.startedAt, "/readyz")
		if resp, err := http.Get(s.URL + route); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("mosaicd: %s not 200 after 30 s:\n%s", cmp.Or(s.startedAt, "/readyz"), s.stderr)
}

// kill sends SIGKILL: no chance to flush or drain anything.
func (s *server) kill() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("mosaicd did not exit within 60 s of SIGTERM")
	}
	if !s.cmd.ProcessState.Success() {
		return fmt.Errorf("mosaicd exited with %v:\n%s", s.cmd.ProcessState, s.stderr)
	}
	return nil
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// acked is an entry the log acknowledged with 201.
type acked struct {
	index uint64
	leaf  []byte
	// request is the CreateEntryRequest that was acknowledged.
	request []byte
}

// postEntry submits body and returns the acknowledged entry, or the status
// and body of a refusal.
func postEntry(ctx context.Context, url string, body []byte) (*rekorpb.TransparencyLogEntry, int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v2/log/entries", bytes.NewReader(body))
	if err != nil {
		return nil, 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, resp.StatusCode, b, nil
	}
	var tle rekorpb.TransparencyLogEntry
	if err := protojson.Unmarshal(b, &tle); err != nil {
		return nil, resp.StatusCode, b, err
	}
	return &tle, resp.StatusCode, b, nil
}

// logState reads the published log with Tessera's client, verifying the
// checkpoint with key, and returns the checkpoint and every leaf.
func logState(t *testing.T, baseURL, origin string, key crypto.PublicKey) (*log.Checkpoint, [][]byte) {
	t.Helper()
	ctx := t.Context()
	u, _ := url.Parse(baseURL + "/api/v2/")
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, v, origin)
	if err != nil {
		t.Fatalf("fetching checkpoint: %v", err)
	}
	var leaves [][]byte
	for b := uint64(0); b*layout.EntryBundleWidth < cp.Size; b++ {
		bundle, err := client.GetEntryBundle(ctx, f.ReadEntryBundle, b, cp.Size)
		if err != nil {
			t.Fatalf("bundle %d: %v", b, err)
		}
		leaves = append(leaves, bundle.Entries...)
	}
	if uint64(len(leaves)) != cp.Size {
		t.Fatalf("bundles hold %d entries, checkpoint says %d", len(leaves), cp.Size)
	}
	return cp, leaves
}

// rederive recomputes the tree root from the leaves alone and compares it
// with the checkpoint: the whole log re-derived from its bundles.
func rederive(t *testing.T, cp *log.Checkpoint, leaves [][]byte) {
	t.Helper()
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(l), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root, cp.Hash) {
		t.Fatalf("root re-derived from %d bundled leaves is %x; the checkpoint says %x", len(leaves), root, cp.Hash)
	}
}

// checkAcked checks that every acknowledged entry is in the log at its
// index and its inclusion proof verifies against the checkpoint.
func checkAcked(t *testing.T, baseURL string, cp *log.Checkpoint, leaves [][]byte, acks []acked) {
	t.Helper()
	u, _ := url.Parse(baseURL + "/api/v2/")
	f, _ := client.NewHTTPFetcher(u, nil)
	pb, err := client.NewProofBuilder(t.Context(), cp.Size, f.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acks {
		if a.index >= cp.Size {
			t.Fatalf("acknowledged index %d is beyond the log's size %d: it was lost", a.index, cp.Size)
		}
		if !bytes.Equal(leaves[a.index], a.leaf) {
			t.Fatalf("index %d holds another entry than the one acknowledged", a.index)
		}
		p, err := pb.InclusionProof(t.Context(), a.index)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, a.index, cp.Size, rfc6962.DefaultHasher.HashLeaf(a.leaf), p, cp.Hash); err != nil {
			t.Fatalf("inclusion of acknowledged index %d: %v", a.index, err)
		}
	}
}

// checkAfterCrash checks a restarted log: every acknowledged entry is in it
// with a valid proof, the tree re-derives from its bundles, and a new entry
// goes after the tree published before the crash.
func checkAfterCrash(t *testing.T, baseURL, origin string, key crypto.PublicKey, acks []acked, signer *mosaictest.Signer) {
	t.Helper()
	cp, leaves := logState(t, baseURL, origin, key)
	checkAcked(t, baseURL, cp, leaves, acks)
	rederive(t, cp, leaves)
	// A retry of an entry acknowledged before the crash resolves to its
	// original index and appends nothing.
	for _, a := range []acked{acks[0], acks[len(acks)/2], acks[len(acks)-1]} {
		tle, status, b, err := postEntry(t.Context(), baseURL, a.request)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("retry of the entry acknowledged at %d: %d %s %v", a.index, status, b, err)
		}
		if uint64(tle.GetLogIndex()) != a.index {
			t.Errorf("retry of the entry acknowledged at %d got index %d", a.index, tle.GetLogIndex())
		}
	}
	// Entries sequenced but unacknowledged before the crash may still be
	// published now, so count copies rather than compare sizes.
	_, after := logState(t, baseURL, origin, key)
	for _, a := range []acked{acks[0], acks[len(acks)/2], acks[len(acks)-1]} {
		copies := 0
		for _, l := range after {
			if bytes.Equal(l, a.leaf) {
				copies++
			}
		}
		if copies != 1 {
			t.Errorf("the entry acknowledged at %d is in the log %d times after its retry, want once", a.index, copies)
		}
	}
	body := signer.Request(t, []byte("after the crash"))
	tle, status, b, err := postEntry(t.Context(), baseURL, body)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("add after restart: %d %s %v", status, b, err)
	}
	if uint64(tle.GetLogIndex()) < cp.Size {
		t.Errorf("new entry at %d, inside the already published tree of %d", tle.GetLogIndex(), cp.Size)
	}
	t.Logf("%d entries acknowledged before SIGKILL; log size after restart %d", len(acks), cp.Size)
}

// growTo waits (at most a minute) until the log's checkpoint holds n
// entries, so a crash test crashes a log that has really been loaded.
func growTo(t *testing.T, baseURL string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(baseURL + "/api/v2/checkpoint"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if lines := strings.Split(string(b), "\n"); len(lines) > 1 {
				if size, err := strconv.ParseUint(lines[1], 10, 64); err == nil && size >= n {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the log did not reach %d entries within a minute", n)
}

// crashUnderLoad loads s with workers clients until its log holds 100
// entries, kills it with SIGKILL mid-load, restarts it and returns what was
// acknowledged before the crash.
func crashUnderLoad(t *testing.T, s *server, workers int) []acked {
	t.Helper()
	stop := make(chan struct{})
	var acks []acked
	done := make(chan struct{})
	go func() { acks = loadUntil(t, s.URL, workers, stop); close(done) }()
	growTo(t, s.URL, 100) // load for a while, however slow the machine
	s.kill()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	if len(acks) < 10 {
		t.Fatalf("only %d entries acknowledged before the crash; the test proves nothing", len(acks))
	}
	s.start()
	return acks
}
