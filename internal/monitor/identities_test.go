package monitor

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/idtile"
)

// addConcurrently logs one entry per request, 32 at a time, and returns
// their log indices in request order.
func addConcurrently(t *testing.T, l *mosaictest.Log, reqs [][]byte) []uint64 {
	t.Helper()
	out := make([]uint64, len(reqs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i, req := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(req))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var tle struct {
				LogIndex string `json:"logIndex"`
			}
			if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &tle) != nil {
				t.Errorf("logging entry %d: %d %s", i, resp.StatusCode, body)
				return
			}
			if out[i], err = strconv.ParseUint(tle.LogIndex, 10, 64); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// recorder counts the tlog-tiles requests a monitor sends, by path under
// /api/v2/, and can answer identity tiles itself (tile: nil passes them
// through; else its status and body).
type recorder struct {
	mu    sync.Mutex
	paths map[string]int
	tile  func(path string) (int, []byte)
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	_, path, _ := strings.Cut(req.URL.Path, "/api/v2/")
	r.mu.Lock()
	r.paths[path]++
	tile := r.tile
	r.mu.Unlock()
	if tile != nil && strings.HasPrefix(path, "tile/identities/") {
		status, body := tile(path)
		return &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(body)), Request: req,
			Header: http.Header{"Content-Type": {"application/json"}}}, nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

// bundlesRead lists the entry bundles read, by index.
func (r *recorder) bundlesRead() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	for p := range r.paths {
		if rest, ok := strings.CutPrefix(p, "tile/entries/"); ok {
			rest, _, _ = strings.Cut(rest, ".p/")
			n, _ := strconv.ParseUint(rest, 10, 64)
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// identityLog is a log of 4 full bundles and a partial one, signed by
// several identities, and the monitor's watch list: alice's certificate
// SAN, key B's fingerprint and one digest (bob's certificate and key A are
// not watched). Bundle 1 holds nothing watched.
type identityLog struct {
	l      *mosaictest.Log
	watch  string
	wanted map[uint64]bool // entries the watch list matches
	certs  map[uint64]bool // certificate-signed entries
}

func newIdentityLog(t *testing.T) *identityLog {
	l := mosaictest.NewLog(t, mosaictest.Options{})
	keyA := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	keyB := mosaictest.NewSigner(t, mosaictest.Ed25519ph)
	alice := mosaictest.NewCertSigner(t, "alice@example.com")
	bob := mosaictest.NewCertSigner(t, "bob@example.org")
	watchedDigest := []byte("artifact 700")
	il := &identityLog{l: l, wanted: map[uint64]bool{}, certs: map[uint64]bool{},
		watch: fmt.Sprintf("identities:\n  - san: alice@example.com\nfingerprints: [%s]\ndigests: [%s]\n",
			entry.Fingerprint(keyB.PublicKeyDER), digestOf(watchedDigest))}
	// Each phase fills one bundle: 0 has key B and bob, 1 nothing
	// watched, 2 alice and the digest, 3 bob, and the partial bundle 4
	// key B again.
	signerOf := map[int]*mosaictest.Signer{10: keyB, 100: bob, 600: alice, 900: bob, 1030: keyB}
	for from := 0; from < 1044; from += 256 {
		var reqs [][]byte
		for i := from; i < min(from+256, 1044); i++ {
			s := signerOf[i]
			if s == nil {
				s = keyA
			}
			reqs = append(reqs, s.Request(t, fmt.Appendf(nil, "artifact %d", i)))
		}
		for k, idx := range addConcurrently(t, l, reqs) {
			i := from + k
			if idx/256 != uint64(i/256) {
				t.Fatalf("entry %d logged at %d, outside bundle %d", i, idx, i/256)
			}
			il.wanted[idx] = i == 10 || i == 600 || i == 700 || i == 1030
			il.certs[idx] = i == 100 || i == 600 || i == 900
		}
	}
	return il
}

// matches returns the log indices of match lines.
func matches(t *testing.T, lines []map[string]any) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range lines {
		if m["type"] != "match" {
			t.Fatalf("unexpected line %v", m)
		}
		out = append(out, uint64(m["logIndex"].(float64)))
	}
	slices.Sort(out)
	return out
}

func (il *identityLog) run(t *testing.T, fullScan bool, tile func(string) (int, []byte)) ([]uint64, *recorder, error) {
	h := logHarness(t, il.l)
	h.cfg.Watch = mustWatch(t, il.watch)
	h.cfg.FullScan = fullScan
	rec := &recorder{paths: map[string]int{}, tile: tile}
	h.cfg.HTTPClient = &http.Client{Transport: rec}
	lines, err := h.run()
	if err != nil {
		return nil, rec, err
	}
	return matches(t, lines), rec, nil
}

func TestMonitorIdentityTiles(t *testing.T) {
	il := newIdentityLog(t)
	var want []uint64
	bundles := map[uint64]bool{4: true} // the partial bundle is always read
	for idx, w := range il.wanted {
		if w {
			want = append(want, idx)
			bundles[idx/256] = true
		}
		if il.certs[idx] {
			// With fingerprint rules, a certificate's record may match
			// (the tile holds no certificate fingerprint).
			bundles[idx/256] = true
		}
	}
	slices.Sort(want)
	var wantRead []uint64
	for b := range bundles {
		wantRead = append(wantRead, b)
	}
	slices.Sort(wantRead)

	full, rec, err := il.run(t, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(full, want) {
		t.Fatalf("full scan matched %v, want %v", full, want)
	}
	if got := rec.bundlesRead(); len(got) != 5 || rec.paths["tile/identities/000"] != 0 {
		t.Fatalf("full scan read bundles %v and requests %v, want all 5 bundles and no identity tile", got, rec.paths)
	}

	tiles, rec, err := il.run(t, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tiles, full) {
		t.Fatalf("with identity tiles matched %v, the full scan %v", tiles, full)
	}
	if got := rec.bundlesRead(); !slices.Equal(got, wantRead) || slices.Contains(got, 1) {
		t.Fatalf("with identity tiles read bundles %v, want %v", got, wantRead)
	}
	for b := range uint64(4) {
		if n := rec.paths[fmt.Sprintf("tile/identities/%03d", b)]; n != 1 {
			t.Errorf("identity tile %d read %d times, want once", b, n)
		}
	}
	if n := rec.paths["tile/identities/004"]; n != 0 {
		t.Errorf("the partial bundle's identity tile was asked for %d times", n)
	}

	// Without fingerprint rules, bob's certificate does not make bundle 3
	// worth reading.
	il.watch = "identities:\n  - san: alice@example.com\n"
	alice, rec, err := il.run(t, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.bundlesRead(); len(alice) != 1 || alice[0]/256 != 2 || !slices.Equal(got, []uint64{2, 4}) {
		t.Fatalf("watching alice: matched %v reading bundles %v, want one match in bundle 2 reading 2 and 4", alice, got)
	}

	// Without identity tiles (404), every bundle is read.
	notFound := func(string) (int, []byte) { return http.StatusNotFound, []byte(`{"code":404,"message":"none"}`) }
	none, rec, err := il.run(t, false, notFound)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(none, alice) || len(rec.bundlesRead()) != 5 {
		t.Fatalf("on 404 matched %v reading %v, want %v reading all 5 bundles", none, rec.bundlesRead(), alice)
	}

	// After a 404, the rest of the pass reads bundles without asking.
	h := logHarness(t, il.l)
	h.cfg.Watch, h.cfg.Parallelism = mustWatch(t, il.watch), 1
	rec = &recorder{paths: map[string]int{}, tile: notFound}
	h.cfg.HTTPClient = &http.Client{Transport: rec}
	if _, err := h.run(); err != nil {
		t.Fatal(err)
	}
	asked := 0
	for p, n := range rec.paths {
		if strings.HasPrefix(p, "tile/identities/") {
			asked += n
		}
	}
	if asked != 1 || len(rec.bundlesRead()) != 5 {
		t.Fatalf("asked for %d identity tiles reading bundles %v, want 1 and all 5", asked, rec.bundlesRead())
	}
}

func TestMonitorCorruptIdentityTile(t *testing.T) {
	il := newIdentityLog(t)
	var short bytes.Buffer // a gzip of 255 records
	zw := gzip.NewWriter(&short)
	zw.Write(bytes.Repeat([]byte("{}\n"), 255))
	zw.Close()
	for name, body := range map[string][]byte{
		"not gzip":    []byte("{}\n"),
		"255 records": short.Bytes(),
		"empty":       nil,
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := il.run(t, false, func(string) (int, []byte) { return http.StatusOK, body })
			if err == nil || !strings.Contains(err.Error(), "identity tile of entry bundle") ||
				!strings.Contains(err.Error(), "--full-scan") {
				t.Fatalf("error %v, want one naming the unusable identity tile and --full-scan", err)
			}
		})
	}
}

// TestMonitorLyingIdentityTile checks that matches come from the entries,
// not from the tile: a tile naming alice for every entry makes the monitor
// read every bundle, and it reports only alice's real entry.
func TestMonitorLyingIdentityTile(t *testing.T) {
	il := newIdentityLog(t)
	il.watch = "identities:\n  - san: alice@example.com\n"
	recs := make([]idtile.Record, idtile.Width)
	for i := range recs {
		recs[i] = idtile.Record{SANs: []string{"alice@example.com"}}
	}
	lie, err := idtile.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	got, rec, err := il.run(t, false, func(string) (int, []byte) { return http.StatusOK, lie })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0]/256 != 2 || len(rec.bundlesRead()) != 5 {
		t.Fatalf("matched %v reading bundles %v, want alice's one entry (bundle 2) reading all 5", got, rec.bundlesRead())
	}
}
