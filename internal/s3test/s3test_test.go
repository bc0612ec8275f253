package s3test_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/mosaiclog/mosaic/internal/s3test"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
)

// TestBucketRoundTrip drives the bucket package against a real weed: what
// is put is got back, absent keys are os.ErrNotExist, deletes remove, and
// the server comes back with its data after a restart.
func TestBucketRoundTrip(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	b, err := bucket.Open(ctx, srv.NewBucket(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "tile/0/000"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Get of a missing key: %v, want os.ErrNotExist", err)
	}
	if err := b.Put(ctx, "tile/0/000", []byte("hashes"), true); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "checkpoint", []byte("cp\n"), false); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "tile/0/000"); err != nil || !bytes.Equal(got, []byte("hashes")) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	srv.Stop()
	if _, err := b.Get(ctx, "tile/0/000"); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Get while weed is down: %v, want an error other than not-exist", err)
	}
	srv.Restart()
	if got, err := b.Get(ctx, "checkpoint"); err != nil || !bytes.Equal(got, []byte("cp\n")) {
		t.Fatalf("Get after restart = %q, %v", got, err)
	}
	if err := b.Delete(ctx, []string{"tile/0/000", "tile/0/001.p/3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "tile/0/000"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Get after Delete: %v, want os.ErrNotExist", err)
	}
	if _, err := bucket.Open(ctx, bucket.Config{Bucket: "no-such-bucket", Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true, Credentials: s3test.Credentials}); err == nil {
		t.Fatal("Open of a missing bucket succeeded")
	}
}
