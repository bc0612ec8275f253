package index_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

// search runs q and returns the indices found, checking each hit's body
// against the leaves the log proved at add time (bodies, by index).
func search(t *testing.T, ix *index.Index, q index.Query, bodies map[uint64][]byte) []uint64 {
	t.Helper()
	res, err := ix.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	if res.NextPageToken != "" {
		t.Errorf("Search(%+v): a next page token on a short result", q)
	}
	var got []uint64
	for _, h := range res.Hits {
		got = append(got, h.Index)
		if want, ok := bodies[h.Index]; ok && !bytes.Equal(h.Body, want) {
			t.Errorf("hit %d: body differs from the leaf the log proved", h.Index)
		}
		if h.Kind != "hashedrekord" || h.APIVersion != "0.0.2" {
			t.Errorf("hit %d: kind %q version %q", h.Index, h.Kind, h.APIVersion)
		}
	}
	return got
}

func wantSearch(t *testing.T, ix *index.Index, q index.Query, bodies map[uint64][]byte, want ...uint64) {
	t.Helper()
	got := search(t, ix, q, bodies)
	if !slices.Equal(got, want) {
		t.Errorf("Search(%+v) = %v, want %v", q, got, want)
	}
}

// TestSearchEachKey logs entries signed with a public key, a self-signed
// certificate and keyless certificates from the log's own CA (with the
// OIDC issuer extension), plus a leaf that is no entry, and finds each by
// every kind of key, alone and combined.
func TestSearchEachKey(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		fx := newFixture(t, store)
		l := fx.log
		pk := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
		self := mosaictest.NewCertSigner(t, "carol@example.com")
		alice, bob := keylessSigner(t, l, "alice@mosaic.test"), keylessSigner(t, l, "bob@mosaic.test")
		issuer := l.URL + "/dev-oidc"

		bodies := map[uint64][]byte{}
		addAs := func(s *mosaictest.Signer, artifact string) uint64 {
			i, body := add(t, l, s, artifact)
			bodies[i] = body
			return i
		}
		i1, i2 := addAs(pk, "one"), addAs(pk, "two")
		i3 := addAs(self, "three")
		i4, i5 := addAs(alice, "four"), addAs(bob, "five")
		junk, err := l.Log.Add(context.Background(), []byte("not an entry"), nil)
		if err != nil {
			t.Fatal(err)
		}
		i7 := addAs(alice, "one")

		ix, _, m := fx.index(t)
		syncIndex(t, ix)
		st := ix.Status()
		if st.IndexedSize != i7+1 || st.LogSize != i7+1 || st.Lag != 0 || st.Skipped != 1 || st.UpdatedAt.IsZero() || st.CheckedAt.IsZero() {
			t.Errorf("status %+v, want %d indexed of %d, 1 skipped (leaf %d)", st, i7+1, i7+1, junk.Index)
		}
		if got := metric(t, m, "mosaic_index_skipped_entries_total"); got != 1 {
			t.Errorf("skipped metric %v, want 1", got)
		}
		if got := metric(t, m, "mosaic_index_indexed_entries_total"); got != float64(i7+1) {
			t.Errorf("indexed metric %v, want %d", got, i7+1)
		}

		fp := func(s *mosaictest.Signer) string { return entry.Fingerprint(s.PublicKeyDER) }
		wantSearch(t, ix, index.Query{Digest: digestOf("one")}, bodies, i1, i7)
		wantSearch(t, ix, index.Query{Digest: strings.ToUpper(digestOf("one"))}, bodies, i1, i7)
		wantSearch(t, ix, index.Query{Digest: digestOf("absent")}, bodies)
		wantSearch(t, ix, index.Query{PublicKeyFingerprint: fp(pk)}, bodies, i1, i2)
		wantSearch(t, ix, index.Query{PublicKeyFingerprint: fp(alice)}, bodies, i4, i7)
		wantSearch(t, ix, index.Query{PublicKeyFingerprint: fp(self)}, bodies, i3)
		wantSearch(t, ix, index.Query{SAN: "carol@example.com"}, bodies, i3)
		wantSearch(t, ix, index.Query{SAN: "alice@mosaic.test"}, bodies, i4, i7)
		wantSearch(t, ix, index.Query{OIDCIssuer: issuer}, bodies, i4, i5, i7)
		wantSearch(t, ix, index.Query{SAN: "bob@mosaic.test", OIDCIssuer: issuer}, bodies, i5)
		wantSearch(t, ix, index.Query{SAN: "alice@mosaic.test", OIDCIssuer: "https://accounts.example.com"}, bodies)
		wantSearch(t, ix, index.Query{SAN: "carol@example.com", OIDCIssuer: issuer}, bodies)
		wantSearch(t, ix, index.Query{Digest: digestOf("one"), PublicKeyFingerprint: fp(pk)}, bodies, i1)
		wantSearch(t, ix, index.Query{Digest: digestOf("one"), SAN: "alice@mosaic.test", OIDCIssuer: issuer}, bodies, i7)
		wantSearch(t, ix, index.Query{Digest: digestOf("two"), SAN: "alice@mosaic.test"}, bodies)
	})
}

