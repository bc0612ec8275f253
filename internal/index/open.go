package index

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mosaiclog/mosaic/internal/diskspace"
)

// OpenStore opens the index store that belongs beside a log store: tables
// in the same PostgreSQL database (logID's rows) when logStore has a pool,
// else a Badger store in dir, which stops writing while logStore's disk
// (its Space) is full.
func OpenStore(ctx context.Context, logStore any, logID, dir string, logger *slog.Logger) (Store, error) {
	if pg, ok := logStore.(interface{ Pool() *pgxpool.Pool }); ok {
		return NewPostgresStore(ctx, pg.Pool(), logID)
	}
	var space *diskspace.Watcher
	if s, ok := logStore.(interface{ Space() *diskspace.Watcher }); ok {
		space = s.Space()
	}
	return OpenBadgerWatched(dir, logger, space)
}

// Start runs the index in the background until ctx ends or stop is
// called; stop returns once it has stopped, so its store can be closed.
func (ix *Index) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ix.Run(ctx) }()
	return func() { cancel(); <-done }
}
