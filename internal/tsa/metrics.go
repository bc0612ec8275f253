package tsa

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the TSA's Prometheus collectors. Construct with NewMetrics and
// register Collectors() with the process's registry.
type Metrics struct {
	issued          prometheus.Counter
	refused         *prometheus.CounterVec
	signingFailures prometheus.Counter
}

// NewMetrics creates the TSA's collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_tsa_timestamps_issued_total", Help: "Timestamp tokens granted and returned to clients.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_tsa_requests_refused_total",
			Help: "Timestamp requests refused, by reason (too_large, content_type, malformed, hash_algorithm, " +
				"digest_length, nonce, policy, extension, certificate_expired).",
		}, []string{"reason"}),
		signingFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_tsa_signing_failures_total",
			Help: "Granted requests whose response could not be signed (HTTP 500). Should stay zero.",
		}),
	}
	for _, reason := range allReasons {
		m.refused.WithLabelValues(reason) // export every reason from the start, at zero
	}
	return m
}

// Collectors returns every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.issued, m.refused, m.signingFailures}
}