// TestRestart closes the index's store between passes while the log grows:
// the reopened index resumes at its recorded position, indexes only the
// new entries, and every entry is found exactly once.
func TestRestart(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		fx := newFixture(t, store)
		s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
		q := index.Query{PublicKeyFingerprint: entry.Fingerprint(s.PublicKeyDER)}
		var want []uint64
		for round := range 3 {
			ix, st, m := fx.index(t)
			for i := range 5 {
				n, _ := add(t, fx.log, s, fmt.Sprintf("round %d entry %d", round, i))
				want = append(want, n)
			}
			if got := ix.Status(); got.IndexedSize != 0 || !got.UpdatedAt.IsZero() || !got.CheckedAt.IsZero() {
				t.Errorf("round %d: status before the first pass %+v, want zero", round, got)
			}
			syncIndex(t, ix)
			if got := metric(t, m, "mosaic_index_indexed_entries_total"); got != 5 {
				t.Errorf("round %d: this index indexed %v entries, want only the 5 new ones", round, got)
			}
			wantSearch(t, ix, q, nil, want...)
			// A second pass finds nothing to do.
			syncIndex(t, ix)
			if got := metric(t, m, "mosaic_index_indexed_entries_total"); got != 5 {
				t.Errorf("round %d: a second pass indexed %v entries in all, want 5", round, got)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestPagination pages through more hits than a page holds.
func TestPagination(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		fx := newFixture(t, store)
		s := mosaictest.NewCertSigner(t, "pager@example.com")
		other := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
		var want []uint64
		for i := range 7 {
			n, _ := add(t, fx.log, s, fmt.Sprintf("page entry %d", i))
			want = append(want, n)
			add(t, fx.log, other, fmt.Sprintf("interleaved %d", i))
		}
		ix, _, _ := fx.index(t)
		syncIndex(t, ix)
		q := index.Query{SAN: "pager@example.com", PageSize: 3}
		var got []uint64
		var pages int
		for {
			res, err := ix.Search(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, h := range res.Hits {
				got = append(got, h.Index)
			}
			if res.NextPageToken == "" {
				break
			}
			if len(res.Hits) != 3 {
				t.Errorf("page %d has %d hits and a next page", pages, len(res.Hits))
			}
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			q.PageToken = res.NextPageToken
		}
		if pages != 3 || !slices.Equal(got, want) {
			t.Errorf("%d pages of %v, want 3 pages of %v", pages, got, want)
		}
		// A page exactly filled by the last hits has no next page.
		res, err := ix.Search(context.Background(), index.Query{SAN: "pager@example.com", PageSize: 7})
		if err != nil || len(res.Hits) != 7 || res.NextPageToken != "" {
			t.Errorf("a page of all 7: %d hits, token %q, %v", len(res.Hits), res.NextPageToken, err)
		}
		// A token only continues its own search.
		first, err := ix.Search(context.Background(), index.Query{SAN: "pager@example.com", PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ix.Search(context.Background(), index.Query{SAN: "other@example.com", PageToken: first.NextPageToken})
		var qe *index.QueryError
		if !errors.As(err, &qe) || qe.Field != "pageToken" {
			t.Errorf("a token of another search: %v, want a pageToken QueryError", err)
		}
	})
}

// failingBundles is the real log with entry bundle reads failing while
// fail is set: the index sees the checkpoint but cannot read the entries.
type failingBundles struct {
	index.Source
	fail bool
}

func (f *failingBundles) ReadEntryBundle(ctx context.Context, n uint64, w uint8) ([]byte, error) {
	if f.fail {
		return nil, errors.New("bundle reads are switched off")
	}
	return f.Source.ReadEntryBundle(ctx, n, w)
}

// TestLag checks that an index that cannot keep up reports its lag, in its
// status and its metric, and catches up once it can.
func TestLag(t *testing.T) {
	fx := newFixture(t, "posix")
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	for i := range 4 {
		add(t, fx.log, s, fmt.Sprintf("lag %d", i))
	}
	src := &failingBundles{Source: fx.log.Log, fail: true}
	m := index.NewMetrics()
	store := fx.open(t)
	defer store.Close()
	ix := index.New(src, store, index.Config{Metrics: m})
	if err := ix.Sync(context.Background()); err == nil {
		t.Fatal("Sync succeeded without entry bundles")
	}
	if st := ix.Status(); st.LogSize != 4 || st.IndexedSize != 0 || st.Lag != 4 {
		t.Errorf("status %+v, want lag 4 of 4", st)
	}
	if got := metric(t, m, "mosaic_index_lag_entries"); got != 4 {
		t.Errorf("lag metric %v, want 4", got)
	}
	res, err := ix.Search(context.Background(), index.Query{PublicKeyFingerprint: entry.Fingerprint(s.PublicKeyDER)})
	if err != nil || len(res.Hits) != 0 || res.Status.Lag != 4 {
		t.Errorf("search of a lagging index: %+v, %v; want no hits and lag 4", res, err)
	}
	src.fail = false
	syncIndex(t, ix)
	if st := ix.Status(); st.Lag != 0 || st.IndexedSize != 4 {
		t.Errorf("status %+v after catching up", st)
	}
	if got := metric(t, m, "mosaic_index_lag_entries"); got != 0 {
		t.Errorf("lag metric %v after catching up, want 0", got)
	}
}

// TestRun follows a growing log in the background.
func TestRun(t *testing.T) {
	fx := newFixture(t, "posix")
	ix, _, _ := fx.index(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ix.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	var last uint64
	for i := range 3 {
		last, _ = add(t, fx.log, s, fmt.Sprintf("run %d", i))
	}
	deadline := time.Now().Add(20 * time.Second)
	for ix.Status().IndexedSize <= last {
		if time.Now().After(deadline) {
			t.Fatalf("the index did not reach entry %d: %+v", last, ix.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err := ix.Search(ctx, index.Query{PublicKeyFingerprint: entry.Fingerprint(s.PublicKeyDER)})
	if err != nil || len(res.Hits) != 3 {
		t.Errorf("search: %+v, %v; want 3 hits", res, err)
	}
}

// TestIndexAhead: an index of more leaves than the log has belongs to
// another log; indexing stops with an error that says so.
func TestIndexAhead(t *testing.T) {
	fx := newFixture(t, "posix")
	ix, st, _ := fx.index(t)
	if err := st.Commit(context.Background(), &index.Batch{From: 0, To: 100}); err != nil {
		t.Fatal(err)
	}
	err := ix.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "belongs to another log") {
		t.Errorf("Sync of an index ahead of its log: %v", err)
	}
}

// TestIntegrity: a search result whose entry in the log lacks the key the
// index recorded is an error, never a wrong answer.
func TestIntegrity(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		fx := newFixture(t, store)
		add(t, fx.log, mosaictest.NewSigner(t, mosaictest.ECDSAP256), "real")
		ix, st, m := fx.index(t)
		forged := index.Key{Kind: index.KindDigest, Value: digestOf("forged")}
		if err := st.Commit(context.Background(), &index.Batch{From: 0, To: 1,
			Postings: []index.Posting{{Key: forged, Index: 0}}}); err != nil {
			t.Fatal(err)
		}
		syncIndex(t, ix)
		_, err := ix.Search(context.Background(), index.Query{Digest: forged.Value})
		if err == nil || !strings.Contains(err.Error(), "integrity failure") || index.IsQueryError(err) {
			t.Errorf("search of a forged posting: %v, want an integrity failure", err)
		}
		if got := metric(t, m, "mosaic_index_integrity_failures_total"); got != 1 {
			t.Errorf("integrity failures %v, want 1", got)
		}
	})
}

// TestPageBytes pages through entries with a byte bound smaller than the
// page size allows: each page stops before the entry that would take its
// bodies past MaxBytes (a page's first entry goes out whatever its size),
// and the tokens continue exactly there, so every entry comes back once.
func TestPageBytes(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		fx := newFixture(t, store)
		s := mosaictest.NewCertSigner(t, "bytes@example.com")
		bodies := map[uint64][]byte{}
		var want []uint64
		for i := range 7 {
			n, body := add(t, fx.log, s, fmt.Sprintf("bytes entry %d", i))
			bodies[n] = body
			want = append(want, n)
		}
		ix, _, _ := fx.index(t)
		syncIndex(t, ix)
		one := len(bodies[want[0]])
		for _, c := range []struct {
			name     string
			maxBytes int
			pages    int
		}{
			{"two and a half entries", one*5/2 + 2, 4}, // ECDSA signatures vary by a byte or two
			{"less than one entry", 1, 7},
			{"exactly three entries", -1, 0},
		} {
			t.Run(c.name, func(t *testing.T) {
				maxBytes := c.maxBytes
				if maxBytes < 0 {
					maxBytes = len(bodies[want[0]]) + len(bodies[want[1]]) + len(bodies[want[2]])
				}
				q := index.Query{SAN: "bytes@example.com", PageSize: 100, MaxBytes: maxBytes}
				got, pages := pageAll(t, ix, q, bodies)
				if !slices.Equal(got, want) {
					t.Errorf("pages returned %v, want each of %v once", got, want)
				}
				if c.pages > 0 && len(pages) != c.pages {
					t.Errorf("%d pages %v, want %d", len(pages), pages, c.pages)
				}
				for i, p := range pages {
					sum := 0
					for _, n := range p {
						sum += len(bodies[n])
					}
					if len(p) > 1 && sum > maxBytes {
						t.Errorf("page %d %v holds %d bytes of bodies, over the bound of %d", i, p, sum, maxBytes)
					}
					if i < len(pages)-1 {
						if next := pages[i+1][0]; sum+len(bodies[next]) <= maxBytes {
							t.Errorf("page %d %v stops before entry %d, which fits (%d + %d <= %d)",
								i, p, next, sum, len(bodies[next]), maxBytes)
						}
					}
				}
			})
		}
		// PageSize still bounds a page when bytes do not.
		res, err := ix.Search(context.Background(), index.Query{SAN: "bytes@example.com", PageSize: 3, MaxBytes: 1 << 30})
		if err != nil || len(res.Hits) != 3 || res.NextPageToken == "" {
			t.Errorf("a page of 3 under a large byte bound: %d hits, token %q, %v", len(res.Hits), res.NextPageToken, err)
		}
	})
}

// pageAll follows q's pages to the end and returns every index found and
// the indices of each page.
func pageAll(t *testing.T, ix *index.Index, q index.Query, bodies map[uint64][]byte) (all []uint64, pages [][]uint64) {
	t.Helper()
	for {
		res, err := ix.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Hits) == 0 && res.NextPageToken != "" {
			t.Fatalf("page %d is empty but has a next page", len(pages))
		}
		var page []uint64
		for _, h := range res.Hits {
			if want, ok := bodies[h.Index]; ok && !bytes.Equal(h.Body, want) {
				t.Errorf("hit %d: body differs from the leaf the log proved", h.Index)
			}
			page = append(page, h.Index)
		}
		all = append(all, page...)
		pages = append(pages, page)
		if res.NextPageToken == "" {
			return all, pages
		}
		if len(pages) > 1000 {
			t.Fatal("pagination does not end")
		}
		q.PageToken = res.NextPageToken
	}
}

// countingBundles is the real log, counting the entry bundles read.
type countingBundles struct {
	index.Source
	reads atomic.Int64
}

func (c *countingBundles) ReadEntryBundle(ctx context.Context, n uint64, w uint8) ([]byte, error) {
	c.reads.Add(1)
	return c.Source.ReadEntryBundle(ctx, n, w)
}

// TestPageBytesReadsOnlyItsBundles: a page cut short by its byte bound
// does not read the entry bundles of the matches it leaves out.
func TestPageBytesReadsOnlyItsBundles(t *testing.T) {
	fx := newFixture(t, "posix")
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	const n = 2*256 + 1 // three bundles
	addMany(t, fx.log, s, n)
	src := &countingBundles{Source: fx.log.Log}
	store := fx.open(t)
	defer store.Close()
	ix := index.New(src, store, index.Config{})
	syncIndex(t, ix)
	q := index.Query{PublicKeyFingerprint: entry.Fingerprint(s.PublicKeyDER), PageSize: index.MaxPageSize, MaxBytes: 1}
	src.reads.Store(0)
	res, err := ix.Search(context.Background(), q)
	if err != nil || len(res.Hits) != 1 || res.Hits[0].Index != 0 || res.NextPageToken == "" {
		t.Fatalf("first page: %+v, %v; want entry 0 and a next page", res, err)
	}
	if got := src.reads.Load(); got != 1 {
		t.Errorf("a page of one entry read %d entry bundles, want 1", got)
	}
	// The whole log in pages of a few entries: each entry once.
	q.MaxBytes = 4 * len(res.Hits[0].Body)
	got, _ := pageAll(t, ix, q, nil)
	if len(got) != n || !slices.IsSorted(got) || slices.Compact(got)[n-1] != n-1 {
		t.Errorf("paging found %d entries, want each of %d once", len(got), n)
	}
}

// addMany logs n entries of s, 32 at a time, so that they share
// checkpoints.
func addMany(t *testing.T, l *mosaictest.Log, s *mosaictest.Signer, n int) {
	t.Helper()
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = s.Request(t, []byte(fmt.Sprintf("entry %d of %d", i, n)))
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 32)
	for _, req := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(req))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusCreated {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d adds failed", f, n)
	}
}
