//go:build linux

// Package diskspacetest gives tests a small filesystem to fill: a tmpfs
// mounted for the test, which needs root (CI runs as root). Where mounting
// is not permitted, the test is skipped with the reason.
package diskspacetest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size ("64m") on a new directory and returns it;
// it is unmounted when the test ends, after the test's later cleanups
// (stop servers and stores first).
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("this test fills a small filesystem, and mounting a tmpfs is not permitted here (root only): %v: %s", err, out)
	}
	t.Cleanup(func() {
		// A store left open on a full disk (on purpose: closing Badger there
		// writes) keeps the mount busy until the test process exits.
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
				t.Errorf("unmounting %s: %v: %s; %v: %s", dir, err, out, err2, out2)
			}
		}
	})
	return dir
}

// Available is what statfs says is available on the filesystem of dir.
func Available(t testing.TB, dir string) int64 {
	t.Helper()
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	return int64(s.Bavail) * int64(s.Bsize)
}

// Fill writes n bytes to a new file at path, or as many as fit when n < 0,
// and returns how many it wrote.
func Fill(t testing.TB, path string, n int64) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	var written int64
	for n < 0 || written < n {
		b := chunk
		if n >= 0 {
			b = chunk[:min(int64(len(chunk)), n-written)]
		}
		w, err := f.Write(b)
		written += int64(w)
		if n < 0 && errors.Is(err, syscall.ENOSPC) {
			return written
		}
		if err != nil {
			t.Fatalf("filling %s: %v", path, err)
		}
	}
	return written
}

// Leave fills the filesystem of dir with a new file at path until n bytes
// are left available.
func Leave(t testing.TB, dir, path string, n int64) {
	t.Helper()
	if avail := Available(t, dir); avail > n {
		Fill(t, path, avail-n)
	}
}
