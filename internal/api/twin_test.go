package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
)

// TestMalleatedTwin: an ECDSA P-256 entry and its twin (its signature's s
// replaced by n−s, re-encoded as DER, as anyone can do to a logged entry)
// are one entry. The twin is answered as a duplicate of the original's
// index, with the original's logged body and a proof of it; in conflict
// mode with 409. The log does not grow. Whichever of the two has the high S.
func TestMalleatedTwin(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		for _, mode := range []api.Duplicates{api.DuplicatesExisting, api.DuplicatesConflict} {
			l := mosaictest.NewLog(t, mosaictest.Options{Store: store, Duplicates: mode})
			s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
			for i, high := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s high S %v", mode, high), func(t *testing.T) {
					body := s.RequestS(t, fmt.Appendf(nil, "artifact %v", high), high)
					resp, first := post(t, l.URL, body)
					if resp.StatusCode != http.StatusCreated {
						t.Fatalf("original: %d %s", resp.StatusCode, first)
					}
					tle, err := l.CheckEntry(first)
					if err != nil {
						t.Fatal(err)
					}
					idx := strconv.FormatInt(tle.GetLogIndex(), 10)
					resp, second := post(t, l.URL, s.Twin(t, body))
					switch mode {
					case api.DuplicatesConflict:
						if resp.StatusCode != http.StatusConflict || resp.Header.Get("X-Log-Index") != idx {
							t.Fatalf("twin: %d X-Log-Index %q, want 409 naming %s: %s", resp.StatusCode, resp.Header.Get("X-Log-Index"), idx, second)
						}
					default:
						if resp.StatusCode != http.StatusCreated || resp.Header.Get(api.DuplicateHeader) != idx {
							t.Fatalf("twin: %d %s %q, want 201 naming %s: %s", resp.StatusCode, api.DuplicateHeader,
								resp.Header.Get(api.DuplicateHeader), idx, second)
						}
						again, err := l.CheckEntry(second)
						if err != nil {
							t.Fatalf("the twin's answer does not verify: %v", err)
						}
						if again.GetLogIndex() != tle.GetLogIndex() || !bytes.Equal(again.GetCanonicalizedBody(), tle.GetCanonicalizedBody()) {
							t.Errorf("twin answered index %d, want %d with the logged body", again.GetLogIndex(), tle.GetLogIndex())
						}
					}
					cp, _, err := l.Log.Checkpoint(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					if want := uint64(i + 1); cp.Size != want {
						t.Errorf("the log holds %d entries, want %d", cp.Size, want)
					}
				})
			}
		}
	})
}

// TestMalleatedTwinsConcurrent: originals and twins of several entries sent
// at once make one log entry each; every submission of an entry gets its
// index, and exactly one is answered as new.
func TestMalleatedTwinsConcurrent(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store})
		const entries, each = 8, 10
		s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
		var bodies [entries][2][]byte
		for e := range entries {
			body := s.RequestS(t, fmt.Appendf(nil, "concurrent %d", e), e%2 == 0)
			bodies[e] = [2][]byte{body, s.Twin(t, body)}
		}
		var indices [entries][each]int64
		var news [entries]int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for e := range entries {
			for k := range each {
				wg.Go(func() {
					resp, b := post(t, l.URL, bodies[e][k%2])
					if resp.StatusCode != http.StatusCreated {
						t.Errorf("entry %d submission %d: %d %s", e, k, resp.StatusCode, b)
						return
					}
					tle, err := l.CheckEntry(b)
					if err != nil {
						t.Errorf("entry %d submission %d: %v", e, k, err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					indices[e][k] = tle.GetLogIndex()
					if resp.Header.Get(api.DuplicateHeader) == "" {
						news[e]++
					}
				})
			}
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		seen := map[int64]int{}
		for e := range entries {
			for k := range each {
				if indices[e][k] != indices[e][0] {
					t.Errorf("entry %d: submission %d at index %d, submission 0 at %d", e, k, indices[e][k], indices[e][0])
				}
			}
			if news[e] != 1 {
				t.Errorf("entry %d: %d submissions answered as new, want 1", e, news[e])
			}
			if prev, ok := seen[indices[e][0]]; ok {
				t.Errorf("entries %d and %d both at index %d", prev, e, indices[e][0])
			}
			seen[indices[e][0]] = e
		}
		cp, _, err := l.Log.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != entries {
			t.Errorf("the log holds %d entries, want %d", cp.Size, entries)
		}
	})
}
