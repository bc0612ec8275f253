package storage_test

import (
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
)

// The POSIX store's dedup map is the log's Deduplicator.
var _ tlog.Deduplicator = (*storage.DedupMap)(nil)
