//go:build !unix

package verify

import (
	"context"
	"sync"
)

// memoryLock serialises Updates within the process where flock(2) is
// missing.
var memoryLock sync.Mutex

func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	memoryLock.Lock()
	return memoryLock.Unlock, nil
}
