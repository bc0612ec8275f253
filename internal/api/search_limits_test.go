package api_test

// These tests hold the search route to its memory bounds with entries the
// size of real Fulcio certificates and larger: a page stops at
// SearchPageBytes, the reply streams, and SearchConcurrency bounds how many
// pages are held at once, so clients that ask for 1000 results and never
// read cannot take the server's memory.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

// paddedCertSigner is mosaictest.NewCertSigner with a non-critical
// extension of pad bytes, so that every entry it signs carries a
// certificate of about pad + 350 bytes.
func paddedCertSigner(t testing.TB, email string, pad int) *mosaictest.Signer {
	t.Helper()
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	value, err := asn1.Marshal(bytes.Repeat([]byte{'p'}, pad))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(time.Now().UnixNano()),
		NotBefore:      time.Now().Add(-time.Minute),
		NotAfter:       time.Now().Add(time.Hour),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{email},
		// A private arc: padding no verifier interprets.
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: value}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Key.Public(), s.Key)
	if err != nil {
		t.Fatal(err)
	}
	s.CertDER = der
	return s
}

// largeLog is a posix log of entries that each carry one large
// certificate naming email, indexed, with leaves by log index.
type largeLog struct {
	log    *mosaictest.Log
	index  *index.Index
	email  string
	leaves map[uint64][]byte
}

// newLargeLog logs n entries signed with a certificate of certBytes, 32
// at a time so that they share checkpoints, and indexes them.
func newLargeLog(t *testing.T, n, certBytes int) *largeLog {
	t.Helper()
	// Slow machines (and -race) take a while to integrate 1,000 entries.
	l := mosaictest.NewLog(t, mosaictest.Options{AddTimeout: 2 * time.Minute})
	email := "big@example.com"
	s := paddedCertSigner(t, email, certBytes-350)
	if got := len(s.CertDER); got < certBytes-100 || got > certBytes+100 {
		t.Fatalf("certificate of %d bytes, want about %d", got, certBytes)
	}
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = s.Request(t, []byte(fmt.Sprintf("large entry %d", i)))
	}
	ll := &largeLog{log: l, email: email, leaves: map[uint64][]byte{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for _, req := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			idx, leaf, err := addEntry(l.URL, req)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			ll.leaves[idx] = leaf
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := index.OpenBadger(filepath.Join(t.TempDir(), "index"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ll.index = index.New(l.Log, st, index.Config{})
	if err := ll.index.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ll
}

// addEntry logs req and returns the entry's index and leaf.
func addEntry(url string, req []byte) (uint64, []byte, error) {
	resp, err := http.Post(url+"/api/v2/log/entries", "application/json", bytes.NewReader(req))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return 0, nil, fmt.Errorf("adding an entry: %d %s", resp.StatusCode, body)
	}
	var tle struct {
		LogIndex          string `json:"logIndex"`
		CanonicalizedBody []byte `json:"canonicalizedBody"`
	}
	if err := json.Unmarshal(body, &tle); err != nil {
		return 0, nil, err
	}
	idx, err := strconv.ParseUint(tle.LogIndex, 10, 64)
	return idx, tle.CanonicalizedBody, err
}

// serve starts a search server on the log with cfg (Log and Index set
// here) behind a real listener.
func (ll *largeLog) serve(t *testing.T, cfg api.Config) *httptest.Server {
	t.Helper()
	cfg.Log, cfg.Index, cfg.MaxRequestBytes = ll.log.Log, ll.index, 64<<10
	srv := httptest.NewServer(api.NewHandler(cfg))
	t.Cleanup(srv.Close)
	return srv
}

// TestSearchLargeEntries runs the route against the reproduction of issue
// [7]: 1,000 entries, each with a 15 KB certificate, all matching one SAN,
// searched with pageSize 1000.
func TestSearchLargeEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("logs 1,000 entries of 15 KB (about 10 s); not in -short")
	}
	ll := newLargeLog(t, 1000, 15<<10)
	query := fmt.Sprintf(`{"san":%q,"pageSize":1000}`, ll.email)

	t.Run("page bytes", func(t *testing.T) {
		srv := ll.serve(t, api.Config{})
		// Per result, beyond its body: logIndex, kind, apiVersion and
		// punctuation, plus base64 padding.
		const perResult, perPage = 128, 512
		doc := loadDoc(t)
		f := &fixture{doc: doc, r: newDocRouter(t, doc)}
		seen := map[uint64]bool{}
		q := query
		for pages := 0; ; pages++ {
			x := do(t, http.MethodPost, srv.URL+"/api/v2/log/search", []byte(q))
			if pages == 0 {
				f.check(t, x, http.StatusOK)
			}
			body := x.body
			page := decodePage(t, x.resp, body)
			if n := len(page.Results); len(body) > api.DefaultSearchPageBytes+n*perResult+perPage && n > 1 {
				t.Fatalf("page %d: a reply of %d bytes for %d results; the bound is %d bytes of bodies plus %d per result",
					pages, len(body), n, api.DefaultSearchPageBytes, perResult)
			}
			for _, r := range page.Results {
				if seen[uint64(*r.LogIndex)] {
					t.Fatalf("page %d: entry %d again", pages, *r.LogIndex)
				}
				seen[uint64(*r.LogIndex)] = true
				if !bytes.Equal(r.CanonicalizedBody, ll.leaves[uint64(*r.LogIndex)]) {
					t.Errorf("entry %d: body is not the logged leaf", *r.LogIndex)
				}
			}
			if page.NextPageToken == nil {
				break
			}
			if len(page.Results) == 0 || pages > 1000 {
				t.Fatalf("page %d: %d results and a next page", pages, len(page.Results))
			}
			q = fmt.Sprintf(`{"san":%q,"pageSize":1000,"pageToken":%q}`, ll.email, *page.NextPageToken)
		}
		if len(seen) != len(ll.leaves) {
			t.Errorf("paging returned %d entries, want each of %d once", len(seen), len(ll.leaves))
		}
	})

	t.Run("concurrency", func(t *testing.T) {
		// One search at a time, with pages far larger than the socket
		// buffers: a client that does not read holds the only slot.
		srv := ll.serve(t, api.Config{SearchConcurrency: 1, SearchPageBytes: 64 << 20})
		addr := srv.Listener.Addr().String()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /api/v2/log/search HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", addr, len(query), query)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("the first search: %v %v", resp, err)
		}
		doc := loadDoc(t)
		x := do(t, http.MethodPost, srv.URL+"/api/v2/log/search", []byte(query))
		(&fixture{doc: doc, r: newDocRouter(t, doc)}).check(t, x, http.StatusServiceUnavailable)
		var e api.ErrorBody
		if err := json.Unmarshal(x.body, &e); err != nil || e.Code != 14 {
			t.Fatalf("a second search at once: %s, want code 14", x.body)
		}
		if ra := x.resp.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After %q, want 1", ra)
		}
		if want := "limit of 1 searches at once (search-concurrency)"; !strings.Contains(e.Message, want) {
			t.Errorf("message %q does not name the limit (%q)", e.Message, want)
		}
		// Once the slow client goes, searches are answered again.
		c.Close()
		waitFor(t, func() bool {
			resp, _ := postSearch(t, srv.URL, fmt.Sprintf(`{"san":%q,"pageSize":1}`, ll.email))
			return resp.StatusCode == http.StatusOK
		})
	})

	t.Run("memory", func(t *testing.T) {
		for _, c := range []struct {
			name    string
			clients int
			read    bool
		}{
			{"60 clients that never read", 60, false},
			{"150 clients that read", 150, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				srv := ll.serve(t, api.Config{})
				m := measureSearches(t, srv.URL, []byte(query), c.clients, c.read)
				t.Logf("%d clients (%d answered 200, %d 503): heap in use grew from %.1f MiB by %.1f MiB at peak, "+
					"%.1f MiB held while the clients wait (after GC); %.1f MiB allocated per request",
					c.clients, m.ok, m.refused, mib(m.base), mib(m.peak), mib(m.held), mib(m.allocated)/float64(c.clients))
				// Each answered search holds its page (3/4 of the budget in
				// bodies) and a buffer; the rest is the index lookup, one
				// encoded result and garbage not yet collected.
				pages := uint64(min(m.ok, api.DefaultSearchConcurrency))
				if bound := pages*api.DefaultSearchPageBytes + 16<<20; m.held > bound {
					t.Errorf("searches held %.1f MiB, more than %.1f MiB (%d pages of %d bytes, plus 16 MiB)",
						mib(m.held), mib(bound), pages, api.DefaultSearchPageBytes)
				}
				if bound := 3*pages*api.DefaultSearchPageBytes + 64<<20; m.peak > bound {
					t.Errorf("heap in use grew by %.1f MiB at peak, more than %.1f MiB", mib(m.peak), mib(bound))
				}
			})
		}
	})
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// searchMemory is what measureSearches saw: the heap in use before, its
// growth at peak and held once every client has its answer's headers, and
// bytes allocated in all.
type searchMemory struct {
	base, peak, held, allocated uint64
	ok, refused                 int
}

