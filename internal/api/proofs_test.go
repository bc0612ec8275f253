package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"github.com/transparency-dev/tessera/api/layout"
	"google.golang.org/protobuf/encoding/protojson"
)

// rawLeaves is how many leaves the read-route log holds before the entries
// written over HTTP: past the 256 and 512 tile boundaries.
const rawLeaves = 600

// readLog is a log of rawLeaves raw leaves followed by entries written over
// HTTP, with the reference tree of all of them.
type readLog struct {
	*mosaictest.Log
	leaves [][]byte
	ref    *testonly.Tree
	// written are the 201 bodies of the HTTP writes, in index order.
	written [][]byte
	size    uint64
}

func newReadLog(t *testing.T, store string) *readLog {
	t.Helper()
	l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
	leaves := addLeaves(t, l, rawLeaves, "raw leaf")
	r := &readLog{Log: l, leaves: leaves}
	for i, s := range []*mosaictest.Signer{
		mosaictest.NewSigner(t, mosaictest.ECDSAP256),
		mosaictest.NewCertSigner(t, "alice@example.com"),
		mosaictest.NewSigner(t, mosaictest.Ed25519ph),
	} {
		resp, body := post(t, l.URL, s.Request(t, fmt.Appendf(nil, "read routes %d", i)))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("write %d: %d %s", i, resp.StatusCode, body)
		}
		tle, err := l.CheckEntry(body)
		if err != nil {
			t.Fatal(err)
		}
		if tle.GetLogIndex() != int64(len(r.leaves)) {
			t.Fatalf("write %d got index %d, want %d", i, tle.GetLogIndex(), len(r.leaves))
		}
		r.leaves = append(r.leaves, tle.GetCanonicalizedBody())
		r.written = append(r.written, body)
	}
	r.size = uint64(len(r.leaves))
	r.ref = testonly.New(rfc6962.DefaultHasher)
	r.ref.AppendData(r.leaves...)
	return r
}

// addLeaves appends n distinct raw leaves concurrently through the log
// (not HTTP: they are not Rekor entries) and returns them by index, which
// must run from the log's size before the call.
func addLeaves(t *testing.T, l *mosaictest.Log, n int, prefix string) [][]byte {
	t.Helper()
	leaves := make([][]byte, n)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	for i := range n {
		wg.Go(func() {
			leaf := fmt.Appendf(nil, "%s %d", prefix, i)
			a, err := l.Log.Add(t.Context(), leaf, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err.Error())
			case a.Index >= uint64(n) || leaves[a.Index] != nil:
				errs = append(errs, fmt.Sprintf("leaf %d got index %d", i, a.Index))
			default:
				leaves[a.Index] = leaf
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d adds failed; first: %s", len(errs), errs[0])
	}
	return leaves
}

// checkpointText returns the latest published checkpoint, verified.
func (r *readLog) checkpointText(t *testing.T) (*log.Checkpoint, string) {
	t.Helper()
	cp, raw, err := r.Log.Log.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cp, string(raw)
}

// verifyCheckpoint parses and verifies a checkpoint the server sent.
func (r *readLog) verifyCheckpoint(t *testing.T, text string) *log.Checkpoint {
	t.Helper()
	cp, _, _, err := log.ParseCheckpoint([]byte(text), r.Origin, r.Log.Log.Verifier())
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v\n%s", err, text)
	}
	return cp
}

func TestReadRoutes(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		r := newReadLog(t, store)
		t.Run("inclusion", func(t *testing.T) { testInclusionRoute(t, r) })
		t.Run("consistency", func(t *testing.T) { testConsistencyRoute(t, r) })
		t.Run("entries", func(t *testing.T) { testEntryRoute(t, r) })
		t.Run("errors", func(t *testing.T) { testReadErrors(t, r) })
		t.Run("info", func(t *testing.T) { testInfoRoute(t, r) })
		_, m := get(t, r.URL+"/metrics")
		if !strings.Contains(string(m), `mosaic_log_integrity_failures_total{log="main"} 0`) {
			t.Error("integrity failures counted")
		}
	})
}

