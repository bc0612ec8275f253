package diskspace_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/diskspace/diskspacetest"
)

// allocated is how many bytes of path have a block.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// sparse creates a file of size with no block allocated, as Badger creates
// its write-ahead and value logs.
func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// The watcher reports full below the reserve and room again above it plus
// an eighth, allocates memory-mapped files' holes, and counts what it could
// not allocate as used.
func TestWatcher(t *testing.T) {
	fsDir := diskspacetest.Mount(t, "32m")
	mapped := filepath.Join(fsDir, "badger")
	if err := os.Mkdir(mapped, 0o755); err != nil {
		t.Fatal(err)
	}
	wal := filepath.Join(mapped, "00001.mem")
	sparse(t, wal, 4<<20)
	var mu sync.Mutex
	var changes []bool
	w, err := diskspace.New(diskspace.Config{
		Path: fsDir, Reserve: diskspace.Reserve{Size: 8 << 20}, Mapped: []string{mapped, filepath.Join(fsDir, "absent")},
		OnChange: func(st diskspace.Status) { mu.Lock(); changes = append(changes, st.Full); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := allocated(t, wal); got != 4<<20 {
		t.Errorf("the watcher allocated %d bytes of a 4 MiB sparse file, want all", got)
	}
	if err := w.Check(); err != nil {
		t.Fatalf("an empty 32 MiB filesystem with an 8 MiB reserve: %v", err)
	}

	filler := filepath.Join(fsDir, "filler")
	diskspacetest.Leave(t, fsDir, filler, 7<<20)
	err = w.Measure()
	var full *diskspace.FullError
	if !errors.As(err, &full) || !errors.Is(err, diskspace.ErrFull) || w.Check() == nil {
		t.Fatalf("7 MiB left, 8 MiB reserve: %v, want a *FullError", err)
	}
	if full.Path != fsDir || full.Reserve != 8<<20 || full.Available > 7<<20 || full.Available < 6<<20 {
		t.Errorf("FullError %+v, want about 7 MiB available in %s", full, fsDir)
	}

	// Just above the reserve is not enough to resume: no flapping.
	if err := os.Truncate(filler, 0); err != nil {
		t.Fatal(err)
	}
	diskspacetest.Leave(t, fsDir, filler+"2", 8<<20+512<<10)
	if err := w.Measure(); err == nil {
		t.Error("resumed at 8.5 MiB with an 8 MiB reserve; want 9 MiB first")
	}
	if err := os.Remove(filler + "2"); err != nil {
		t.Fatal(err)
	}
	if err := w.Measure(); err != nil {
		t.Errorf("free space restored: %v", err)
	}

	// A hole that cannot be allocated counts as used.
	big := filepath.Join(mapped, "000001.vlog")
	sparse(t, big, 64<<20)
	err = w.Measure()
	if st := w.Status(); !errors.Is(err, diskspace.ErrFull) || st.Unallocated < 32<<20 {
		t.Errorf("a 64 MiB hole on a 32 MiB filesystem: %v, status %+v; want full with the hole counted", err, st)
	}
	if err := os.Remove(big); err != nil {
		t.Fatal(err)
	}
	if err := w.Measure(); err != nil {
		t.Errorf("hole removed: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []bool{true, false, true, false}; len(changes) != len(want) {
		t.Errorf("OnChange saw %v, want %v", changes, want)
	}
}
