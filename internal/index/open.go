package index

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/storage"
)

// OpenStore opens the index store that belongs beside log logID of st:
// tables in the same PostgreSQL database (logID's rows, on st's pool), or a
// Badger store in the log directory's .mosaic/index of a file store, which stops writing
// while space (the log's disk watcher) reports the disk full.
func OpenStore(ctx context.Context, st *storage.Store, logID string, space *diskspace.Watcher, logger *slog.Logger) (Store, error) {
	if pool := st.Postgres(); pool != nil {
		return NewPostgresStore(ctx, pool, logID)
	}
	dir := st.Dir()
	if logID != storage.DefaultLogID {
		dir = filepath.Join(dir, logID) // the log's own directory (storage.OpenLog)
	}
	return OpenBadgerWatched(filepath.Join(dir, ".mosaic", "index"), logger, space)
}

// Start runs the index in the background until ctx ends or stop is
// called; stop returns once it has stopped, so its store can be closed.
func (ix *Index) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ix.Run(ctx) }()
	return func() { cancel(); <-done }
}
