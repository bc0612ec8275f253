package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"net/url"
	"strings"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/fsck"
	"testing"

	"github.com/transparency-dev/tessera"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/s3test"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
	"github.com/mosaiclog/mosaic/internal/storage/storagetest"
	"github.com/mosaiclog/mosaic/pkg/idtile"
)

// fsckBucket runs Tessera's fsck over the bucket itself, read anonymously
// over plain HTTP as a CDN would (SeaweedFS without authentication): the
// objects alone are a complete tlog-tiles log whose checkpoint verifies.
func fsckBucket(t *testing.T, srv *s3test.Server, b *bucket.Bucket, key logKey) {
	t.Helper()
	u, err := url.Parse(srv.Endpoint + "/" + strings.TrimPrefix(b.String(), "s3://") + "/")
	if err != nil {
		t.Fatal(err)
	}
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	leafHashes := func(raw []byte) ([][]byte, error) {
		var eb api.EntryBundle
		if err := eb.UnmarshalText(raw); err != nil {
			return nil, err
		}
		hs := make([][]byte, len(eb.Entries))
		for i, e := range eb.Entries {
			hs[i] = rfc6962.DefaultHasher.HashLeaf(e)
		}
		return hs, nil
	}
	if err := fsck.New(key.origin, key.verifier, f, leafHashes, fsck.Opts{N: 4}).Check(context.Background()); err != nil {
		t.Fatalf("fsck of %s: %v", u, err)
	}
}

// newBucket starts a SeaweedFS server for t and returns a fresh bucket on it.
func newBucket(t *testing.T) (*s3test.Server, *bucket.Bucket) {
	t.Helper()
	srv := s3test.Start(t)
	b, err := bucket.Open(context.Background(), srv.NewBucket(t))
	if err != nil {
		t.Fatal(err)
	}
	return srv, b
}

// TestConformanceObjects runs the storage conformance suite with tiles,
// bundles and checkpoints in a real S3 bucket (SeaweedFS), PostgreSQL
// coordinating.
func TestConformanceObjects(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) tessera.Driver {
		_, b := newBucket(t)
		return newStore(t, pgtest.NewDatabase(t), func(c *postgres.Config) { c.Objects = b })
	})
}

var _ postgres.Objects = (*bucket.Bucket)(nil)

// TestObjectsReadsWithoutDatabase proves that with Config.Objects every
// read of the log (checkpoint, every tile and every entry bundle) is served
// with PostgreSQL stopped, by a frontend that never read them before (cold
// cache), while a store without objects cannot read its checkpoint then.
func TestObjectsReadsWithoutDatabase(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	url := cluster.CreateDatabase("objects")
	plainURL := cluster.CreateDatabase("plain")
	_, b := newBucket(t)
	key := newLogKey(t)
	withObjects := func(c *postgres.Config) { c.Objects, c.Identities = b, digestsTile }
	writer := startFrontend(t, newStore(t, url, withObjects), key, tessera.NewAppendOptions().WithBatching(64, 10*time.Millisecond))
	ctx := context.Background()
	const n = 700 // two full bundles and a partial one; a level-1 tile
	ref := storagetest.NewReferenceTree()
	futures := make([]tessera.IndexFuture, n)
	entries := make([][]byte, n)
	for i := range n {
		entries[i] = fmt.Appendf(nil, "entry %d", i)
		futures[i] = writer.appender.Add(ctx, tessera.NewEntry(entries[i]))
	}
	for i, f := range futures {
		idx, err := f()
		if err != nil || idx.Index != uint64(i) {
			t.Fatalf("entry %d: index %d, %v", i, idx.Index, err)
		}
		ref.AppendData(entries[i])
	}
	waitCheckpoint(t, writer.reader, key, n)
	reader := newStore(t, url, withObjects)
	plain := newStore(t, plainURL, nil)

	cluster.Stop()
	if _, err := plain.ReadCheckpoint(ctx); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a store without objects read its checkpoint with PostgreSQL stopped: %v", err)
	}
	raw, err := reader.ReadCheckpoint(ctx)
	if err != nil {
		t.Fatalf("ReadCheckpoint with PostgreSQL stopped: %v", err)
	}
	cp, _, _, err := log.ParseCheckpoint(raw, key.origin, key.verifier)
	if err != nil || cp.Size != n || !bytes.Equal(cp.Hash, ref.Root()) {
		t.Fatalf("checkpoint %+v, %v; want size %d root %x", cp, err, n, ref.Root())
	}
	storagetest.CheckTiles(t, ctx, reader, ref)
	for i := uint64(0); i*256 < n; i++ {
		raw, err := reader.ReadEntryBundle(ctx, i, layout.PartialTileSize(0, i, n))
		if err != nil {
			t.Fatalf("ReadEntryBundle(%d) with PostgreSQL stopped: %v", i, err)
		}
		var eb api.EntryBundle
		if err := eb.UnmarshalText(raw); err != nil {
			t.Fatal(err)
		}
		for j, e := range eb.Entries {
			if !bytes.Equal(e, entries[i*256+uint64(j)]) {
				t.Fatalf("bundle %d entry %d = %q, want %q", i, j, e, entries[i*256+uint64(j)])
			}
		}
	}
	// Beside each full bundle, and only there, its identity tile.
	for i := uint64(0); i < 3; i++ {
		data, err := b.Get(ctx, idtile.Path(i))
		if i == 2 {
			if !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("identity tile of the partial bundle 2: %v, want none", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("identity tile %d: %v", i, err)
		}
		recs, err := idtile.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range recs {
			if want := fmt.Sprintf("sha256:%x", sha256.Sum256(entries[i*256+uint64(j)])); r.Digest != want {
				t.Fatalf("identity tile %d record %d: digest %s, want %s", i, j, r.Digest, want)
			}
		}
	}
	cluster.Start() // so that the stores close cleanly
}