// readSizes are the tree sizes proofs are requested at.
func readSizes(latest uint64) []uint64 {
	return []uint64{1, 2, 3, 255, 256, 257, 511, 512, 513, latest - 1, latest}
}

func readIndices(size uint64) []uint64 {
	var out []uint64
	for _, i := range []uint64{0, 1, size / 2, size - 2, size - 1, 255, 256, 257, 511, 512, 513} {
		if i < size && !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	return out
}

func getInclusion(t *testing.T, url, query string) (*http.Response, *rekorpb.InclusionProof) {
	t.Helper()
	resp, body := get(t, url+"/api/v2/log/proof/inclusion?"+query)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("inclusion ?%s: %d %s", query, resp.StatusCode, body)
	}
	var p rekorpb.InclusionProof
	if err := protojson.Unmarshal(body, &p); err != nil {
		t.Fatalf("inclusion ?%s: %v: %s", query, err, body)
	}
	return resp, &p
}

func testInclusionRoute(t *testing.T, r *readLog) {
	_, latest := r.checkpointText(t)
	for _, size := range readSizes(r.size) {
		for _, i := range readIndices(size) {
			resp, p := getInclusion(t, r.URL, fmt.Sprintf("index=%d&treeSize=%d", i, size))
			want, _ := r.ref.InclusionProof(i, size)
			if p.GetLogIndex() != int64(i) || p.GetTreeSize() != int64(size) || !bytes.Equal(p.GetRootHash(), r.ref.HashAt(size)) ||
				!slices.EqualFunc(p.GetHashes(), want, bytes.Equal) {
				t.Errorf("inclusion of %d in %d: %v, want the reference's root %x and hashes %x", i, size, p, r.ref.HashAt(size), want)
			}
			wantCache, wantCP := "public, max-age=10", ""
			if size == r.size {
				wantCache, wantCP = "public, max-age=1", latest
			}
			if got := p.GetCheckpoint().GetEnvelope(); got != wantCP {
				t.Errorf("inclusion of %d in %d: checkpoint %q, want %q", i, size, got, wantCP)
			}
			if got := resp.Header.Get("Cache-Control"); got != wantCache {
				t.Errorf("inclusion of %d in %d: Cache-Control %q, want %q", i, size, got, wantCache)
			}
		}
	}
	// Without treeSize: against the latest checkpoint, which is included
	// and verifies.
	for _, i := range readIndices(r.size) {
		_, p := getInclusion(t, r.URL, fmt.Sprintf("index=%d", i))
		cp := r.verifyCheckpoint(t, p.GetCheckpoint().GetEnvelope())
		if cp.Size != uint64(p.GetTreeSize()) || !bytes.Equal(cp.Hash, p.GetRootHash()) {
			t.Errorf("index %d: proof for %d %x, checkpoint %d %x", i, p.GetTreeSize(), p.GetRootHash(), cp.Size, cp.Hash)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, rfc6962.DefaultHasher.HashLeaf(r.leaves[i]), p.GetHashes(), cp.Hash); err != nil {
			t.Errorf("index %d: %v", i, err)
		}
	}
}

// consistencyBody mirrors the consistency response with exact types, so
// that a string where a number belongs fails to decode.
type consistencyBody struct {
	FirstSize      uint64   `json:"firstSize"`
	SecondSize     uint64   `json:"secondSize"`
	FirstRootHash  []byte   `json:"firstRootHash"`
	SecondRootHash []byte   `json:"secondRootHash"`
	Hashes         [][]byte `json:"hashes"`
	Checkpoint     string   `json:"checkpoint"`
}

