package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/backup"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/fsck"
)

// openLog opens the main log of the store spec (created if new), as the
// mosaicd commands do; it is closed when t ends.
func openLog(t *testing.T, spec string) storage.Backend {
	t.Helper()
	st, err := storage.Open(t.Context(), spec, storage.Options{AutoMigrate: true, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.OpenLog(t.Context(), storage.DefaultLogID, storage.LogOptions{Identity: entry.LeafIdentity})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); st.Close() })
	return b
}

// newStore returns the spec of a new, empty store of kind ("posix" or
// "postgres").
func newStore(t *testing.T, kind string) string {
	if kind == "postgres" {
		return pgtest.NewDatabase(t)
	}
	return "file:" + filepath.Join(t.TempDir(), "restored")
}

func other(kind string) string {
	if kind == "postgres" {
		return "posix"
	}
	return "postgres"
}

type ack struct {
	index uint64
	leaf  []byte
}

// writers add entries to l from 8 goroutines until stop is closed, and
// return what was acknowledged.
func writers(t *testing.T, lg *mosaictest.Log, stop <-chan struct{}) func() []ack {
	var mu sync.Mutex
	var acks []ack
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				leaf := fmt.Appendf(nil, "writer %d entry %d", w, i)
				a, err := lg.Log.Add(context.Background(), leaf, nil)
				if err != nil {
					continue // pushback under load: not acknowledged
				}
				mu.Lock()
				acks = append(acks, ack{a.Index, leaf})
				mu.Unlock()
			}
		})
	}
	return func() []ack { wg.Wait(); return acks }
}