// digestsTile is a test identity tile: each entry's SHA-256.
func digestsTile(entries [][]byte) ([]byte, error) {
	recs := make([]idtile.Record, len(entries))
	for i, e := range entries {
		recs[i].Digest = fmt.Sprintf("sha256:%x", sha256.Sum256(e))
	}
	return idtile.Marshal(recs)
}

// TestObjectStoreOutage stops the object store for 10 s while entries are
// being added, then starts it again: every entry whose add was acknowledged
// is in the log at its index once the log catches up, and the tree the
// checkpoint commits to is the one its bundles make.
func TestObjectStoreOutage(t *testing.T) {
	srv, b := newBucket(t)
	key := newLogKey(t)
	fe := startFrontend(t, newStore(t, pgtest.NewDatabase(t), func(c *postgres.Config) { c.Objects = b }), key,
		tessera.NewAppendOptions().WithBatching(64, 10*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	acked := map[uint64][]byte{}
	var refused int
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				data := fmt.Appendf(nil, "worker %d entry %d", w, i)
				idx, err := fe.appender.Add(ctx, tessera.NewEntry(data))()
				mu.Lock()
				if err == nil {
					acked[idx.Index] = data
				} else {
					refused++
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	srv.Stop()
	time.Sleep(10 * time.Second) // the outage itself
	srv.Restart()
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no add was acknowledged")
	}
	var last uint64
	for idx := range acked {
		last = max(last, idx)
	}
	cp := waitCheckpoint(t, fe.reader, key, last+1)
	ref := storagetest.NewReferenceTree()
	bctx := context.Background()
	for i := uint64(0); i*256 < cp.Size; i++ {
		raw, err := fe.reader.ReadEntryBundle(bctx, i, layout.PartialTileSize(0, i, cp.Size))
		if err != nil {
			t.Fatalf("ReadEntryBundle(%d): %v", i, err)
		}
		var eb api.EntryBundle
		if err := eb.UnmarshalText(raw); err != nil {
			t.Fatal(err)
		}
		for j, e := range eb.Entries {
			idx := i*256 + uint64(j)
			if want, ok := acked[idx]; ok && !bytes.Equal(e, want) {
				t.Fatalf("entry %d = %q, but its add was acknowledged for %q", idx, e, want)
			}
			ref.AppendData(e)
		}
	}
	if ref.Size() != cp.Size || !bytes.Equal(ref.Root(), cp.Hash) {
		t.Fatalf("bundles make a tree of size %d root %x; checkpoint says size %d root %x", ref.Size(), ref.Root(), cp.Size, cp.Hash)
	}
	storagetest.CheckTiles(t, bctx, fe.reader, ref)
	fsckBucket(t, srv, b, key)
	t.Logf("%d adds acknowledged, %d refused or failed during the outage; checkpoint size %d", len(acked), refused, cp.Size)
}

// TestObjectsTwoFrontends has two frontends on one database and one bucket
// add entries at once (whichever wins the int_coord lock integrates, taking
// the right edge from its cache or the bucket): every index is given once,
// each entry is at the index its add was acknowledged with, and the bucket
// is a log that Tessera's fsck accepts.
func TestObjectsTwoFrontends(t *testing.T) {
	srv, b := newBucket(t)
	url := pgtest.NewDatabase(t)
	key := newLogKey(t)
	withObjects := func(c *postgres.Config) { c.Objects = b }
	opts := func() *tessera.AppendOptions { return tessera.NewAppendOptions().WithBatching(32, 5*time.Millisecond) }
	fes := []*frontend{
		startFrontend(t, newStore(t, url, withObjects), key, opts()),
		startFrontend(t, newStore(t, url, withObjects), key, opts()),
	}
	ctx := context.Background()
	const perFrontend = 600
	got := make([]map[uint64]string, len(fes))
	var wg sync.WaitGroup
	for f, fe := range fes {
		got[f] = map[uint64]string{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			futures := make([]tessera.IndexFuture, perFrontend)
			for i := range perFrontend {
				futures[i] = fe.appender.Add(ctx, tessera.NewEntry(fmt.Appendf(nil, "frontend %d entry %d", f, i)))
			}
			for i, fut := range futures {
				idx, err := fut()
				if err != nil {
					t.Errorf("frontend %d entry %d: %v", f, i, err)
					return
				}
				got[f][idx.Index] = fmt.Sprintf("frontend %d entry %d", f, i)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	all := map[uint64]string{}
	for _, m := range got {
		for idx, e := range m {
			if prev, dup := all[idx]; dup {
				t.Fatalf("index %d given to %q and %q", idx, prev, e)
			}
			all[idx] = e
		}
	}
	cp := waitCheckpoint(t, fes[1].reader, key, 2*perFrontend)
	for i := uint64(0); i*256 < cp.Size; i++ {
		raw, err := fes[0].reader.ReadEntryBundle(ctx, i, layout.PartialTileSize(0, i, cp.Size))
		if err != nil {
			t.Fatal(err)
		}
		var eb api.EntryBundle
		if err := eb.UnmarshalText(raw); err != nil {
			t.Fatal(err)
		}
		for j, e := range eb.Entries {
			if want := all[i*256+uint64(j)]; string(e) != want {
				t.Fatalf("entry %d = %q, acknowledged as %q", i*256+uint64(j), e, want)
			}
		}
	}
	fsckBucket(t, srv, b, key)
}
