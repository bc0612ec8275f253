package diskspace

import (
	"errors"
	"os"
	"syscall"
)

// fallocKeepSize is FALLOC_FL_KEEP_SIZE: allocate without changing the
// file's size, so a file its owner shrank meanwhile is not grown back.
const fallocKeepSize = 0x01

// statfs returns the size of the filesystem holding path and the bytes
// available on it to unprivileged users.
func statfs(path string) (size, free uint64, err error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(path, &s); err != nil {
		return 0, 0, err
	}
	bs := uint64(s.Frsize)
	if bs == 0 {
		bs = uint64(s.Bsize)
	}
	return s.Blocks * bs, s.Bavail * bs, nil
}

// allocate gives blocks to the bytes of path that have none and returns how
// many are still without one afterwards (0 when the file is gone).
func allocate(path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil || unallocated(fi) == 0 {
		return 0
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0
		}
		return unallocated(fi)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return 0
	}
	// On ENOSPC (or a filesystem without fallocate) part or none of it is
	// allocated; the second stat counts what is left.
	_ = syscall.Fallocate(int(f.Fd()), fallocKeepSize, 0, fi.Size())
	if after, err := f.Stat(); err == nil {
		return unallocated(after)
	}
	return unallocated(fi)
}

// unallocated is the part of a file's size that no block backs.
func unallocated(fi os.FileInfo) uint64 {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	if allocated := st.Blocks * 512; allocated < fi.Size() {
		return uint64(fi.Size() - allocated)
	}
	return 0
}
