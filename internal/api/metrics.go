package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the HTTP layer's Prometheus collectors.
type Metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	duplicates *prometheus.CounterVec
	// addStoreFailures counts adds the log could not store or prove.
	addStoreFailures prometheus.Counter
	// connections and connectionsRefused count what LimitListener holds
	// and turns away.
	connections        prometheus.Gauge
	connectionsRefused prometheus.Counter
	// ready is 1 while /readyz answers 200; notReady counts /readyz
	// answers by reason ("" for ready).
	ready    prometheus.Gauge
	notReady *prometheus.CounterVec
	// slowBodies counts requests whose body did not arrive in time.
	slowBodies prometheus.Counter
}

// NewMetrics creates the HTTP collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mosaic_http_request_duration_seconds",
			Help:    "HTTP request latency by route and method.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .2, .3, .5, 1, 2, 5, 10, 30},
		}, []string{"route", "method"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_api_duplicate_submissions_total",
			Help: "Submissions equal to an entry already in the log, by how they were answered (--duplicates mode).",
		}, []string{"mode"}),
		addStoreFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_api_add_store_failures_total",
			Help: "Adds answered 503 because the log could not store or prove them (its store failed). " +
				"Logged only when such failures start and stop, not each time.",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_http_connections_open", Help: "Client connections held open (at most --max-connections).",
		}),
		connectionsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_http_connections_refused_total", Help: "Connections answered 503 and closed because --max-connections were open.",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_ready", Help: "1 while the last /readyz answered ready, else 0.",
		}),
		notReady: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_readiness_checks_total", Help: "/readyz answers by reason (empty: ready; storage_unavailable, no_checkpoint, stale_checkpoint, ...).",
		}, []string{"reason"}),
		slowBodies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_http_slow_bodies_total", Help: "Requests answered 408 because the body did not arrive within --body-timeout.",
		}),
	}
}

// Collectors returns every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.latency, m.duplicates, m.addStoreFailures, m.connections, m.connectionsRefused, m.slowBodies, m.ready, m.notReady}
}

func (m *Metrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		method := r.Method
		if !knownMethods[method] {
			method = "other" // clients choose methods; keep label values bounded
		}
		m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}
