package tlog

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the log's Prometheus collectors. Construct with NewMetrics and
// register Collectors() with the process's registry. Every collector carries
// the constant label log (the log's name in its store: "main", "certlog"),
// so that the metrics of several logs coexist in one registry.
type Metrics struct {
	appended          prometheus.Counter
	duplicates        prometheus.Counter
	pushbacks         *prometheus.CounterVec // by reason: pushbackInflight, pushbackBacklog
	inflight          prometheus.Gauge
	inflightLimit     prometheus.Gauge
	integrityFailures prometheus.Counter
	addLatency        prometheus.Histogram
	treeSize          prometheus.Gauge
	checkpointAge     prometheus.Gauge
}

// Reasons an add is pushed back, as mosaic_log_pushbacks_total labels them.
const (
	pushbackInflight = "inflight_limit"
	pushbackBacklog  = "integration_backlog"
)

// NewMetrics creates the collectors of the log named logID.
func NewMetrics(logID string) *Metrics {
	l := prometheus.Labels{"log": logID}
	return &Metrics{
		appended: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_log_entries_appended_total", Help: "New entries appended and proven to clients.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_log_duplicates_total", Help: "Submissions whose entry was already in the log.",
		}),
		pushbacks: prometheus.NewCounterVec(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_log_pushbacks_total",
			Help: "Adds refused because the log was overloaded (HTTP 503), by reason: inflight_limit " +
				"(MaxInflightAdds adds were in progress) or integration_backlog (the store's unintegrated entries exceeded its bound).",
		}, []string{"reason"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_log_inflight_adds", Help: "Adds in progress: admitted and not yet answered.",
		}),
		inflightLimit: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_log_inflight_adds_limit", Help: "The most adds in progress at once (--max-inflight-adds); more are refused with 503.",
		}),
		integrityFailures: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_log_integrity_failures_total",
			Help: "Stored checkpoints or proofs that did not verify. Must stay zero.",
		}),
		addLatency: prometheus.NewHistogram(prometheus.HistogramOpts{ConstLabels: l,
			Name:    "mosaic_log_add_to_proof_seconds",
			Help:    "Time from accepting an entry to holding its inclusion proof under a published checkpoint.",
			Buckets: []float64{.01, .025, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2, 5, 10, 30},
		}),
		treeSize: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_log_tree_size_entries", Help: "Size of the latest published checkpoint.",
		}),
		checkpointAge: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_log_checkpoint_age_seconds", Help: "Age of the latest published checkpoint.",
		}),
	}
}

// Collectors returns every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.appended, m.duplicates, m.pushbacks, m.inflight, m.inflightLimit,
		m.integrityFailures, m.addLatency, m.treeSize, m.checkpointAge}
}

// WatchCheckpoint keeps the tree size and checkpoint age gauges current
// until ctx ends. publishedAt reports when the latest checkpoint was
// published.
func (l *Log) WatchCheckpoint(ctx context.Context, every time.Duration, publishedAt func(context.Context) (time.Time, error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if cp, _, err := l.Checkpoint(ctx); err == nil {
			l.metrics.treeSize.Set(float64(cp.Size))
		}
		if at, err := publishedAt(ctx); err == nil {
			l.metrics.checkpointAge.Set(time.Since(at).Seconds())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
