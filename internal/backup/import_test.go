package backup_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/backup"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// Importing a running Mosaic log over HTTP, into each store: the tree, its
// checkpoint and every leaf are the source's, the copy is fsck-clean, and
// the wrong key is refused before anything is written.
func TestImportFromMosaic(t *testing.T) {
	src := mosaictest.NewLog(t, mosaictest.Options{})
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			if _, err := src.Log.Add(t.Context(), fmt.Appendf(nil, "entry %d", i), nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	vkey, err := note.VerifierKey(src.Origin, src.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	want, wantLeaves := leavesOf(t, httpResources(t, src.URL+"/api/v2/"), src.Origin, src)
	for _, kind := range mosaictest.Stores {
		t.Run(kind, func(t *testing.T) {
			id, err := backup.ParseIdentity(vkey, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			target := openLog(t, newStore(t, kind))
			size, err := backup.Import(t.Context(), backup.ImportConfig{URL: src.URL + "/api/v2", Identity: id, Log: target, Out: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			cp, leaves := leavesOf(t, target.Resources(), src.Origin, src)
			if size != want.Size || cp.Size != want.Size || !bytes.Equal(cp.Hash, want.Hash) {
				t.Fatalf("imported size %d root %x, source %d %x", cp.Size, cp.Hash, want.Size, want.Hash)
			}
			for i := range wantLeaves {
				if !bytes.Equal(leaves[i], wantLeaves[i]) {
					t.Fatalf("leaf %d differs", i)
				}
			}
		})
	}
	wrong, _ := note.GenerateKey(note.Ed25519)
	wrongVkey, _ := note.VerifierKey(src.Origin, wrong.Public())
	id, _ := backup.ParseIdentity(wrongVkey, "", nil)
	target := openLog(t, newStore(t, "posix"))
	_, err = backup.Import(t.Context(), backup.ImportConfig{URL: src.URL + "/api/v2", Identity: id, Log: target})
	if err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("import with another key: %v", err)
	}
	if empty, _ := target.Empty(t.Context()); !empty {
		t.Error("a refused import wrote into the store")
	}
}

func httpResources(t *testing.T, u string) *client.HTTPFetcher {
	t.Helper()
	f, err := client.NewHTTPFetcher(mustURL(t, u), nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A log written by Tessera's own POSIX driver (no Mosaic in it: raw leaves,
// duplicates included, a plain Ed25519 note key) and served as files over
// HTTP imports into each store unchanged, duplicates at their own indices.
func TestImportFromTesseraPOSIX(t *testing.T) {
	mosaictest.QuietTessera()
	dir := t.TempDir()
	const origin = "example.com/tessera-log"
	skey, vkey, err := sumdbnote.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sumdbnote.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	d, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	app, shutdown, r, err := tessera.NewAppender(ctx, d, tessera.NewAppendOptions().WithCheckpointSigner(signer).
		WithCheckpointInterval(100*time.Millisecond).WithBatching(64, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var last tessera.IndexFuture
	for i := range 600 {
		last = app.Add(ctx, tessera.NewEntry(fmt.Appendf(nil, "tessera leaf %d", i%500))) // 100 duplicates
	}
	if _, _, err := tessera.NewPublicationAwaiter(ctx, r.ReadCheckpoint, 50*time.Millisecond).Await(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	v, _ := sumdbnote.NewVerifier(vkey)
	want, _, _, err := client.FetchCheckpoint(t.Context(), client.FileFetcher{Root: dir}.ReadCheckpoint, v, origin)
	if err != nil || want.Size != 600 {
		t.Fatalf("the Tessera log: %+v %v", want, err)
	}
	for _, kind := range mosaictest.Stores {
		t.Run(kind, func(t *testing.T) {
			id, err := backup.ParseIdentity(vkey, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			target := openLog(t, newStore(t, kind))
			if _, err := backup.Import(t.Context(), backup.ImportConfig{URL: srv.URL, Identity: id, Log: target, Out: io.Discard}); err != nil {
				t.Fatal(err)
			}
			raw, err := target.Resources().ReadCheckpoint(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			cp, _, _, err := log.ParseCheckpoint(raw, origin, v)
			if err != nil || cp.Size != 600 || !bytes.Equal(cp.Hash, want.Hash) {
				t.Fatalf("imported checkpoint %+v %v, want size 600 root %x", cp, err, want.Hash)
			}
			rid, _, _ := target.Identity(t.Context())
			if rid.Origin != origin || !bytes.Equal(rid.PublicKey, ed25519DER(t, vkey)) {
				t.Errorf("recorded identity %q %x", rid.Origin, rid.PublicKey)
			}
		})
	}
}

// ed25519DER is the PKIX DER of a vkey's Ed25519 key, decoded here
// independently of the package.
func ed25519DER(t *testing.T, vkey string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(vkey[strings.LastIndex(vkey[:len(vkey)-44], "+")+1:])
	if err != nil || len(k) != 33 {
		t.Fatalf("vkey %q: %v", vkey, err)
	}
	der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(k[1:]))
	if err != nil {
		t.Fatal(err)
	}
	return der
}
