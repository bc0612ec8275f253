package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"k8s.io/klog/v2"
)

// fill appends n distinct raw leaves through the log's Go API, many at a
// time, and returns once a checkpoint covers all of them.
func fill(t testing.TB, l *mosaictest.Log, n int) {
	t.Helper()
	fillPrefix(t, l, n, "audit test leaf")
}

func fillPrefix(t testing.TB, l *mosaictest.Log, n int, prefix string) {
	t.Helper()
	ctx := context.Background()
	sem := make(chan struct{}, 2048)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := l.Log.Add(ctx, fmt.Appendf(nil, "%s %d", prefix, i), nil); err != nil {
				mu.Lock()
				firstErr = errors.Join(firstErr, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	cp, _, err := l.Log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != uint64(n) {
		t.Fatalf("log size %d after adding %d leaves", cp.Size, n)
	}
}

func config(t testing.TB, l *mosaictest.Log, url string) Config {
	t.Helper()
	v, err := note.NewVerifier(l.Origin, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return Config{LogURL: client.TilesURL(url), Verifier: v, Parallelism: 4,
		Client: []client.Option{client.WithMaxAttempts(2), client.WithBackoff(time.Millisecond, time.Millisecond)}}
}

// sharedSize makes two full bundles and a partial one, and a partial
// level-1 tile.
const sharedSize = 700

func TestAuditClean(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	fill(t, l, sharedSize)
	var progress bytes.Buffer
	cfg := config(t, l, l.URL)
	cfg.Progress = &progress
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size != sharedSize || r.Entries != sharedSize || r.Bundles != 3 || r.Tiles != 4 {
		t.Errorf("report %+v: want size and entries %d, 3 bundles, 4 tiles (0/0, 0/1, 0/2.p/188, 1/0.p/2)", r, sharedSize)
	}
	if !strings.Contains(progress.String(), "700/700 entries") {
		t.Errorf("progress %q has no final line", progress.String())
	}
	t.Run("corrupted", func(t *testing.T) { testCorruptions(t, l) })
}

// TestAuditRewrittenLog serves one log's checkpoint with the tiles and
// entries of another log of the same size, signed by the same key: every
// tile agrees with the entries, and only the root gives it away.
func TestAuditRewrittenLog(t *testing.T) {
	a := mosaictest.NewLog(t, mosaictest.Options{})
	b := mosaictest.NewLog(t, mosaictest.Options{Key: a.Key})
	fill(t, a, 20)
	fillPrefix(t, b, 20, "other")
	p := proxy(t, func(path string) string {
		if path == "/api/v2/checkpoint" {
			return a.URL
		}
		return b.URL
	}, func(_ string, body []byte) []byte { return body })
	_, err := Run(context.Background(), config(t, a, p))
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Resource != "checkpoint" || !strings.Contains(ie.Detail, "root differs") {
		t.Fatalf("audit of a rewritten log: %v, want checkpoint: root differs", err)
	}
}

// Auditing a log under another origin than its checkpoints carry says
// both origins, not that no signature verifies.
func TestAuditOtherOrigin(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	cfg := config(t, l, l.URL)
	v, err := note.NewVerifier("log.example.org", l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Origin, cfg.Verifier = "log.example.org", v
	_, err = Run(context.Background(), cfg)
	want := fmt.Sprintf("the checkpoint is signed for origin %q, you asked for \"log.example.org\"", l.Origin)
	var oe *note.OriginError
	if !errors.As(err, &oe) || err.Error() != want {
		t.Fatalf("audit under another origin: %v, want %q", err, want)
	}
}

func TestAuditPostgres(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Store: "postgres"})
	fill(t, l, 300)
	r, err := Run(context.Background(), config(t, l, l.URL))
	if err != nil {
		t.Fatal(err)
	}
	if r.Size != 300 || r.Entries != 300 || r.Tiles != 3 {
		t.Errorf("report %+v: want 300 entries, tiles 0/0, 0/1.p/44, 1/0.p/1", r)
	}
}

func TestAuditEmptyLog(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	r, err := Run(context.Background(), config(t, l, l.URL))
	if err != nil {
		t.Fatal(err)
	}
	if r.Size != 0 || r.Entries != 0 {
		t.Errorf("report %+v for an empty log", r)
	}
}

// testCorruptions serves l through a proxy that changes one byte of one
// resource, and checks the audit names that resource and what is wrong.
func testCorruptions(t *testing.T, l *mosaictest.Log) {
	entry5 := entryOffset(t, l.URL+"/api/v2/tile/entries/001", 5)
	partial1 := entryOffset(t, l.URL+"/api/v2/tile/entries/002.p/188", 1)
	for _, tc := range []struct {
		name, path string
		offset     int
		resource   string
		detail     string
	}{
		{"leaf tile", "tile/0/001", 17*32 + 3, "tile 0/1", "hash 17 differs: got "},
		{"partial leaf tile", "tile/0/002.p/188", 187*32 + 31, "tile 0/2.p/188", "hash 187 differs"},
		{"level-1 tile", "tile/1/000.p/2", 32, "tile 1/0.p/2", "hash 1 differs"},
		{"entry", "tile/entries/001", entry5 + 4, "entry bundle 1", "entry 5 (log index 261) is not the logged entry"},
		{"entry length", "tile/entries/000", 0, "entry bundle 0", "malformed"},
		{"partial bundle", "tile/entries/002.p/188", partial1, "entry bundle 2.p/188", "entry 1 (log index 513)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := flipProxy(t, l.URL, "/api/v2/"+tc.path, tc.offset)
			_, err := Run(context.Background(), config(t, l, p))
			var ie *IntegrityError
			if !errors.As(err, &ie) {
				t.Fatalf("audit through a proxy corrupting %s: %v, want an IntegrityError", tc.path, err)
			}
			if ie.Resource != tc.resource || !strings.Contains(ie.Detail, tc.detail) {
				t.Errorf("error %q, want resource %q and detail containing %q", err, tc.resource, tc.detail)
			}
		})
	}
	t.Run("short tile", func(t *testing.T) {
		p := proxy(t, func(string) string { return l.URL }, func(p string, b []byte) []byte {
			if p == "/api/v2/tile/0/000" {
				return b[:len(b)-32]
			}
			return b
		})
		_, err := Run(context.Background(), config(t, l, p))
		if err == nil || err.Error() != "tile 0/0: width mismatch: holds 255 hashes, want 256" {
			t.Errorf("audit of a short tile: %v", err)
		}
	})
	t.Run("short bundle", func(t *testing.T) {
		last := entryOffset(t, l.URL+"/api/v2/tile/entries/001", 255) - 2
		p := proxy(t, func(string) string { return l.URL }, func(p string, b []byte) []byte {
			if p == "/api/v2/tile/entries/001" {
				return b[:last]
			}
			return b
		})
		_, err := Run(context.Background(), config(t, l, p))
		if err == nil || err.Error() != "entry bundle 1: width mismatch: holds 255 entries, want 256" {
			t.Errorf("audit of a short bundle: %v", err)
		}
	})
	t.Run("checkpoint", func(t *testing.T) {
		p := flipProxy(t, l.URL, "/api/v2/checkpoint", 2)
		_, err := Run(context.Background(), config(t, l, p))
		var ce *note.CheckpointError
		if !errors.As(err, &ce) {
			t.Fatalf("audit of a changed checkpoint: %v, want a CheckpointError", err)
		}
	})
}

// entryOffset is the byte offset of entry k's data in the bundle at url.
func entryOffset(t *testing.T, url string, k int) int {
	t.Helper()
	b := get(t, url)
	off := 0
	for range k {
		off += 2 + int(binary.BigEndian.Uint16(b[off:]))
	}
	return off + 2
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

// flipProxy serves target, with byte offset of the resource at path
// inverted.
func flipProxy(t *testing.T, target, path string, offset int) string {
	t.Helper()
	return proxy(t, func(p string) string { return target }, func(p string, body []byte) []byte {
		if p == path && offset < len(body) {
			body[offset] ^= 0xff
		}
		return body
	})
}

// proxy serves each path from the server route names, through change.
func proxy(t *testing.T, route func(path string) string, change func(path string, body []byte) []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(route(r.URL.Path) + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(change(r.URL.Path, body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestTilesAfter checks that the tiles checked after each bundle are
// exactly the tiles a log of that size serves, each once.
func TestTilesAfter(t *testing.T) {
	for _, size := range []uint64{1, 255, 256, 257, 700, 65535, 65536, 65537, 70000, 1 << 24, 1<<24 + 1} {
		got := map[tileID]int{}
		for i := range (size + 255) / 256 {
			for _, id := range tilesAfter(i, size) {
				got[id]++
			}
		}
		for l := uint64(0); size>>(8*l) > 0; l++ {
			n := size >> (8 * l) // hashes at tile level l
			for idx := uint64(0); idx < n/256; idx++ {
				id := tileID{l, idx, 0}
				if got[id] != 1 {
					t.Errorf("size %d: %s checked %d times", size, id, got[id])
				}
				delete(got, id)
			}
			if w := uint8(n % 256); w > 0 {
				id := tileID{l, n / 256, w}
				if got[id] != 1 {
					t.Errorf("size %d: %s checked %d times", size, id, got[id])
				}
				delete(got, id)
			}
		}
		for id := range got {
			t.Errorf("size %d: %s checked but not served", size, id)
		}
	}
}

// TestAuditBig audits a 100,000-entry log and logs the rate. It runs only
// with MOSAIC_AUDIT_BIG=1 (MOSAIC_AUDIT_BIG_N changes the size). The log is
// written with Tessera's POSIX driver directly (large batches: seconds for
// 100k) and served by a plain file server, as a static tlog-tiles log is;
// MOSAIC_AUDIT_BIG_SERVER=mosaic builds it through a Mosaic server instead
// (its test log integrates 256 entries at a time: about two minutes).
func TestAuditBig(t *testing.T) {
	if os.Getenv("MOSAIC_AUDIT_BIG") != "1" {
		t.Skip("set MOSAIC_AUDIT_BIG=1 to audit a 100,000-entry log")
	}
	n := 100_000
	if s := os.Getenv("MOSAIC_AUDIT_BIG_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 0 {
			t.Fatalf("MOSAIC_AUDIT_BIG_N=%q: want a count", s)
		}
	}
	start := time.Now()
	var cfg Config
	if os.Getenv("MOSAIC_AUDIT_BIG_SERVER") == "mosaic" {
		l := mosaictest.NewLog(t, mosaictest.Options{})
		fill(t, l, n)
		cfg = config(t, l, l.URL)
	} else {
		cfg = staticLog(t, n)
	}
	t.Logf("built a %d-entry log in %s", n, time.Since(start).Round(time.Millisecond))
	cfg.Parallelism = 16
	cfg.Progress = testWriter{t}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Entries != uint64(n) {
		t.Fatalf("audited %d entries, want %d", r.Entries, n)
	}
	t.Logf("audited %d entries (%d bundles, %d tiles, %.1f MB) in %s: %.0f entries/s",
		r.Entries, r.Bundles, r.Tiles, float64(r.Bytes)/1e6, r.Duration.Round(time.Millisecond), r.Rate())
}

// staticLog writes n leaves with Tessera's POSIX driver and serves the
// directory over HTTP as <URL>/api/v2.
func staticLog(t *testing.T, n int) Config {
	t.Helper()
	klog.SetSlogLogger(slog.New(slog.DiscardHandler)) // Tessera's chatter
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const origin = "big.example"
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(ctx, origin, key)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	app, shutdown, reader, err := tessera.NewAppender(ctx, driver, tessera.NewAppendOptions().
		WithCheckpointSigner(signer).WithBatching(4096, 50*time.Millisecond).
		WithCheckpointInterval(100*time.Millisecond).WithPushback(uint(n)+1))
	if err != nil {
		t.Fatal(err)
	}
	futures := make([]tessera.IndexFuture, n)
	for i := range futures {
		futures[i] = app.Add(ctx, tessera.NewEntry(fmt.Appendf(nil, "big audit leaf %d", i)))
	}
	for _, f := range futures {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		raw, err := reader.ReadCheckpoint(ctx)
		if err == nil {
			if cp, err := note.VerifyCheckpoint(raw, origin, verifier); err == nil && cp.Size == uint64(n) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint covers the log within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/api/v2/", http.FileServer(http.Dir(dir))))
	t.Cleanup(srv.Close)
	return Config{LogURL: srv.URL + "/api/v2", Verifier: verifier}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
