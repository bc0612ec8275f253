package tlog

import "github.com/prometheus/client_golang/prometheus"

// WitnessMetrics are the Prometheus collectors of a log's witnessing.
// Construct with NewWitnessMetrics and register Collectors(). Like Metrics,
// every collector carries the constant label log; the per-witness ones
// are labelled witness, its name in the policy.
type WitnessMetrics struct {
	requests     *prometheus.CounterVec   // by witness, outcome
	latency      *prometheus.HistogramVec // by witness
	cosignedSize *prometheus.GaugeVec     // by witness
	lastCosigned *prometheus.GaugeVec     // by witness
	healthy      *prometheus.GaugeVec     // by witness
	quorumMet    prometheus.Gauge
	cosignatures prometheus.Gauge
}

// NewWitnessMetrics creates the witnessing collectors of the log logID.
func NewWitnessMetrics(logID string) *WitnessMetrics {
	l := prometheus.Labels{"log": logID}
	return &WitnessMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{ConstLabels: l,
			Name: "mosaic_witness_requests_total",
			Help: "add-checkpoint requests to each witness, by outcome: cosigned, behind (409 with its smaller size; asked again " +
				"with a proof from it), ahead (409 with a larger size), inconsistent (422, or 409 for the same size), refused " +
				"(other 4xx), error, unreachable, timeout, abandoned (the quorum was reached without it).",
		}, []string{"witness", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{ConstLabels: l,
			Name:    "mosaic_witness_request_duration_seconds",
			Help:    "Time from sending a checkpoint to a witness to its answer's headers (answered and timed-out requests).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10},
		}, []string{"witness"}),
		cosignedSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_witness_cosigned_size_entries", Help: "Size of the latest checkpoint each witness cosigned for this server.",
		}, []string{"witness"}),
		lastCosigned: prometheus.NewGaugeVec(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_witness_last_cosigned_timestamp_seconds", Help: "When each witness last cosigned a checkpoint for this server (Unix time).",
		}, []string{"witness"}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_witness_healthy", Help: "1 unless the witness's latest request (not abandoned) failed.",
		}, []string{"witness"}),
		quorumMet: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_witness_quorum_met", Help: "1 if the latest published checkpoint carries the witness policy's quorum of cosignatures, else 0.",
		}),
		cosignatures: prometheus.NewGauge(prometheus.GaugeOpts{ConstLabels: l,
			Name: "mosaic_witness_checkpoint_cosignatures", Help: "Valid cosignatures of the policy's witnesses on the latest published checkpoint.",
		}),
	}
}

// Collectors returns every collector, for registration.
func (m *WitnessMetrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.latency, m.cosignedSize, m.lastCosigned, m.healthy, m.quorumMet, m.cosignatures}
}
