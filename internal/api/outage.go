package api

import (
	"log/slog"

	"github.com/mosaiclog/mosaic/internal/outage"
)

// storeHealth keeps a failing store from flooding the log with one line
// per request: while PostgreSQL is down every add and every uncached read
// fails for the same reason.
type storeHealth struct {
	// adds logs the start and the end of each run of adds the log could
	// not store or prove; mosaic_api_add_store_failures_total counts them.
	adds *outage.Tracker
	// reads logs failed reads of the log's resources, one line a minute at
	// most (the rest are in mosaic_http_requests_total as 503s).
	reads *slog.Logger
}

func newStoreHealth(logger *slog.Logger) storeHealth {
	return storeHealth{
		adds:  outage.NewTracker(logger, "adding entries"),
		reads: slog.New(outage.Collapse(logger.Handler(), outage.DefaultQuiet)),
	}
}

// addStoreFailed notes an add that failed because the log could not store
// or prove it.
func (s *server) addStoreFailed(err error) {
	s.cfg.Metrics.addStoreFailures.Inc()
	s.health.adds.Fail(err)
}

// addSucceeded notes an add answered 201: the store works.
func (s *server) addSucceeded() { s.health.adds.OK() }