func testConsistencyRoute(t *testing.T, r *readLog) {
	_, latest := r.checkpointText(t)
	sizes := readSizes(r.size)
	for _, first := range sizes {
		for _, second := range sizes {
			if first > second {
				continue
			}
			resp, body := get(t, fmt.Sprintf("%s/api/v2/log/proof/consistency?first=%d&second=%d", r.URL, first, second))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("consistency %d→%d: %d %s", first, second, resp.StatusCode, body)
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			var c consistencyBody
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("consistency %d→%d: %v: %s", first, second, err, body)
			}
			want, _ := r.ref.ConsistencyProof(first, second)
			if c.FirstSize != first || c.SecondSize != second || !bytes.Equal(c.FirstRootHash, r.ref.HashAt(first)) ||
				!bytes.Equal(c.SecondRootHash, r.ref.HashAt(second)) || !slices.EqualFunc(c.Hashes, want, bytes.Equal) {
				t.Errorf("consistency %d→%d: %s, want the reference's hashes %x", first, second, body, want)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, first, second, c.Hashes, c.FirstRootHash, c.SecondRootHash); err != nil {
				t.Errorf("consistency %d→%d does not verify: %v", first, second, err)
			}
			if c.Checkpoint != latest || c.Hashes == nil {
				t.Errorf("consistency %d→%d: checkpoint %q, hashes %v", first, second, c.Checkpoint, c.Hashes)
			}
			wantCache := "public, max-age=10"
			if second == r.size {
				wantCache = "public, max-age=1"
			}
			if got := resp.Header.Get("Cache-Control"); got != wantCache {
				t.Errorf("consistency %d→%d: Cache-Control %q, want %q", first, second, got, wantCache)
			}
		}
	}
}

func testEntryRoute(t *testing.T, r *readLog) {
	// Entries written over HTTP read back as written.
	for k, written := range r.written {
		index := rawLeaves + k
		resp, body := get(t, fmt.Sprintf("%s/api/v2/log/entries/%d", r.URL, index))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("entry %d: %d %s", index, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Cache-Control"); got != "public, max-age=10" {
			t.Errorf("entry %d: Cache-Control %q", index, got)
		}
		got, err := r.CheckEntry(body)
		if err != nil {
			t.Fatalf("entry %d: %v", index, err)
		}
		want, _ := r.CheckEntry(written)
		if got.GetLogIndex() != want.GetLogIndex() || !bytes.Equal(got.GetLogId().GetKeyId(), want.GetLogId().GetKeyId()) ||
			got.GetKindVersion().GetKind() != "hashedrekord" || got.GetKindVersion().GetVersion() != "0.0.2" ||
			!bytes.Equal(got.GetCanonicalizedBody(), want.GetCanonicalizedBody()) {
			t.Errorf("entry %d read back as %v, written as %v", index, got, want)
		}
		if got.GetInclusionProof().GetTreeSize() != int64(r.size) {
			t.Errorf("entry %d proven in %d, want the latest size %d", index, got.GetInclusionProof().GetTreeSize(), r.size)
		}
		// Proven against the same checkpoint, the answers are identical.
		if got.GetInclusionProof().GetTreeSize() == want.GetInclusionProof().GetTreeSize() && !bytes.Equal(body, written) {
			t.Errorf("entry %d:\nread    %s\nwritten %s", index, body, written)
		}
	}
	// Raw leaves at tile boundaries: the leaf and a verifying proof; no
	// kind, since they are not Rekor entries.
	for _, index := range []uint64{0, 255, 256, 257, 511, 512, 513, rawLeaves - 1} {
		resp, body := get(t, fmt.Sprintf("%s/api/v2/log/entries/%d", r.URL, index))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("entry %d: %d %s", index, resp.StatusCode, body)
		}
		tle, err := r.CheckEntry(body)
		if err != nil {
			t.Fatalf("entry %d: %v", index, err)
		}
		if !bytes.Equal(tle.GetCanonicalizedBody(), r.leaves[index]) || tle.GetKindVersion() != nil {
			t.Errorf("entry %d: body %q kindVersion %v, want %q and none", index, tle.GetCanonicalizedBody(), tle.GetKindVersion(), r.leaves[index])
		}
	}
}

