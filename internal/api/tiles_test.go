package api_test

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/idtile"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// addN appends n distinct entries concurrently, expecting the log to hold
// from entries already, and returns their canonicalized bodies by index
// (from..from+n-1).
func addN(t *testing.T, l *mosaictest.Log, s *mosaictest.Signer, from, n int) [][]byte {
	t.Helper()
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = s.Request(t, []byte(fmt.Sprintf("tile entry %d", from+i)))
	}
	bodies := make([][]byte, n)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := func() error {
				resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(reqs[i]))
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusCreated {
					return fmt.Errorf("add: %d %s", resp.StatusCode, b)
				}
				tle, err := l.CheckEntry(b)
				if err != nil {
					return err
				}
				idx := int(tle.GetLogIndex()) - from
				if idx < 0 || idx >= n {
					return fmt.Errorf("index %d outside [%d, %d)", tle.GetLogIndex(), from, from+n)
				}
				mu.Lock()
				defer mu.Unlock()
				if bodies[idx] != nil {
					return fmt.Errorf("index %d given twice", tle.GetLogIndex())
				}
				bodies[idx] = tle.GetCanonicalizedBody()
				return nil
			}()
			if err != nil {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return bodies
}

// Tessera's own tlog-tiles client reads Mosaic's checkpoint, tiles and
// bundles over HTTP, and its proofs verify: the read API is what any
// tlog-tiles client expects.
func TestTesseraClientInterop(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
		u, _ := url.Parse(l.URL + "/api/v2/")
		f, err := client.NewHTTPFetcher(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(l.Origin, l.Key.Public())
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()

		bodies := addN(t, l, s, 0, 5)
		tracker, err := client.NewLogStateTracker(ctx, f.ReadTile, nil, v, l.Origin, client.UnilateralConsensus(f.ReadCheckpoint))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := tracker.Update(ctx); err != nil {
			t.Fatal(err)
		}
		first := tracker.Latest()
		bodies = append(bodies, addN(t, l, s, 5, 300)...) // crosses a tile boundary
		if _, _, _, err := tracker.Update(ctx); err != nil {
			t.Fatalf("consistency with the earlier checkpoint: %v", err)
		}
		latest := tracker.Latest()
		if latest.Size != uint64(len(bodies)) || first.Size >= latest.Size {
			t.Fatalf("checkpoint sizes %d then %d, want growth to %d", first.Size, latest.Size, len(bodies))
		}

		pb, err := client.NewProofBuilder(ctx, latest.Size, f.ReadTile)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []uint64{0, 4, 255, 256, 257, latest.Size - 1} {
			p, err := pb.InclusionProof(ctx, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, latest.Size, rfc6962.DefaultHasher.HashLeaf(bodies[i]), p, latest.Hash); err != nil {
				t.Errorf("inclusion of %d: %v", i, err)
			}
		}
		cp, err := pb.ConsistencyProof(ctx, first.Size, latest.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, first.Size, latest.Size, cp, first.Hash, latest.Hash); err != nil {
			t.Errorf("consistency %d→%d: %v", first.Size, latest.Size, err)
		}

		// Entry bundles hold exactly the logged leaves, in order.
		for b := uint64(0); b*layout.EntryBundleWidth < latest.Size; b++ {
			bundle, err := client.GetEntryBundle(ctx, f.ReadEntryBundle, b, latest.Size)
			if err != nil {
				t.Fatal(err)
			}
			for j, e := range bundle.Entries {
				if !bytes.Equal(e, bodies[b*layout.EntryBundleWidth+uint64(j)]) {
					t.Fatalf("bundle %d entry %d differs from the logged leaf", b, j)
				}
			}
		}
	})
}

