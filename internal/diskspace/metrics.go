package diskspace

import "github.com/prometheus/client_golang/prometheus"

// Metrics are a Watcher's Prometheus collectors. Construct with NewMetrics
// and register Collectors() with the process's registry.
type Metrics struct {
	available   prometheus.Gauge
	unallocated prometheus.Gauge
	reserve     prometheus.Gauge
	full        prometheus.Gauge
	fullTotal   prometheus.Counter
}

// NewMetrics creates a watcher's collectors; labels tell watchers of
// several stores apart (for example {"log": "main"}).
func NewMetrics(labels prometheus.Labels) *Metrics {
	return &Metrics{
		available: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_disk_available_bytes", ConstLabels: labels,
			Help: "Space left for writes on the store's filesystem: available to unprivileged users, less unallocated memory-mapped bytes.",
		}),
		unallocated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_disk_unallocated_mapped_bytes", ConstLabels: labels,
			Help: "Bytes of Badger's memory-mapped files that no disk block backs; counted as used.",
		}),
		reserve: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_disk_reserve_bytes", ConstLabels: labels,
			Help: "Space kept free (--disk-reserve): writes are refused with 507 below it.",
		}),
		full: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_disk_full", ConstLabels: labels,
			Help: "1 while the store's filesystem is below its reserve and writes are refused, else 0.",
		}),
		fullTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_disk_full_total", ConstLabels: labels,
			Help: "Times the store's filesystem fell below its reserve.",
		}),
	}
}

// Collectors returns every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.available, m.unallocated, m.reserve, m.full, m.fullTotal}
}

func (m *Metrics) observe(st *Status) {
	if m == nil {
		return
	}
	m.available.Set(float64(st.Available))
	m.unallocated.Set(float64(st.Unallocated))
	m.reserve.Set(float64(st.Reserve))
	if st.Full {
		m.full.Set(1)
	} else {
		m.full.Set(0)
	}
}

func (m *Metrics) changed(st *Status) {
	if m != nil && st.Full {
		m.fullTotal.Inc()
	}
}
