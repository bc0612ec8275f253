package tlog_test

import (
	"context"
	"crypto"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/note"
)

// openPosix runs a log on the POSIX store in dir until the test (or the
// returned stop) ends it. withDedup installs the store's dedup map, as
// mosaicd does.
func openPosix(t *testing.T, dir string, withDedup bool) (*tlog.Log, func()) {
	t.Helper()
	return openPosixWith(t, dir, withDedup, nil)
}

// openPosixWith is openPosix with identity as the log's Config.Identity.
func openPosixWith(t *testing.T, dir string, withDedup bool, identity func([]byte) []byte) (*tlog.Log, func()) {
	t.Helper()
	mosaictest.QuietTessera()
	ctx := t.Context()
	store, err := storage.OpenPosix(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := dedupKeys[dir]; ok {
		key = k
	}
	dedupKeys[dir] = key
	cfg := tlog.Config{
		Origin: "dedup.test", Key: key,
		BatchMaxSize: 64, BatchMaxAge: 5 * time.Millisecond,
		CheckpointInterval: 100 * time.Millisecond, CheckpointRepublishInterval: time.Minute,
		AwaitPoll: 5 * time.Millisecond, PushbackMaxOutstanding: 4096, AntispamInMemory: 1024,
		Identity: identity,
	}
	if withDedup {
		cfg.Dedup = store.Dedup()
	}
	// The log's background work (Tessera's) runs until stop, as in
	// mosaicd: left running, it writes into dir while the test removes it.
	logCtx, stopLog := context.WithCancel(context.WithoutCancel(ctx))
	l, err := tlog.New(logCtx, store.Driver(), cfg)
	if err != nil {
		stopLog()
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Close(cctx); err != nil {
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

// dedupKeys keeps a directory's log key across reopens (tests run serially).
var dedupKeys = map[string]crypto.Signer{}

func add(t *testing.T, l *tlog.Log, leaf string) *tlog.Added {
	t.Helper()
	a, err := l.Add(t.Context(), []byte(leaf), nil)
	if err != nil {
		t.Fatalf("adding %q: %v", leaf, err)
	}
	return a
}

// TestDedupSurvivesRestart: on the embedded store, an entry submitted again
// after a restart resolves to its first index, also when the dedup map never
// heard of it (a crash before the record) and the start-up scan must find it.
func TestDedupSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		// firstRunDedup is whether the first run records entries as it
		// appends them; without it only the start-up scan can find them.
		firstRunDedup bool
	}{
		{"recorded at append", true},
		{"found by the start-up scan", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, stop := openPosix(t, dir, tc.firstRunDedup)
			first := make([]*tlog.Added, 300) // more than one entry bundle
			var wg sync.WaitGroup
			for i := range first {
				wg.Go(func() {
					a, err := l.Add(t.Context(), fmt.Appendf(nil, "leaf %d", i), nil)
					if err != nil {
						t.Errorf("adding leaf %d: %v", i, err)
					}
					first[i] = a
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			stop()

			l, _ = openPosix(t, dir, true)
			for _, i := range []int{0, 255, 256, 299} {
				again := add(t, l, fmt.Sprintf("leaf %d", i))
				if !again.Duplicate || again.Index != first[i].Index {
					t.Errorf("leaf %d again: index %d duplicate %v, want index %d duplicate true", i, again.Index, again.Duplicate, first[i].Index)
				}
			}
			if fresh := add(t, l, "leaf 300"); fresh.Duplicate || fresh.Index != 300 {
				t.Errorf("a new leaf got index %d duplicate %v, want 300 and new", fresh.Index, fresh.Duplicate)
			}
			cp, _, err := l.Checkpoint(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if cp.Size != 301 {
				t.Errorf("tree size %d, want 301", cp.Size)
			}
		})
	}
}
