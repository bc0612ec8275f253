package index

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the index's Prometheus collectors. Construct with NewMetrics
// and register Collectors() with the process's registry.
type Metrics struct {
	lag               prometheus.Gauge
	size              prometheus.Gauge
	indexed           prometheus.Counter
	skipped           prometheus.Counter
	errors            prometheus.Counter
	integrityFailures prometheus.Counter
	searches          prometheus.Counter
	searchErrors      prometheus.Counter
}

// NewMetrics creates the index's collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_index_lag_entries",
			Help: "Entries in the latest checkpoint the search index has not indexed yet.",
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_index_size_entries", Help: "Entries, from index 0, the search index covers.",
		}),
		indexed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_index_indexed_entries_total", Help: "Entries this process indexed (skipped ones included).",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_index_skipped_entries_total", Help: "Entries this process skipped because they did not parse.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_index_pass_errors_total", Help: "Indexing passes that failed and will be retried.",
		}),
		integrityFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_index_integrity_failures_total",
			Help: "Search results whose entry in the log lacks the keys the index recorded for it. Must stay zero.",
		}),
		searches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_index_searches_total", Help: "Searches answered.",
		}),
		searchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_index_search_errors_total", Help: "Valid searches that failed (invalid queries not counted).",
		}),
	}
}

// Collectors returns every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.lag, m.size, m.indexed, m.skipped, m.errors, m.integrityFailures,
		m.searches, m.searchErrors}
}
