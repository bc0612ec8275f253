//go:build !linux

package diskspace

import (
	"errors"
	"runtime"
)

// statfs is implemented for Linux only; elsewhere New fails and stores run
// without a watcher.
func statfs(path string) (size, free uint64, err error) {
	return 0, 0, errors.New("free space is measured on Linux only, not on " + runtime.GOOS)
}

func allocate(path string) uint64 { return 0 }