// leavesOf reads every leaf of the log r publishes, after checking its
// checkpoint with the log's key, and runs Tessera's fsck over it.
func leavesOf(t *testing.T, r storage.Resources, origin string, lg *mosaictest.Log) (*log.Checkpoint, [][]byte) {
	t.Helper()
	v, err := note.NewVerifier(origin, lg.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	cp, _, _, err := client.FetchCheckpoint(t.Context(), r.ReadCheckpoint, v, origin)
	if err != nil {
		t.Fatal(err)
	}
	exact := exactResources{r}
	if err := fsck.New(origin, v, exact, hashBundle, fsck.Opts{N: 2}).Check(t.Context()); err != nil {
		t.Fatalf("fsck: %v", err)
	}
	var leaves [][]byte
	for i := uint64(0); i*layout.EntryBundleWidth < cp.Size; i++ {
		b, err := client.GetEntryBundle(t.Context(), exact.ReadEntryBundle, i, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, b.Entries...)
	}
	return cp, leaves
}

type exactResources struct{ storage.Resources }

func (e exactResources) ReadTile(ctx context.Context, l, i uint64, p uint8) ([]byte, error) {
	return storage.ExactTile(e.Resources.ReadTile)(ctx, l, i, p)
}

func (e exactResources) ReadEntryBundle(ctx context.Context, i uint64, p uint8) ([]byte, error) {
	return storage.ExactBundle(e.Resources.ReadEntryBundle)(ctx, i, p)
}

func hashBundle(b []byte) ([][]byte, error) {
	var eb api.EntryBundle
	if err := eb.UnmarshalText(b); err != nil {
		return nil, err
	}
	out := make([][]byte, len(eb.Entries))
	for i, e := range eb.Entries {
		out[i] = rfc6962.DefaultHasher.HashLeaf(e)
	}
	return out, nil
}

// A backup taken while eight writers keep adding, restored into the other
// kind of store: the copy is fsck-clean, holds every entry acknowledged
// before the backup began at its index, and its checkpoint is the one the
// log published.
func TestBackupUnderLoadRestore(t *testing.T) {
	for _, kind := range mosaictest.Stores {
		t.Run(kind, func(t *testing.T) {
			lg := mosaictest.NewLog(t, mosaictest.Options{Store: kind})
			spec := "file:" + lg.Dir
			if kind == "postgres" {
				spec = lg.DatabaseURL
			}
			stop := make(chan struct{})
			wait := writers(t, lg, stop)
			deadline := time.Now().Add(time.Minute)
			for {
				cp, _, err := lg.Log.Checkpoint(t.Context())
				if err == nil && cp.Size >= 700 {
					break
				}
				if time.Now().After(deadline) {
					close(stop)
					t.Fatal("the log did not reach 700 entries in a minute")
				}
				time.Sleep(20 * time.Millisecond)
			}
			// What was acknowledged before the backup starts must be in it.
			close(stop)
			before := wait()
			stop = make(chan struct{})
			wait = writers(t, lg, stop)

			dir := filepath.Join(t.TempDir(), "backup")
			var out bytes.Buffer
			m, err := backup.Backup(t.Context(), backup.BackupConfig{Log: openLog(t, spec), Dir: dir, Out: &out})
			close(stop)
			during := wait()
			if err != nil {
				t.Fatalf("backup: %v\n%s", err, &out)
			}
			if !strings.Contains(out.String(), "tiles and entry bundles copied (100%)") {
				t.Errorf("the backup showed no progress:\n%s", &out)
			}
			t.Logf("backup of %s at size %d (%d acknowledged before it, %d during it): %d bundles, %d tiles",
				kind, m.Size, len(before), len(during), m.Bundles, m.Tiles)

			target := openLog(t, newStore(t, other(kind)))
			if _, err := backup.Restore(t.Context(), backup.RestoreConfig{Dir: dir, Log: target, Out: io.Discard}); err != nil {
				t.Fatalf("restore: %v", err)
			}
			cp, leaves := leavesOf(t, target.Resources(), lg.Origin, lg)
			if cp.Size != m.Size || !bytes.Equal(cp.Hash, m.RootHash) {
				t.Fatalf("restored checkpoint %d %x, backed up %d %x", cp.Size, cp.Hash, m.Size, m.RootHash)
			}
			for _, a := range before {
				if a.index >= cp.Size || !bytes.Equal(leaves[a.index], a.leaf) {
					t.Fatalf("entry acknowledged at %d before the backup is not in the restored log of size %d", a.index, cp.Size)
				}
			}
			for _, a := range during {
				if a.index < cp.Size && !bytes.Equal(leaves[a.index], a.leaf) {
					t.Fatalf("the restored log holds another entry at %d than the one acknowledged", a.index)
				}
			}
			id, ok, err := target.Identity(t.Context())
			if err != nil || !ok || id.Origin != lg.Origin {
				t.Fatalf("restored identity %+v %v %v", id, ok, err)
			}
			// Restoring again into the now non-empty store is refused.
			_, err = backup.Restore(t.Context(), backup.RestoreConfig{Dir: dir, Log: target})
			if err == nil || !strings.Contains(err.Error(), "already holds a log") {
				t.Fatalf("restore into a non-empty store: %v", err)
			}
		})
	}
}

// Refusals that must name the problem.
func TestBackupRefusals(t *testing.T) {
	lg := mosaictest.NewLog(t, mosaictest.Options{})
	if _, err := lg.Log.Add(t.Context(), []byte("one entry"), nil); err != nil {
		t.Fatal(err)
	}
	b := openLog(t, "file:"+lg.Dir)
	dir := t.TempDir()
	if _, err := backup.Backup(t.Context(), backup.BackupConfig{Log: b, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Backup(t.Context(), backup.BackupConfig{Log: b, Dir: dir}); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("a backup into a non-empty directory: %v", err)
	}
	other, _ := note.GenerateKey(note.Ed25519)
	pemKey, _ := note.MarshalPrivateKey(other)
	_, err := backup.Backup(t.Context(), backup.BackupConfig{Log: b, Dir: t.TempDir(), SigningKey: pemKey})
	if err == nil || !strings.Contains(err.Error(), "not the log's") {
		t.Errorf("a backup with another log's key: %v", err)
	}
	_, err = backup.Restore(t.Context(), backup.RestoreConfig{Dir: t.TempDir(), Log: openLog(t, newStore(t, "posix"))})
	if err == nil || !strings.Contains(err.Error(), "holds no manifest.json") {
		t.Errorf("a restore from a directory that is no backup: %v", err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
