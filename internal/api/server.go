// Package api serves Mosaic's HTTP API: the Rekor v2 write endpoint, the
// C2SP tlog-tiles read endpoints under /api/v2, and the operational routes.
//
// This package alone maps errors to HTTP status codes. Every refusal is a JSON
// body {"code": <gRPC code>, "message": "...", "details": []}, the shape
// Rekor v2's gateway returns, with a message that says what was wrong; a
// client error is never a 500.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is everything the HTTP layer needs.
type Config struct {
	Log     *tlog.Log
	Decoder *entry.Decoder
	// MaxRequestBytes bounds a write request's body.
	MaxRequestBytes int64
	// AddTimeout bounds how long a write waits for its proof.
	AddTimeout time.Duration
	// Duplicates says how a submission already in the log is answered
	// (default DuplicatesExisting).
	Duplicates Duplicates
	// Ready reports whether the server should take traffic (see /readyz).
	Ready func(ctx context.Context) error
	// Degraded, if set, lists what works less well than it should while
	// the server is ready (/readyz shows it as "degraded"), in words that
	// may be shown to anyone.
	Degraded func(ctx context.Context) []string
	// Gatherer serves /metrics; nil disables the route.
	Gatherer prometheus.Gatherer
	// OpenAPI is the API document served at /openapi.yaml.
	OpenAPI []byte
	Metrics *Metrics
	Logger  *slog.Logger
	// CertLog, when set, is the certificate log the CA appends every
	// precertificate to; its checkpoint and tiles are served under
	// /api/v2/certlog.
	CertLog *tlog.Log
	// TilesPublicURL, when set, is a public base URL holding the logs'
	// checkpoints and tiles (a bucket or a CDN, see --tiles): the tlog-tiles
	// routes redirect there instead of reading them. The certificate log's
	// are under TilesPublicURL/certlog.
	TilesPublicURL string
	// Services mount further routes (CA, TSA, development OIDC issuer,
	// client configuration) on the same router, behind the same metrics
	// and panic recovery.
	Services []func(chi.Router)
	// ConnLimits sets each request's body and write deadlines (the server
	// and listener take the rest from NewHTTPServer and LimitListener);
	// zero fields set none.
	ConnLimits ConnLimits
	// Index, when set, is the search index that answers
	// POST /api/v2/log/search; the caller runs it (Index.Run) and closes
	// its store.
	Index *index.Index
	// SearchPageBytes bounds one search reply: a page stops adding results
	// before the one whose canonicalizedBody (base64, as sent) would take
	// the page's bodies past SearchPageBytes, and its nextPageToken
	// continues at that result, so a page may hold fewer than pageSize
	// results. A single larger result goes out alone. A reply is at most
	// this plus about 100 bytes per result; a running search holds about
	// 3/4 of it in entry bodies. 0 means DefaultSearchPageBytes (1 MiB).
	SearchPageBytes int
	// SearchConcurrency bounds the searches answered at once, from the
	// index lookup to the reply's last byte; a search beyond it is refused
	// at once with 503 and Retry-After, naming the limit. The memory held
	// by searches is about SearchConcurrency × SearchPageBytes, plus one
	// entry bundle (at most 256 entries) per search while it is read.
	// 0 means DefaultSearchConcurrency (32).
	SearchConcurrency int
	// Shards are the logs served under /shards/<name>/ (shards.go), the
	// active one (Log) among them; empty: none.
	Shards []Shard
	// Shard names the shard Log is, if there are shards.
	Shard string
}

// Shard is a log served under /shards/<Name>/api/v2/ (besides the active
// one at the root paths, which is also a Shard).
type Shard struct {
	Name string
	Log  *tlog.Log
	// Index is the shard's search index, or nil.
	Index *index.Index
	// Active is set for the shard served at the root paths.
	Active bool
	// Frozen returns the shard's freeze, or nil while it is not frozen.
	Frozen func() *client.ShardFrozen
	// Start is when the shard started taking entries.
	Start time.Time
}

type server struct {
	cfg       Config
	readiness readiness
	// searches holds a token for each search being answered, from before
	// its index lookup until its reply is written (see search).
	searches chan struct{}
	// health logs store outages once, not per request (outage.go).
	health storeHealth
}

// NewHandler returns the HTTP handler for cfg.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Duplicates == "" {
		cfg.Duplicates = DuplicatesExisting
	}
	if cfg.AddTimeout == 0 {
		cfg.AddTimeout = 30 * time.Second
	}
	if cfg.SearchPageBytes <= 0 {
		cfg.SearchPageBytes = DefaultSearchPageBytes
	}
	if cfg.SearchConcurrency <= 0 {
		cfg.SearchConcurrency = DefaultSearchConcurrency
	}
	s := &server{cfg: cfg, searches: make(chan struct{}, cfg.SearchConcurrency)}
	s.health = newStoreHealth(cfg.Logger)
	r := chi.NewRouter()
	r.Use(s.recoverer, cfg.Metrics.middleware, s.deadlines, middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no route for %s %s", r.Method, r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method %s is not allowed for %s", r.Method, r.URL.Path)
	})

	s.logRoutes(r)
	s.shardRoutes(r)
	if cfg.CertLog != nil {
		r.Get("/api/v2/certlog/checkpoint", s.certLogCheckpoint)
		r.Get("/api/v2/certlog/tile/*", s.certLogTile)
	}
	for _, mount := range cfg.Services {
		mount(r)
	}

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Get("/openapi.yaml", s.openapi)
	if cfg.Gatherer != nil {
		r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	return r
}

// recoverer turns a panic in a handler into a logged 500 instead of a
// dropped connection. It is a last resort: handlers never panic on input.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.cfg.Logger.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