func TestTileResponses(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		addN(t, l, mosaictest.NewSigner(t, mosaictest.Ed25519ph), 0, 260)
		base := l.URL + "/api/v2/"

		tests := []struct {
			path   string
			status int
			size   int // bytes of a tile, or entries of a bundle
		}{
			{"tile/0/000", 200, 256 * 32},
			{"tile/0/001.p/4", 200, 4 * 32},
			{"tile/0/001.p/2", 200, 2 * 32},   // a prefix of the partial tile
			{"tile/0/000.p/7", 200, 7 * 32},   // a partial request of a full tile
			{"tile/1/000.p/1", 200, 1 * 32},   // the level-1 tile of one full level-0 tile
			{"tile/entries/000", 200, 256},    // entries
			{"tile/entries/001.p/4", 200, 4},  // entries
			{"tile/entries/000.p/9", 200, 9},  // entries
			{"tile/0/001", 404, 0},            // not full yet
			{"tile/0/001.p/5", 404, 0},        // wider than the log
			{"tile/0/002", 404, 0},            // beyond the log
			{"tile/entries/x001/000", 404, 0}, // far beyond
			{"tile/00/000", 400, 0},           // leading zero level
			{"tile/0/1", 400, 0},              // index not zero-padded
			{"tile/0/0001", 400, 0},           // too many digits
			{"tile/64/000", 400, 0},           // level out of range
			{"tile/0/000.p/0", 400, 0},        // width 0
			{"tile/0/000.p/256", 400, 0},      // width 256
			{"tile/0/000.p/007", 400, 0},      // width with leading zeros
			{"tile/0", 400, 0},                // no index
			{"tile/entries/abc", 400, 0},      // not a number
			{"tile/0/x000/001", 400, 0},       // leading x000 group
		}
		for _, tc := range tests {
			t.Run(tc.path, func(t *testing.T) {
				resp, b := get(t, base+tc.path)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
				}
				if tc.status != 200 {
					errorBody(t, b)
					return
				}
				if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "application/octet-stream" || cc != "public, max-age=31536000, immutable" {
					t.Errorf("headers Content-Type %q Cache-Control %q", ct, cc)
				}
				got := len(b)
				if bytes.HasPrefix([]byte(tc.path), []byte("tile/entries/")) {
					var eb api.EntryBundle
					if err := eb.UnmarshalText(b); err != nil {
						t.Fatal(err)
					}
					got = len(eb.Entries)
				}
				if got != tc.size {
					t.Errorf("size %d, want %d", got, tc.size)
				}
			})
		}

		resp, b := get(t, base+"checkpoint")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("Cache-Control") != "public, max-age=1" {
			t.Errorf("checkpoint: %d %v", resp.StatusCode, resp.Header)
		}
		if !bytes.HasPrefix(b, []byte(l.Origin+"\n260\n")) {
			t.Errorf("checkpoint body %q", b)
		}
	})
}

// TestIdentityTileResponses checks GET /api/v2/tile/identities/<N> on each
// store without object tiles: the tile is derived from the full bundle (and
// describes its entries), a partial or uncovered bundle is 404 saying why,
// and a malformed path is 400.
func TestIdentityTileResponses(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		s := mosaictest.NewSigner(t, mosaictest.Ed25519ph)
		bodies := addN(t, l, s, 0, 260)
		base := l.URL + "/api/v2/"
		key := fmt.Sprintf("sha256:%x", sha256.Sum256(s.PublicKeyDER))

		tests := []struct {
			path   string
			status int
			why    string // in a 404's or 400's message
		}{
			{"tile/identities/000", 200, ""},
			{"tile/identities/001", 404, "only full bundles have one, and the published checkpoint (size 260) covers 1 full bundles"},
			{"tile/identities/x001/000", 404, "only full bundles"},
			{"tile/identities/000.p/4", 400, "no partial width"},
			{"tile/identities/0", 400, ""},
			{"tile/identities/0000", 400, ""},
			{"tile/identities/x000/001", 400, "canonical"},
			{"tile/identities/", 400, ""},
			{"tile/identities/abc", 400, ""},
			{"tile/identities/000/", 400, ""},
			{"tile/identities/identities/000", 400, ""},
			{"tile/0/identities/000", 400, ""},
		}
		for _, tc := range tests {
			t.Run(tc.path, func(t *testing.T) {
				resp, b := get(t, base+tc.path)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
				}
				if tc.status != 200 {
					if e := errorBody(t, b); !strings.Contains(e.Message, tc.why) {
						t.Errorf("message %q does not say %q", e.Message, tc.why)
					}
					return
				}
				if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "application/gzip" || cc != "public, max-age=31536000, immutable" {
					t.Errorf("headers Content-Type %q Cache-Control %q", ct, cc)
				}
				recs, err := idtile.Parse(b)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range recs {
					f, err := entry.Describe(bodies[i])
					if err != nil {
						t.Fatal(err)
					}
					if r.Key != key || r.Digest != f.Digest || r.Digest == "" {
						t.Fatalf("record %d is %+v, want digest %s and key %s", i, r, f.Digest, key)
					}
				}
				// A second read is the same tile (from the cache).
				if _, again := get(t, base+tc.path); !bytes.Equal(again, b) {
					t.Error("a second read differs")
				}
			})
		}
	})
}
