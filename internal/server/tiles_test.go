package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/s3test"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/idtile"
)

// TestTilesInBucket runs a PostgreSQL-backed server with --tiles on a real
// SeaweedFS: every tlog-tiles read over HTTP costs PostgreSQL no round trip
// (mosaic_storage_pg_round_trips_total{op="read"} stays put), and the
// identity tile beside the first full bundle names each entry's digest and,
// for certificate-signed ones, its SAN.
func TestTilesInBucket(t *testing.T) {
	weed := s3test.Start(t)
	cfg := weed.NewBucket(t)
	for _, kv := range s3test.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	l := mosaictest.NewLog(t, mosaictest.Options{Store: "postgres", Tiles: cfg.String()})
	c, err := client.New(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	keySigner := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	certSigner := mosaictest.NewCertSigner(t, "dev@example.com")
	const n = 300
	artifacts := make([][]byte, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	indices := make([]uint64, n)
	for i := range n {
		artifacts[i] = fmt.Appendf(nil, "artifact %d", i)
		s := keySigner
		if i%3 == 0 {
			s = certSigner
		}
		req := s.RequestProto(t, artifacts[i])
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			added, err := c.AddEntry(context.Background(), req)
			if err != nil {
				t.Errorf("entry %d: %v", i, err)
				return
			}
			indices[i] = uint64(added.Entry.GetLogIndex())
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	reads := func() float64 {
		mfs, err := l.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "mosaic_storage_pg_round_trips_total" {
				continue
			}
			sum := 0.0
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "op" && lp.GetValue() == "read" {
						sum += m.GetCounter().GetValue()
					}
				}
			}
			return sum
		}
		t.Fatal("no mosaic_storage_pg_round_trips_total metric")
		return 0
	}
	before := reads()
	var bundleBytes int
	for _, path := range []string{"checkpoint", "tile/entries/000", "tile/entries/001.p/44", "tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1", "log/entries/5"} {
		resp, err := http.Get(l.URL + "/api/v2/" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if path == "tile/entries/000" {
			bundleBytes = len(body)
		}
	}
	if after := reads(); after != before {
		t.Fatalf("reading over HTTP cost PostgreSQL %v round trips, want none", after-before)
	}

	b, err := bucket.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.Get(context.Background(), idtile.Path(0))
	if err != nil {
		t.Fatalf("identity tile 0: %v", err)
	}
	recs, err := idtile.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for i, idx := range indices {
		if idx >= idtile.Width {
			continue
		}
		r := recs[idx]
		if want := fmt.Sprintf("sha256:%x", sha256.Sum256(artifacts[i])); r.Digest != want {
			t.Fatalf("identity of entry %d: digest %s, want %s", idx, r.Digest, want)
		}
		if hasSAN := slices.Contains(r.SANs, "dev@example.com"); hasSAN != (i%3 == 0) {
			t.Fatalf("identity of entry %d: SANs %q, certificate-signed %t", idx, r.SANs, i%3 == 0)
		}
		if r.Key == "" {
			t.Fatalf("identity of entry %d has no key fingerprint", idx)
		}
	}
	// The API serves the stored object, without PostgreSQL, and a
	// partial bundle has none.
	before = reads()
	for path, want := range map[string]int{"tile/identities/000": http.StatusOK, "tile/identities/001": http.StatusNotFound} {
		resp, err := http.Get(l.URL + "/api/v2/" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, body, want)
		}
		if want == http.StatusOK && (!bytes.Equal(body, data) || resp.Header.Get("Content-Type") != "application/gzip") {
			t.Fatalf("GET %s: %s, %d bytes, not the stored identity tile", path, resp.Header.Get("Content-Type"), len(body))
		}
	}
	if after := reads(); after != before {
		t.Fatalf("reading identity tiles cost PostgreSQL %v round trips, want none", after-before)
	}
	t.Logf("full bundle 0: %d bytes; its identity tile: %d bytes (%.1fx smaller)", bundleBytes, len(data), float64(bundleBytes)/float64(len(data)))
}
