package monitor

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// tree is a small real Merkle tree with the resources a tlog-tiles log
// serves for it, built with transparency-dev/merkle's compact range.
type tree struct {
	leaves [][]byte
	root   []byte
	// nodes[L] are the hashes of tile level L (tree level 8L), in order.
	nodes map[uint64][][]byte
}

func newTree(t testing.TB, leaves [][]byte) *tree {
	t.Helper()
	tr := &tree{leaves: leaves, nodes: map[uint64][][]byte{}}
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, l := range leaves {
		err := r.Append(rfc6962.DefaultHasher.HashLeaf(l), func(id compact.NodeID, h []byte) {
			if id.Level%8 == 0 {
				tr.nodes[uint64(id.Level/8)] = append(tr.nodes[uint64(id.Level/8)], h)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	tr.root = root
	return tr
}

// leaves returns n distinct leaves starting with prefix.
func leaves(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s %d", prefix, i)
	}
	return out
}

// fakeLog serves a tree as a tlog-tiles log under /api/v2, with a
// checkpoint signed by key. Tests swap the tree (or the bundles alone) to
// make the log misbehave.
type fakeLog struct {
	t      testing.TB
	origin string
	key    crypto.Signer
	signer sumdbnote.Signer
	URL    string

	mu      sync.Mutex
	tree    *tree
	bundles *tree // entries served; tree's unless set
	cp      []byte
	// broken names a path answered with 503.
	broken string
}

// breakPath makes path (under /api/v2/) fail with 503; "" heals it.
func (f *fakeLog) breakPath(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.broken = path
}

func newFakeLog(t testing.TB, key crypto.Signer) *fakeLog {
	t.Helper()
	f := &fakeLog{t: t, origin: "fake.example", key: key}
	s, err := note.NewSigner(context.Background(), f.origin, key)
	if err != nil {
		t.Fatal(err)
	}
	f.signer = s
	srv := httptest.NewServer(http.StripPrefix("/api/v2/", http.HandlerFunc(f.serve)))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + "/api/v2"
	return f
}

func (f *fakeLog) verifier() sumdbnote.Verifier {
	f.t.Helper()
	v, err := note.NewVerifier(f.origin, f.key.Public())
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// set serves tr with a checkpoint signed by signer (nil: the log's key).
func (f *fakeLog) set(tr *tree, signer sumdbnote.Signer) {
	f.t.Helper()
	f.setPrefix(tr, len(tr.leaves), signer)
}

// setPrefix serves tr's tiles and entries with a checkpoint for its first
// size leaves, as a log behind a stale checkpoint cache would.
func (f *fakeLog) setPrefix(tr *tree, size int, signer sumdbnote.Signer) {
	f.t.Helper()
	if signer == nil {
		signer = f.signer
	}
	root := tr.root
	if size != len(tr.leaves) {
		root = newTree(f.t, tr.leaves[:size]).root
	}
	body := log.Checkpoint{Origin: f.origin, Size: uint64(size), Hash: root}.Marshal()
	cp, err := sumdbnote.Sign(&sumdbnote.Note{Text: string(body)}, signer)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tree, f.bundles, f.cp = tr, tr, cp
}

// serveBundlesFrom serves tr's entries in place of the signed tree's.
func (f *fakeLog) serveBundlesFrom(tr *tree) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bundles = tr
}

func (f *fakeLog) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	tr, bundles, cp, broken := f.tree, f.bundles, f.cp, f.broken
	f.mu.Unlock()
	p := r.URL.Path
	switch {
	case p == broken:
		http.Error(w, "broken", http.StatusServiceUnavailable)
	case p == "checkpoint":
		_, _ = w.Write(cp)
	case strings.HasPrefix(p, "tile/entries/"):
		i, width, err := layout.ParseTileIndexPartial(strings.TrimPrefix(p, "tile/entries/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		items, ok := slice(bundles.leaves, i, width)
		if !ok {
			http.NotFound(w, r)
			return
		}
		for _, e := range items {
			_, _ = w.Write([]byte{byte(len(e) >> 8), byte(len(e))})
			_, _ = w.Write(e)
		}
	case strings.HasPrefix(p, "tile/"):
		level, rest, _ := strings.Cut(strings.TrimPrefix(p, "tile/"), "/")
		l, i, width, err := layout.ParseTileLevelIndexPartial(level, rest)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		items, ok := slice(tr.nodes[l], i, width)
		if !ok {
			http.NotFound(w, r)
			return
		}
		for _, h := range items {
			_, _ = w.Write(h)
		}
	default:
		http.NotFound(w, r)
	}
}

// slice returns tile index's items of width (0: full), if they exist.
func slice[T any](all []T, index uint64, width uint8) ([]T, bool) {
	n := uint64(256)
	if width > 0 {
		n = uint64(width)
	}
	start := index * 256
	if start+n > uint64(len(all)) {
		return nil, false
	}
	return all[start : start+n], true
}
