package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/s3test"
	"github.com/transparency-dev/tessera/api/layout"
)

// kill -9 of a mosaicd frontend under sustained load, with tiles in an S3
// bucket (SeaweedFS) and PostgreSQL coordinating: integration writes the
// objects before it commits, so the crash lands between object writes and
// a commit whenever it lands mid-integration. Every acknowledged entry is
// in the log at its index with a valid proof, and the tree re-derives from
// the bundles. A second frontend with --tiles-public-url then redirects
// reads to the bucket, which serves the same bytes.
func TestCrashRecoveryObjects(t *testing.T) {
	weed := s3test.Start(t)
	tiles := weed.NewBucket(t)
	for _, kv := range s3test.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	args, keyPath := pgServerArgs(t, dir)
	args = append(args, "--tiles", tiles.String())
	s := startServer(t, dir, args...)
	acks := crashUnderLoad(t, s, 32)
	key := readKey(t, keyPath)
	checkAfterCrash(t, s.URL, s.Origin, key, acks, mosaictest.NewSigner(t, mosaictest.ECDSAP256))

	public := weed.Endpoint + "/" + tiles.Bucket + "/" + tiles.Prefix
	b := startServer(t, dir, append(args, "--tiles-public-url", public)...)
	cp, _ := logState(t, s.URL, s.Origin, key)
	w := layout.PartialTileSize(0, 0, cp.Size)
	for _, path := range []string{layout.EntriesPath(0, w), layout.TilePath(0, 0, w)} {
		direct := get(t, s.URL+"/api/v2/"+path)
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(b.URL + "/api/v2/" + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != public+"/"+path {
			t.Fatalf("GET %s with --tiles-public-url: %d Location %q, want 302 to %s/%s", path, resp.StatusCode, loc, public, path)
		}
		if via := get(t, b.URL+"/api/v2/"+path); !bytes.Equal(via, direct) {
			t.Fatalf("%s from the bucket differs from what the frontend serves", path)
		}
	}
}

// get returns the body of a 200 answer to GET url.
func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, body, err)
	}
	return body
}
