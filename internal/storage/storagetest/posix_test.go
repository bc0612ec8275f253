package storagetest_test

import (
	"context"
	"testing"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"

	"github.com/mosaiclog/mosaic/internal/storage/storagetest"
)

// TestPOSIX runs the suite against Tessera's own POSIX driver, Mosaic's
// embedded default and the suite's yardstick.
func TestPOSIX(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) tessera.Driver {
		d, err := posix.New(context.Background(), posix.Config{Path: t.TempDir()})
		if err != nil {
			t.Fatalf("posix.New: %v", err)
		}
		return d
	})
}