// measureSearches sends body from n clients at once over raw connections
// and waits until each has read its answer's headers. Clients that do not
// read stop there (a reply larger than the socket buffers then blocks its
// handler, holding whatever it holds); the others read their replies
// whole.
func measureSearches(t *testing.T, url string, body []byte, n int, read bool) searchMemory {
	t.Helper()
	addr := url[len("http://"):]
	req := fmt.Sprintf("POST /api/v2/log/search HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n%s", addr, len(body), body)
	// Warm the log's bundle cache, then take the baseline.
	if resp, b := postSearch(t, url, string(body)); resp.StatusCode != http.StatusOK {
		t.Fatalf("warm-up search: %d %s", resp.StatusCode, b)
	}
	// Little garbage may pile up between collections, so that the peak
	// measures what the searches hold more than when the GC ran.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	var base runtime.MemStats
	gcAll()
	runtime.ReadMemStats(&base)
	m := searchMemory{base: base.HeapInuse}

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	statuses := make(chan int, n)
	var conns []net.Conn
	var wg sync.WaitGroup
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
			if _, err := io.WriteString(c, req); err != nil {
				statuses <- -1
				return
			}
			resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
			if err != nil {
				statuses <- -1
				return
			}
			if read || resp.StatusCode != http.StatusOK {
				_, _ = io.Copy(io.Discard, resp.Body)
			}
			statuses <- resp.StatusCode
		}()
	}
	for range n {
		switch s := <-statuses; s {
		case http.StatusOK:
			m.ok++
		case http.StatusServiceUnavailable:
			m.refused++
		default:
			t.Errorf("a search answered %d", s)
		}
	}
	close(stop)
	<-sampled
	var held runtime.MemStats
	gcAll()
	runtime.ReadMemStats(&held)
	for _, c := range conns {
		_ = c.Close()
	}
	wg.Wait()
	m.peak = sub(peak.Load(), base.HeapInuse)
	m.held = sub(held.HeapInuse, base.HeapInuse)
	m.allocated = held.TotalAlloc - base.TotalAlloc
	return m
}

// gcAll collects twice: pooled buffers (encoding/json's, sync.Pool's)
// survive one collection.
func gcAll() {
	runtime.GC()
	runtime.GC()
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}
