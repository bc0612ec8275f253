package postgres_test

import (
	"testing"

	"github.com/transparency-dev/tessera"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/storage/storagetest"
)

// TestConformance runs the storage conformance suite (also run against
// Tessera's POSIX driver) on a fresh database per subtest.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) tessera.Driver {
		return newStore(t, pgtest.NewDatabase(t), nil)
	})
}
