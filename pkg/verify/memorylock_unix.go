//go:build unix

package verify

import (
	"context"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on path (created if missing),
// waiting for another holder; the lock ends with unlock or the process.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, err
		}
		return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
	case <-ctx.Done():
		go func() { <-done; f.Close() }() // closing releases a lock taken late
		return nil, ctx.Err()
	}
}
