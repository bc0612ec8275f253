package explorer_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

// BenchmarkPages measures the server time of each page, from request to
// last byte over loopback, on a log of MOSAIC_EXPLORER_BENCH_ENTRIES
// entries (default 10,000) on the embedded store, every tenth signed with
// a certificate for alice@example.com. Reports the page size too.
//
//	MOSAIC_EXPLORER_BENCH_ENTRIES=100000 go test ./internal/explorer/ -run XXX -bench Pages -benchtime 200x
func BenchmarkPages(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("MOSAIC_EXPLORER_BENCH_ENTRIES")); err == nil && v > 0 {
		n = v
	}
	l := mosaictest.NewLog(b, mosaictest.Options{Index: true})
	fill(b, l, n)
	for _, p := range []string{"/", "/entry/" + strconv.Itoa(n-1), "/entry/0", "/search?san=alice%40example.com",
		"/watch?san=alice%40example.com", "/consistency?first=1&second=" + strconv.Itoa(n), "/bundle"} {
		b.Run(p, func(b *testing.B) {
			var size int
			for b.Loop() {
				resp, err := http.Get(l.URL + p)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", p, resp.StatusCode)
				}
				size = len(body)
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}

// fill adds n entries with 32 clients and waits for the index.
func fill(b *testing.B, l *mosaictest.Log, n int) {
	alice := mosaictest.NewCertSigner(b, "alice@example.com")
	key := mosaictest.NewSigner(b, mosaictest.ECDSAP256)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				s := key
				if i%10 == 0 {
					s = alice
				}
				req := s.Request(b, fmt.Appendf(nil, "bench %d", i))
				resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(req))
				if err != nil {
					b.Error(err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					b.Errorf("add %d: %d", i, resp.StatusCode)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	waitIndexed(b, l, uint64(n))
}
