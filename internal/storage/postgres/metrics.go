package postgres

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the driver's Prometheus collectors, labelled with the log ID.
// Construct with NewMetrics, pass in Config.Metrics, and register
// Collectors() with the process's registry. Safe for concurrent use.
type Metrics struct {
	sequenced         prometheus.Counter
	duplicates        prometheus.Counter
	pushbacks         prometheus.Counter
	integrityFailures prometheus.Counter
	integratedSize    prometheus.Gauge
	publishedSize     prometheus.Gauge
	txSeconds         *prometheus.HistogramVec // by op: sequence, integrate, publish
	txErrors          *prometheus.CounterVec   // by op
	// backgroundFailures counts the retried failures of the background
	// loops, by op: integrating, publishing, listening.
	backgroundFailures *prometheus.CounterVec
	// roundTrips, statements and transactions count what the driver asks
	// of PostgreSQL, by op (trace.go); ops holds their children by op.
	roundTrips   *prometheus.CounterVec
	statements   *prometheus.CounterVec
	transactions *prometheus.CounterVec // by op and end (commit, rollback)
	ops          map[string]*pgOp
	// objectPuts and objectGets count tile and bundle objects written and
	// read (Config.Objects).
	objectPuts prometheus.Counter
	objectGets prometheus.Counter
}

// NewMetrics creates the collectors for the log logID.
func NewMetrics(logID string) *Metrics {
	l := prometheus.Labels{"log_id": logID}
	m := &Metrics{
		sequenced: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_sequenced_entries_total", Help: "Entries durably given a new index."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_duplicate_entries_total", Help: "Entries resolved to an existing index (Dedup)."}),
		pushbacks: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_pushback_batches_total", Help: "Batches refused because integration lags."}),
		integrityFailures: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_integrity_failures_total",
			Help: "Stored log data that failed a consistency check (gap, overlap, root mismatch). Must stay zero."}),
		integratedSize: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_storage_integrated_size_entries", Help: "Size of the tree as last integrated by this process."}),
		publishedSize: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_storage_published_size_entries", Help: "Size of the checkpoint last published by this process."}),
		txSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{ConstLabels: l,
			Name: "mosaic_storage_transaction_seconds", Help: "Duration of the driver's transactions, by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"op"}),
		txErrors: prometheus.NewCounterVec(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_transaction_errors_total", Help: "Failed transactions, by operation."}, []string{"op"}),
		backgroundFailures: prometheus.NewCounterVec(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_background_failures_total",
			Help: "Failed attempts of the background loops, each retried, by op (integrating, publishing, listening). " +
				"Logged only when a run of failures starts and ends."}, []string{"op"}),
		roundTrips: prometheus.NewCounterVec(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_pg_round_trips_total",
			Help: "Requests sent to PostgreSQL that wait for its answer (one statement, or one pipelined batch of " +
				"statements), by op (sequence, integrate, publish, read, state, other). One-time statement preparation is not counted."}, []string{"op"}),
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_pg_statements_total", Help: "SQL statements sent to PostgreSQL, by op."}, []string{"op"}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_pg_transactions_total",
			Help: "Transactions ended, by op and end (commit, rollback). Each commit of a transaction that wrote " +
				"waits for PostgreSQL to flush its WAL (synchronous_commit on)."}, []string{"op", "end"}),
		ops: make(map[string]*pgOp),
		objectPuts: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_object_puts_total", Help: "Tile and entry bundle objects written to the object store (--tiles)."}),
		objectGets: prometheus.NewCounter(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_storage_object_gets_total", Help: "Tile and entry bundle objects read from the object store (--tiles), on cache misses."}),
	}
	for _, op := range []string{opSequence, opIntegrate, opPublish, opRead, opState, opOther} {
		m.ops[op] = &pgOp{roundTrips: m.roundTrips.WithLabelValues(op), statements: m.statements.WithLabelValues(op)}
	}
	return m
}

// Collectors returns every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.sequenced, m.duplicates, m.pushbacks, m.integrityFailures,
		m.integratedSize, m.publishedSize, m.txSeconds, m.txErrors, m.backgroundFailures,
		m.roundTrips, m.statements, m.transactions, m.objectPuts, m.objectGets}
}

// observeTx records one transaction of op that started at start.
func (m *Metrics) observeTx(op string, start time.Time, err error) {
	m.txSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.txErrors.WithLabelValues(op).Inc()
	}
}
