package servingcert

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the serving certificate's. Construct them with NewMetrics
// and register Collectors with the server's registry.
type Metrics struct {
	notAfter, notBefore prometheus.Gauge
	failing             prometheus.Gauge
	reloads             *prometheus.CounterVec
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		notAfter: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_tls_certificate_not_after_seconds",
			Help: "When the TLS certificate being served expires (Unix time): alert well before it.",
		}),
		notBefore: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_tls_certificate_not_before_seconds",
			Help: "When the TLS certificate being served became valid (Unix time).",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_tls_certificate_reload_failing",
			Help: "1 while the --tls-cert and --tls-key files last read do not form a usable pair " +
				"(the previous certificate is still served), else 0.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_tls_certificate_reloads_total",
			Help: "Reloads of the TLS certificate (on SIGHUP or a change of its files) by result: ok, or error (the previous one kept).",
		}, []string{"result"}),
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	return m
}

// Collectors are the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.notAfter, m.notBefore, m.failing, m.reloads}
}
