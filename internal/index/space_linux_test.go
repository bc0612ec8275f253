package index_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/diskspace/diskspacetest"
	"github.com/mosaiclog/mosaic/internal/index"
)

func digestBatch(from uint64) *index.Batch {
	return &index.Batch{From: from, To: from + 1, Postings: []index.Posting{
		{Key: index.Key{Kind: index.KindDigest, Value: "sha256:ab"}, Index: from},
	}}
}

// The Badger index writes nothing on a full disk: it is not even opened
// until there is room; once open, commits stop while the disk is full and
// lookups go on.
func TestBadgerOnFullDisk(t *testing.T) {
	ctx := t.Context()
	fsDir := diskspacetest.Mount(t, "32m")
	dir := filepath.Join(fsDir, "index")
	w, err := diskspace.New(diskspace.Config{Path: fsDir, Reserve: diskspace.Reserve{Size: 4 << 20}, Mapped: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(fsDir, "filler")
	diskspacetest.Fill(t, filler, -1)
	if err := w.Measure(); !errors.Is(err, diskspace.ErrFull) {
		t.Fatalf("filled: %v", err)
	}

	s, err := index.OpenBadgerWatched(dir, nil, w)
	if err != nil {
		t.Fatalf("opening the index on a full disk: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Badger was opened on a full disk (%s: %v)", dir, err)
	}
	if err := s.Commit(ctx, digestBatch(0)); !errors.Is(err, diskspace.ErrFull) {
		t.Errorf("commit on a full disk: %v", err)
	}
	if _, err := s.Position(ctx); !errors.Is(err, diskspace.ErrFull) {
		t.Errorf("position before the index could be opened: %v", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := w.Measure(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, digestBatch(0)); err != nil {
		t.Fatalf("commit once there is room: %v", err)
	}

	diskspacetest.Fill(t, filler, -1)
	if err := w.Measure(); !errors.Is(err, diskspace.ErrFull) {
		t.Fatalf("filled again: %v", err)
	}
	if err := s.Commit(ctx, digestBatch(1)); !errors.Is(err, diskspace.ErrFull) {
		t.Errorf("commit on a full disk: %v", err)
	}
	got, err := s.Lookup(ctx, []index.Key{{Kind: index.KindDigest, Value: "sha256:ab"}}, 0, 10)
	if err != nil || !slices.Equal(got, []uint64{0}) {
		t.Errorf("lookup on a full disk: %v %v, want [0]", got, err)
	}
	if p, err := s.Position(ctx); err != nil || p.Size != 1 {
		t.Errorf("position on a full disk: %+v %v", p, err)
	}
	// Closing would flush a memtable into a new table through a memory
	// map; on a full disk the store leaves that to the process's exit.
	if err := s.Close(); err != nil {
		t.Errorf("closing on a full disk: %v", err)
	}
}
