package tlog_test

import (
	"context"
	"crypto"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// fakeSpace is a SpaceGuard the test fills and empties.
type fakeSpace struct{ full atomic.Bool }

var errFakeFull = errors.New("the test's disk is full")

func (f *fakeSpace) Check() error {
	if f.full.Load() {
		return errFakeFull
	}
	return nil
}

func (f *fakeSpace) Measure() error { return f.Check() }

// fullDedup is a dedup map that, like the POSIX store's, cannot be used
// while the disk is full (before it is opened, reads included).
type fullDedup struct {
	tlog.Deduplicator
	space *fakeSpace
}

func (d fullDedup) Lookup(ctx context.Context, id []byte) (uint64, bool, error) {
	if err := d.space.Check(); err != nil {
		return 0, false, err
	}
	return d.Deduplicator.Lookup(ctx, id)
}

func (d fullDedup) Record(ctx context.Context, id []byte, index uint64) error {
	if err := d.space.Check(); err != nil {
		return err
	}
	return d.Deduplicator.Record(ctx, id, index)
}

func (d fullDedup) Scanned(ctx context.Context) (uint64, error) {
	if err := d.space.Check(); err != nil {
		return 0, err
	}
	return d.Deduplicator.Scanned(ctx)
}

func (d fullDedup) RecordScanned(ctx context.Context, from uint64, ids [][]byte) error {
	if err := d.space.Check(); err != nil {
		return err
	}
	return d.Deduplicator.RecordScanned(ctx, from, ids)
}

// openGuarded runs a log with its dedup map on the POSIX store in dir,
// behind space, until stop.
func openGuarded(t *testing.T, dir string, key crypto.Signer, space *fakeSpace) (l *tlog.Log, stop func()) {
	t.Helper()
	mosaictest.QuietTessera()
	store, err := storage.OpenPosix(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	d := store.Dedup()
	// Tessera's background work runs until stop (see openPosixWith).
	logCtx, stopLog := context.WithCancel(context.WithoutCancel(t.Context()))
	l, err = tlog.New(logCtx, store.Driver(), tlog.Config{
		Origin: "space.test", Key: key,
		BatchMaxSize: 64, BatchMaxAge: 5 * time.Millisecond,
		CheckpointInterval: 100 * time.Millisecond, CheckpointRepublishInterval: time.Minute,
		AwaitPoll: 5 * time.Millisecond, PushbackMaxOutstanding: 4096, AntispamInMemory: 1024,
		Dedup: fullDedup{d, space}, Space: space,
	})
	if err != nil {
		stopLog()
		t.Fatalf("starting the log: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("closing log: %v", err)
		}
		stopLog()
		if err := store.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	}
	t.Cleanup(stop)
	return l, stop
}

// While the disk is full, adds are refused with the guard's error before
// they reach the store; once there is room they are taken again.
func TestAddWhileDiskFull(t *testing.T) {
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	space := &fakeSpace{}
	l, _ := openGuarded(t, t.TempDir(), key, space)
	add(t, l, "before")
	space.full.Store(true)
	if a, err := l.Add(t.Context(), []byte("during"), nil); !errors.Is(err, errFakeFull) {
		t.Fatalf("add on a full disk: %+v, %v; want the guard's error", a, err)
	}
	cp, _, err := l.Checkpoint(t.Context())
	if err != nil || cp.Size != 1 {
		t.Fatalf("reading the checkpoint on a full disk: %v, size %d", err, cp.Size)
	}
	space.full.Store(false)
	if a := add(t, l, "during"); a.Index != 1 || a.Duplicate {
		t.Errorf("add once there is room: %+v", a)
	}
}

// A log starts on a full disk without catching its dedup map up, refuses
// adds while the disk is full and until the map has caught up once there is
// room, and then finds retries of entries logged before.
func TestStartOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	space := &fakeSpace{}
	l, stop := openGuarded(t, dir, key, space)
	first := add(t, l, "first")
	for _, leaf := range []string{"second", "third"} {
		add(t, l, leaf)
	}
	stop()

	space.full.Store(true)
	l, _ = openGuarded(t, dir, key, space)
	if _, err := l.Add(t.Context(), []byte("fourth"), nil); !errors.Is(err, errFakeFull) {
		t.Fatalf("add on a full disk: %v, want the guard's error", err)
	}
	if cp, _, err := l.Checkpoint(t.Context()); err != nil || cp.Size != 3 {
		t.Fatalf("reading on a full disk: %v", err)
	}

	space.full.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := l.Add(t.Context(), []byte("first"), nil)
		if err == nil {
			if !a.Duplicate || a.Index != first.Index {
				t.Errorf("retry of an entry logged before the restart: %+v, want a duplicate of %d", a, first.Index)
			}
			break
		}
		if !errors.Is(err, tlog.ErrPushback) {
			t.Fatalf("add while deduplication catches up: %v, want pushback", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("deduplication did not catch up within 10 s of the disk having room")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := add(t, l, "fourth"); a.Index != 3 {
		t.Errorf("new entry at %d, want 3", a.Index)
	}
}