func testReadErrors(t *testing.T, r *readLog) {
	n := r.size
	latest := fmt.Sprintf("(the latest published tree size is %d)", n)
	tests := []struct {
		path    string
		status  int
		message string
	}{
		// entries/{index}
		{"/api/v2/log/entries/abc", 400, `index "abc" is not a decimal integer`},
		{"/api/v2/log/entries/-1", 400, `index "-1" is negative`},
		{"/api/v2/log/entries/1.5", 400, `index "1.5" is not a decimal integer`},
		{"/api/v2/log/entries/007", 400, `index "007" has a leading zero; write it as 7`},
		{"/api/v2/log/entries/9223372036854775808", 400, `index "9223372036854775808" is out of range (at most 9223372036854775807)`},
		{"/api/v2/log/entries/99999999999999999999999", 400, "is out of range"},
		{fmt.Sprintf("/api/v2/log/entries/%d", n), 404, fmt.Sprintf("entry %d does not exist %s", n, latest)},
		{"/api/v2/log/entries/9223372036854775807", 404, "entry 9223372036854775807 does not exist " + latest},
		// inclusion
		{"/api/v2/log/proof/inclusion", 400, "query parameter index is missing"},
		{"/api/v2/log/proof/inclusion?treeSize=5", 400, "query parameter index is missing"},
		{"/api/v2/log/proof/inclusion?index=", 400, "index is empty"},
		{"/api/v2/log/proof/inclusion?index=x", 400, `index "x" is not a decimal integer`},
		{"/api/v2/log/proof/inclusion?index=%2B1", 400, `index "+1" is not a decimal integer`},
		{"/api/v2/log/proof/inclusion?index=1e3", 400, `index "1e3" is not a decimal integer`},
		{"/api/v2/log/proof/inclusion?index=-3", 400, `index "-3" is negative`},
		{"/api/v2/log/proof/inclusion?index=18446744073709551616", 400, `index "18446744073709551616" is out of range`},
		{"/api/v2/log/proof/inclusion?index=1&index=2", 400, `query parameter index is given 2 times ("1", "2"); give it once`},
		{"/api/v2/log/proof/inclusion?index=1&treeSize=5&treeSize=5", 400, "query parameter treeSize is given 2 times"},
		{"/api/v2/log/proof/inclusion?index=1&treesize=5", 400, `unknown query parameter "treesize"; the parameters are index, treeSize`},
		{"/api/v2/log/proof/inclusion?index=1;treeSize=5", 400, "malformed query"},
		{"/api/v2/log/proof/inclusion?index=%zz", 400, "malformed query"},
		{"/api/v2/log/proof/inclusion?index=0&treeSize=0", 400, "index 0 is not below treeSize 0"},
		{"/api/v2/log/proof/inclusion?index=5&treeSize=5", 400, "index 5 is not below treeSize 5"},
		{"/api/v2/log/proof/inclusion?index=9&treeSize=3", 400, "index 9 is not below treeSize 3"},
		{fmt.Sprintf("/api/v2/log/proof/inclusion?index=0&treeSize=%d", n+1), 400, fmt.Sprintf("tree size %d is beyond the latest published tree %s", n+1, latest)},
		{fmt.Sprintf("/api/v2/log/proof/inclusion?index=%d", n), 400, fmt.Sprintf("index %d is not below tree size %d %s", n, n, latest)},
		// consistency
		{"/api/v2/log/proof/consistency", 400, "query parameter first is missing"},
		{"/api/v2/log/proof/consistency?first=1", 400, "query parameter second is missing"},
		{"/api/v2/log/proof/consistency?first=9&second=4", 400, "first 9 and second 4 are reversed"},
		{"/api/v2/log/proof/consistency?first=0&second=4", 400, "first is 0"},
		{"/api/v2/log/proof/consistency?first=0&second=0", 400, "first is 0"},
		{"/api/v2/log/proof/consistency?first=a&second=4", 400, `first "a" is not a decimal integer`},
		{"/api/v2/log/proof/consistency?first=1&second=99999999999999999999", 400, `second "99999999999999999999" is out of range`},
		{"/api/v2/log/proof/consistency?first=1&second=2&second=3", 400, "query parameter second is given 2 times"},
		{"/api/v2/log/proof/consistency?first=1&second=2&index=3", 400, `unknown query parameter "index"; the parameters are first, second`},
		{fmt.Sprintf("/api/v2/log/proof/consistency?first=1&second=%d", n+1), 400, fmt.Sprintf("second tree size %d is beyond the latest published tree %s", n+1, latest)},
		{fmt.Sprintf("/api/v2/log/proof/consistency?first=%d&second=%d", n+1, n+5), 400, "beyond the latest published tree " + latest},
	}
	for _, tc := range tests {
		t.Run(strings.TrimPrefix(tc.path, "/api/v2/log/"), func(t *testing.T) {
			resp, body := get(t, r.URL+tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			e := errorBody(t, body)
			wantCode := map[int]int{400: 3, 404: 5}[tc.status]
			if e.Code != wantCode || !strings.Contains(e.Message, tc.message) {
				t.Errorf("error %+v, want code %d and a message containing %q", e, wantCode, tc.message)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
}

// Proofs served while the log grows verify against the checkpoint they
// come with.
func TestProofsWhileGrowing(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		first := addLeaves(t, l, 1, "first")[0]
		done := make(chan struct{})
		// Wait for the adds however the test ends (they report to t).
		t.Cleanup(func() { <-done })
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			for i := range 400 {
				wg.Go(func() {
					if _, err := l.Log.Add(t.Context(), fmt.Appendf(nil, "growing %d", i), nil); err != nil {
						t.Errorf("add %d: %v", i, err)
					}
				})
			}
			wg.Wait()
		}()
		for checked, growing := 0, true; growing || checked < 10; checked++ {
			select {
			case <-done:
				growing = false
			default:
			}
			if err := checkLatestProofs(t, l, first); err != nil {
				t.Error(err)
				break
			}
		}
	})
}

// checkLatestProofs fetches the inclusion proof of leaf 0 (first) at the
// latest size and the consistency proof from 1 to that size, and verifies
// both against the checkpoint the inclusion proof came with.
func checkLatestProofs(t *testing.T, l *mosaictest.Log, first []byte) error {
	_, p := getInclusion(t, l.URL, "index=0")
	cp, _, _, err := log.ParseCheckpoint([]byte(p.GetCheckpoint().GetEnvelope()), l.Origin, l.Log.Verifier())
	if err != nil {
		return fmt.Errorf("checkpoint does not verify: %w", err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 0, cp.Size, rfc6962.DefaultHasher.HashLeaf(first), p.GetHashes(), cp.Hash); err != nil {
		return fmt.Errorf("inclusion in %d: %w", cp.Size, err)
	}
	resp, body := get(t, l.URL+"/api/v2/log/proof/consistency?first=1&second="+strconv.FormatUint(cp.Size, 10))
	var c consistencyBody
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &c) != nil {
		return fmt.Errorf("consistency 1→%d: %d %s", cp.Size, resp.StatusCode, body)
	}
	if !bytes.Equal(c.SecondRootHash, cp.Hash) {
		return fmt.Errorf("consistency 1→%d: root %x, checkpoint %x", cp.Size, c.SecondRootHash, cp.Hash)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 1, cp.Size, c.Hashes, c.FirstRootHash, cp.Hash); err != nil {
		return fmt.Errorf("consistency 1→%d: %w", cp.Size, err)
	}
	return nil
}

// TestOpenAPIReadRoutes checks the answers of the entry, proof and info
// routes against the document, and that a drifted answer would be caught.
func TestOpenAPIReadRoutes(t *testing.T) {
	// kin-openapi decodes no PEM by itself; a PEM key is text.
	openapi3filter.RegisterBodyDecoder("application/x-pem-file", openapi3filter.PlainBodyDecoder)
	f := newFixture(t)
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	for i := range 3 {
		f.write(t, s, fmt.Sprint("artifact ", i))
	}
	for _, g := range []struct {
		path   string
		status int
	}{
		{"/api/v2/log/entries/0", 200},
		{"/api/v2/log/entries/2", 200},
		{"/api/v2/log/entries/3", 404},
		{"/api/v2/log/entries/9223372036854775807", 404},
		{"/api/v2/log/entries/9223372036854775808", 400},
		{"/api/v2/log/proof/inclusion?index=0", 200},
		{"/api/v2/log/proof/inclusion?index=0&treeSize=1", 200},
		{"/api/v2/log/proof/inclusion?index=0&treeSize=3", 200},
		{"/api/v2/log/proof/inclusion?index=3", 400},
		{"/api/v2/log/proof/inclusion?index=x", 400},
		{"/api/v2/log/proof/consistency?first=1&second=3", 200},
		{"/api/v2/log/proof/consistency?first=2&second=2", 200},
		{"/api/v2/log/proof/consistency?first=3&second=2", 400},
		{"/api/v2/log/info", 200},
		{"/api/v2/log/publicKey", 200},
	} {
		t.Run(g.path, func(t *testing.T) {
			x := do(t, http.MethodGet, f.l.URL+g.path, nil)
			f.check(t, x, g.status)
			h := do(t, http.MethodHead, f.l.URL+g.path, nil)
			if h.resp.StatusCode != g.status || len(h.body) != 0 {
				t.Errorf("HEAD: status %d with %d body bytes, want %d and none", h.resp.StatusCode, len(h.body), g.status)
			}
		})
	}
	// Drifted answers fail: a numeric int64 in the protobuf-JSON proof, a
	// string size in the consistency proof, an unknown info field.
	for path, mutate := range map[string]func(m map[string]any){
		"/api/v2/log/proof/inclusion?index=0":            func(m map[string]any) { m["treeSize"] = 3 },
		"/api/v2/log/proof/consistency?first=1&second=3": func(m map[string]any) { m["firstSize"] = "1" },
		"/api/v2/log/info":                               func(m map[string]any) { m["extra"] = true },
		"/api/v2/log/entries/0":                          func(m map[string]any) { delete(m, "inclusionProof") },
	} {
		x := do(t, http.MethodGet, f.l.URL+path, nil)
		var m map[string]any
		if err := json.Unmarshal(x.body, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		x.body, _ = json.Marshal(m)
		if validateResponse(f.r, x) == nil {
			t.Errorf("%s: a drifted answer matches the document", path)
		}
	}
}

// An entry bundle that contradicts the tiles is answered 500 (documented),
// never with a proof that does not verify, and counted.
func TestEntryIntegrityFailure(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Store: "posix"})
	leaves := addLeaves(t, l, 5, "leaf")
	path := filepath.Join(l.Dir, layout.EntriesPath(0, 5))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Replace(b, leaves[3], bytes.ToUpper(leaves[3]), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	x := do(t, http.MethodGet, l.URL+"/api/v2/log/entries/3", nil)
	if x.resp.StatusCode != http.StatusInternalServerError || errorBody(t, x.body).Code != 13 {
		t.Fatalf("forged entry: %d %s, want 500", x.resp.StatusCode, x.body)
	}
	if err := validateResponse(newDocRouter(t, loadDoc(t)), x); err != nil {
		t.Errorf("500 does not match the document: %v", err)
	}
	if _, m := get(t, l.URL+"/metrics"); !strings.Contains(string(m), `mosaic_log_integrity_failures_total{log="main"} 1`) {
		t.Error("the integrity failure was not counted")
	}
}
