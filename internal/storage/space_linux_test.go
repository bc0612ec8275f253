package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/diskspace/diskspacetest"
	"github.com/mosaiclog/mosaic/internal/storage"
)

func memFiles(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.mem"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// A log directory on a full disk opens and binds its identity without
// writing, reports the disk full (to /readyz too), keeps its dedup map
// closed and unwritten, and opens it by itself once there is room.
func TestPosixOnFullDisk(t *testing.T) {
	ctx := t.Context()
	fsDir := diskspacetest.Mount(t, "48m")
	dir := filepath.Join(fsDir, "log")
	opts := storage.Options{DiskReserve: diskspace.Reserve{Size: 4 << 20}, Create: true}
	id := storage.Identity{Origin: "full.example.com", PublicKey: []byte("key")}
	entry := []byte("an identity of 32 bytes, more or less")

	b, err := openLog(t, "file:"+dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.BindIdentity(ctx, b, dir, id); err != nil {
		t.Fatal(err)
	}
	d := b.Dedup()
	if err := d.Record(ctx, entry, 7); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	dedupDir := filepath.Join(dir, ".mosaic", "dedup")
	mems := memFiles(t, dedupDir)

	filler := filepath.Join(fsDir, "filler")
	diskspacetest.Fill(t, filler, -1)
	b, err = openLog(t, "file:"+dir, opts)
	if err != nil {
		t.Fatalf("opening a log directory on a full disk: %v", err)
	}
	defer b.Close()
	if err := storage.BindIdentity(ctx, b, dir, id); err != nil {
		t.Fatalf("binding the recorded identity on a full disk: %v", err)
	}
	if err := storage.BindIdentity(ctx, b, dir, storage.Identity{Origin: "other.example.com", PublicKey: id.PublicKey}); !errors.Is(err, storage.ErrIdentityMismatch) {
		t.Errorf("another identity on a full disk: %v, want ErrIdentityMismatch", err)
	}
	if err := b.Space().Check(); !errors.Is(err, diskspace.ErrFull) {
		t.Errorf("Space on a full disk: %v", err)
	}
	var nr *storage.NotReadyError
	if err := storage.Ready(ctx, b, 0); !errors.As(err, &nr) || nr.Code != "disk_full" || nr.Reason != "disk full" {
		t.Errorf("Ready on a full disk: %v, want disk_full", err)
	}
	d = b.Dedup()
	if err := d.Record(ctx, []byte("another"), 8); !errors.Is(err, diskspace.ErrFull) {
		t.Errorf("dedup Record on a full disk: %v", err)
	}
	if _, _, err := d.Lookup(ctx, entry); !errors.Is(err, diskspace.ErrFull) {
		t.Errorf("dedup Lookup before the map could be opened: %v", err)
	}
	if got := memFiles(t, dedupDir); got != mems {
		t.Errorf("the dedup directory holds %d write-ahead logs, %d before the disk filled: Badger was opened", got, mems)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := b.Space().Measure(); err != nil {
		t.Fatalf("space freed: %v", err)
	}
	if idx, ok, err := d.Lookup(ctx, entry); err != nil || !ok || idx != 7 {
		t.Errorf("dedup Lookup once there is room: %d %v %v, want 7", idx, ok, err)
	}
	if err := d.Record(ctx, []byte("another"), 8); err != nil {
		t.Errorf("dedup Record once there is room: %v", err)
	}
}
