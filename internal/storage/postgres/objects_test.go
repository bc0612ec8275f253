package postgres_test

import (
	"context"
	"testing"

	"github.com/transparency-dev/tessera"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/s3test"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
	"github.com/mosaiclog/mosaic/internal/storage/storagetest"
)

// newBucket starts a SeaweedFS server for t and returns a fresh bucket on it.
func newBucket(t *testing.T) (*s3test.Server, *bucket.Bucket) {
	t.Helper()
	srv := s3test.Start(t)
	b, err := bucket.Open(context.Background(), srv.NewBucket(t))
	if err != nil {
		t.Fatal(err)
	}
	return srv, b
}

// TestConformanceObjects runs the storage conformance suite with tiles,
// bundles and checkpoints in a real S3 bucket (SeaweedFS), PostgreSQL
// coordinating.
func TestConformanceObjects(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) tessera.Driver {
		_, b := newBucket(t)
		return newStore(t, pgtest.NewDatabase(t), func(c *postgres.Config) { c.Objects = b })
	})
}

var _ postgres.Objects = (*bucket.Bucket)(nil)
