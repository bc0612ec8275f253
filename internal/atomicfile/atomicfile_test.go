package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	for _, want := range []string{"first", "second, longer than the first", "3"} {
		if err := Replace(path, []byte(want)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("read %q, want %q", got, want)
		}
	}
	assertNoTemporaries(t, filepath.Dir(path), 1)
}

func TestCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tile")
	if err := Create(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	err := Create(path, []byte("two"))
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v, want fs.ErrExist", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "one" {
		t.Fatalf("read %q after a refused Create, want %q", got, "one")
	}
	assertNoTemporaries(t, filepath.Dir(path), 1)
}

func TestMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "file")
	if err := Replace(path, []byte("x")); err == nil {
		t.Fatal("Replace into a missing directory succeeded")
	}
	if err := Create(path, []byte("x")); err == nil {
		t.Fatal("Create into a missing directory succeeded")
	}
}

// assertNoTemporaries checks that dir holds exactly n files: no temporary
// file was left behind.
func assertNoTemporaries(t *testing.T, dir string, n int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != n {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("%s holds %q, want %d file(s)", dir, names, n)
	}
}
