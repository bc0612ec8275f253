package storage

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The sweep removes what Tessera's interrupted writes leave, and nothing a
// log needs: not a tile, a bundle, a partial, the checkpoint, the state or
// a lock file, and not a temporary file younger than the cut-off.
func TestSweepTemps(t *testing.T) {
	dir := t.TempDir()
	cutoff := time.Now()
	old := cutoff.Add(-time.Hour)
	write := func(rel string, size int, mtime time.Time) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	kept := []string{
		"checkpoint",
		".state/treeState", ".state/version", ".state/gcState",
		".state/treeState.lock", ".state/publish.lock", // empty, and real
		".mosaic/identity.json", ".mosaic/signing-key.pem", ".mosaic/dedup/00001.mem", ".mosaic/dedup/000001.vlog",
		"tile/0/000", "tile/0/x001/234", "tile/1/000.p/4", "tile/entries/000", "tile/entries/x002/999",
		"tile/entries/001.p/17", "tile/entries/001.p/255", "tile/entries/001.p/1",
		"tile/entries/001.p/53", // a temporary file of width 5 whose suffix is 3 would look like this: kept when not empty
		"checkpoint.bak", "tile/entries/README",
	}
	for _, rel := range kept {
		size := 100
		if filepath.Ext(rel) == ".lock" {
			size = 0
		}
		write(rel, size, old)
	}
	temps := []string{
		"checkpoint1380618378", "checkpoint0",
		".state/treeState42", ".state/gcState7", ".state/version123",
		".mosaic/.tmp-669778473",
		"tile/0/0001024571", "tile/entries/053102401622", "tile/entries/x001/2341",
		"tile/entries/001.p/1572044757753", "tile/entries/001.p/256", "tile/entries/001.p/0",
		"tile/entries/001.p/07", "tile/1/000.p/9",
	}
	for _, rel := range temps {
		size := 0
		if rel == "tile/entries/001.p/256" || rel == "tile/entries/053102401622" {
			size = 512 // a write that failed half-way
		}
		write(rel, size, old)
	}
	young := []string{"checkpoint555", "tile/entries/0009999"}
	for _, rel := range young {
		write(rel, 0, cutoff.Add(time.Second))
	}

	removed, err := sweepTemps(t.Context(), dir, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range removed {
		rel, _ := filepath.Rel(dir, p)
		got = append(got, filepath.ToSlash(rel))
	}
	slices.Sort(got)
	want := slices.Clone(temps)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("removed %q\nwant    %q", got, want)
	}
	for _, rel := range append(kept, young...) {
		if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
	// A directory without a log is nothing to sweep.
	if removed, err := sweepTemps(t.Context(), t.TempDir(), cutoff); err != nil || len(removed) > 0 {
		t.Errorf("empty directory: %q %v", removed, err)
	}
}
