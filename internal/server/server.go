// Package server assembles a Mosaic server from a Config, and owns the
// order in which its parts start and stop. It is the one place that does:
// mosaicd's serve command turns flags into a Config, and the tests
// (internal/mosaictest) build through New too, so what they exercise is
// what operators run.
//
// Start-up: open the store (once: one PostgreSQL pool, one schema check),
// open the main log in it and bind its identity (fail closed), start the
// search index, the keyless services and the certificate log, and build
// the HTTP handler. Shutdown, in this order: stop taking HTTP requests and
// finish those in flight, drain the logs (every entry handed an index gets
// a published checkpoint), stop the index, close the logs' stores.
//
// The package holds no logic of its own beyond that assembly: the parts
// are internal/api, internal/tlog, internal/storage, internal/index and
// the keyless services (keyless.go).
package server

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/explorer"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/servingcert"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/openapi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is everything New needs, parsed and checked by the caller.
type Config struct {
	// Shard names the active shard: the store's log this server writes
	// (shards.go); empty: "main", the store's first log.
	Shard string
	// WatchShards is how often the server looks for freezes of its shards
	// (zero: every second).
	WatchShards time.Duration

	// Storage names the store (see storage.Open). Init lets New create a
	// file store's directory when it does not exist; without it New
	// refuses (*storage.NoStoreError).
	Storage     string
	Init        bool
	AutoMigrate bool
	// DiskReserve is the free space a file store keeps (zero: the default).
	DiskReserve diskspace.Reserve
	// Tiles is an s3:// bucket URL for a PostgreSQL store's tiles, bundles
	// and checkpoints (storage.Options.Tiles); "" keeps them in the store.
	// TilesPublicURL, when set, is where readers are redirected for them
	// (the bucket's or a CDN's public base URL).
	Tiles          string
	TilesPublicURL string

	// PublicURL is the server's public base URL, without a trailing
	// slash; Origin and Key are the main log's checkpoint origin and
	// signing key, which the store must have recorded or not yet hold.
	PublicURL string
	Origin    string
	Key       crypto.Signer

	// Log holds the batching, publication and admission settings of both
	// logs (BatchMaxSize to MaxInflightAdds, and AntispamInMemory for the
	// main log); New sets the rest.
	Log tlog.Config

	// Decoder validates entries (default: entry.DefaultLimits and
	// entry.DefaultAlgorithms).
	Decoder         *entry.Decoder
	MaxRequestBytes int64
	AddTimeout      time.Duration
	Duplicates      api.Duplicates
	// ConnLimits bound client connections (zero: api.DefaultConnLimits).
	ConnLimits api.ConnLimits
	// SearchIndex follows the main log into a search index; IndexPoll is
	// how often it looks for new entries (zero: the index's default).
	SearchIndex       bool
	IndexPoll         time.Duration
	SearchPageBytes   int
	SearchConcurrency int

	// TLSCert and TLSKey, both or neither, are the PEM files of the
	// certificate Serve serves HTTPS with (HTTP/2 and HTTP/1.1); without
	// them it serves plain HTTP/1.1. The pair is read again every TLSPoll
	// (zero: servingcert.DefaultPoll; negative: never) and on ReloadTLS,
	// and replaced only by one that loads.
	TLSCert, TLSKey string
	TLSPoll         time.Duration

	// Explorer serves the web explorer (internal/explorer) under "/".
	Explorer bool

	// MetricsApart serves /metrics only through ServeMetrics, not on the
	// API listener (always plain HTTP).
	MetricsApart bool
	// ShutdownTimeout bounds Run's graceful shutdown.
	ShutdownTimeout time.Duration

	// CheckpointRecord is the file recording the largest checkpoint the
	// main log has published, kept where a restore of the store does not
	// roll it back (tlog.Record); "" keeps none. New refuses a store
	// behind it (*tlog.RollbackError).
	CheckpointRecord string

	// Keyless configures the optional keyless services.
	Keyless KeylessConfig
	// Witness has the main log's checkpoints witnessed (witness.go).
	Witness WitnessConfig

	Logger *slog.Logger
	// Registry receives every part's metrics (default: a new registry).
	Registry *prometheus.Registry
}

// Server is an assembled server. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config // immutable after New
	logger *slog.Logger
	reg    *prometheus.Registry

	// Built by New, released by Shutdown (or by New when it fails).
	store *storage.Store
	// logs holds the main log first, then the certificate log, if any.
	logs []*servedLog // and the read-only shards' after them
	// logCtx outlives New's ctx: on a signal the logs must still drain;
	// stopLogs ends it once they have.
	logCtx   context.Context
	stopLogs context.CancelFunc
	// shards holds the active shard first, then the others, read-only;
	// the slice is fixed after New.
	shards []*shard
	// unlocks release the writer locks New took.
	unlocks []func()
	// index is the active shard's search index (nil without);
	// stopIndexes stop every shard's index and close its store.
	index       *index.Index
	stopIndexes []func()
	witnesses   *tlog.Witnesses // the main log's; nil when not witnessed
	keyless     *Keyless
	cert        *servingcert.Cert  // nil without TLS; watched until logCtx ends
	explorer    *explorer.Explorer // nil without Config.Explorer
	metrics     *api.Metrics
	handler     http.Handler

	// mu guards servers and closing: the HTTP servers Serve started, which
	// Shutdown stops, and whether it has begun (Serve then refuses).
	mu       sync.Mutex
	servers  []*http.Server
	closing  bool
	shutdown sync.Once
	err      error // Shutdown's result, set once by shutdown
}

// servedLog is a running log and the store log under it.
type servedLog struct {
	log     *tlog.Log // nil until started
	backend storage.Backend
	// readOnly: the log is served without an appender (tlog.OpenReadOnly).
	readOnly bool
}

// New assembles a server from cfg: it opens the store and the logs in it,
// and starts their background work (the index, checkpoint watchers). It
// serves nothing until Serve or Run. On error everything it started is
// stopped again.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, reg: cfg.Registry, metrics: api.NewMetrics()}
	s.reg.MustRegister(s.metrics.Collectors()...)
	s.logCtx, s.stopLogs = context.WithCancel(context.WithoutCancel(ctx))
	if err := s.build(ctx); err != nil {
		_ = s.teardown(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// build opens the store, the main log, the index and the keyless services,
// and the HTTP handler over them. What it started is in s for teardown.
func (s *Server) build(ctx context.Context) error {
	if err := s.loadTLS(); err != nil {
		return err
	}
	var err error
	s.store, err = storage.Open(ctx, s.cfg.Storage, storage.Options{
		AutoMigrate: s.cfg.AutoMigrate, Create: s.cfg.Init, Logger: s.logger,
		Registerer: s.reg, DiskReserve: s.cfg.DiskReserve, Tiles: s.cfg.Tiles,
	})
	if err != nil {
		return err
	}
	if s.witnesses, err = s.newWitnesses(); err != nil {
		return err
	}
	main, err := s.openLog(ctx, s.mainLogSpec())
	if err != nil {
		return err
	}
	if err := s.openShards(ctx); err != nil {
		return err
	}
	if err := s.startIndexes(); err != nil {
		return err
	}
	if s.keyless, err = s.startKeyless(ctx); err != nil {
		return err
	}
	if err := s.startExplorer(main); err != nil {
		return err
	}
	s.handler = s.newHandler(main.log)
	every := s.cfg.WatchShards
	if every <= 0 {
		every = time.Second
	}
	go s.watchShards(s.logCtx, every)
	return nil
}

// loadTLS loads the serving certificate, if any, and watches its files.
func (s *Server) loadTLS() error {
	if (s.cfg.TLSCert == "") != (s.cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both files, or neither to serve plain HTTP")
	}
	if s.cfg.TLSCert == "" {
		return nil
	}
	m := servingcert.NewMetrics()
	cert, err := servingcert.Load(s.cfg.TLSCert, s.cfg.TLSKey, s.logger, m)
	if err != nil {
		return err
	}
	s.reg.MustRegister(m.Collectors()...)
	s.cert = cert
	go cert.Watch(s.logCtx, s.cfg.TLSPoll)
	return nil
}

// startExplorer builds the web explorer over the main log, its index and
// witnesses, and samples the log's growth for it until the logs stop.
func (s *Server) startExplorer(main *servedLog) error {
	if !s.cfg.Explorer {
		return nil
	}
	ex, err := explorer.New(explorer.Config{
		Log: main.log, Index: s.index, Witnesses: s.witnesses,
		CheckpointPublishedAt: main.backend.CheckpointPublishedAt, Logger: s.logger,
	})
	if err != nil {
		return err
	}
	s.explorer = ex
	go ex.Run(s.logCtx)
	return nil
}

func (cfg Config) activeShard() string {
	if cfg.Shard == "" {
		return storage.DefaultLogID
	}
	return cfg.Shard
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Key == nil {
		return cfg, errors.New("server: Config.Key is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.ConnLimits == (api.ConnLimits{}) {
		cfg.ConnLimits = api.DefaultConnLimits
	}
	if cfg.Decoder == nil {
		d, err := entry.NewDecoder(entry.DefaultLimits, entry.DefaultAlgorithms)
		if err != nil {
			return cfg, err
		}
		cfg.Decoder = d
	}
	return cfg, nil
}

// newHandler builds the HTTP handler over the main log.
func (s *Server) newHandler(main *tlog.Log) http.Handler {
	var gatherer prometheus.Gatherer = s.reg
	if s.cfg.MetricsApart {
		gatherer = nil
	}
	services := s.keyless.Mounts
	if s.explorer != nil {
		services = append(slices.Clip(services), s.explorer.Mount)
	}
	return api.NewHandler(api.Config{
		Log: main, Decoder: s.cfg.Decoder, MaxRequestBytes: s.cfg.MaxRequestBytes,
		AddTimeout: s.cfg.AddTimeout, Duplicates: s.cfg.Duplicates, Ready: s.ready, Degraded: s.degraded,
		Gatherer: gatherer, OpenAPI: openapi.Spec, Metrics: s.metrics, Logger: s.logger,
		ConnLimits: s.cfg.ConnLimits, SearchPageBytes: s.cfg.SearchPageBytes,
		SearchConcurrency: s.cfg.SearchConcurrency, Index: s.index,
		CertLog: s.keyless.CertLog, Services: services, TilesPublicURL: s.cfg.TilesPublicURL,
		Shards: s.apiShards(), Shard: s.shards[0].name,
	})
}

// ready is /readyz: every log's store is ready (storage.Ready), with a
// checkpoint published within two republish intervals and some slack, and
// failing closed, the witness quorum answers.
func (s *Server) ready(ctx context.Context) error {
	maxAge := 2*s.cfg.Log.CheckpointRepublishInterval + 10*time.Second
	for _, l := range s.logs {
		if l.readOnly {
			// A frozen shard publishes no more checkpoints.
			if err := l.backend.Ping(ctx); err != nil {
				return &storage.NotReadyError{Code: "storage_unavailable", Reason: "storage unavailable", Err: err}
			}
			continue
		}
		if err := storage.Ready(ctx, l.backend, maxAge); err != nil {
			return err
		}
	}
	return s.witnessReady()
}

// Handler is the API's HTTP handler (the chi router).
func (s *Server) Handler() http.Handler { return s.handler }

// Log is the main log.
func (s *Server) Log() *tlog.Log { return s.logs[0].log }

// Index is the search index, or nil without Config.SearchIndex.
func (s *Server) Index() *index.Index { return s.index }

// Keyless is the keyless services (their fields are empty when the
// configuration enables none).
func (s *Server) Keyless() *Keyless { return s.keyless }

// Registry holds every part's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Serve serves the API on ln, holding at most ConnLimits.MaxConnections
// connections, until Shutdown; it returns nil once Shutdown has begun.
// With a TLS certificate it serves HTTPS, HTTP/2 or HTTP/1.1 as the client
// negotiates.
func (s *Server) Serve(ln net.Listener) error {
	max := s.cfg.ConnLimits.MaxConnections
	if s.cert != nil {
		return s.serve(api.LimitListenerTLS(ln, max, s.metrics, s.cert.TLSConfig()), s.handler)
	}
	return s.serve(api.LimitListener(ln, max, s.metrics), s.handler)
}

// TLS reports whether Serve serves HTTPS.
func (s *Server) TLS() bool { return s.cert != nil }

// ReloadTLS reads the certificate files again (mosaicd calls it on SIGHUP)
// and serves the new pair from the next handshake on; on error the pair
// served stays as it was. Without TLS it does nothing.
func (s *Server) ReloadTLS() error {
	if s.cert == nil {
		return nil
	}
	return s.cert.Reload()
}

// ServeMetrics serves /metrics alone on ln until Shutdown, for a
// separate metrics address (Config.MetricsApart).
func (s *Server) ServeMetrics(ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return s.serve(ln, mux)
}

func (s *Server) serve(ln net.Listener, h http.Handler) error {
	srv := api.NewHTTPServer(h, s.cfg.ConnLimits)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Run serves the API on ln, and /metrics on metricsLn unless it is nil,
// until ctx ends or serving fails, then shuts down gracefully within
// Config.ShutdownTimeout.
func (s *Server) Run(ctx context.Context, ln, metricsLn net.Listener) error {
	errc := make(chan error, 2)
	go func() { errc <- s.Serve(ln) }()
	if metricsLn != nil {
		go func() { errc <- s.ServeMetrics(metricsLn) }()
	}
	select {
	case <-ctx.Done():
		s.logger.Info("shutting down: draining in-flight requests")
	case err := <-errc:
		s.logger.Error("HTTP server failed", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return err
	}
	s.logger.Info("shut down cleanly")
	return nil
}

// Shutdown stops the server within ctx, in order: stop accepting HTTP
// requests and finish those in flight, drain the logs (every entry handed
// an index is covered by a published checkpoint), stop the index, close
// the stores. Later calls return the first one's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Do(func() {
		s.mu.Lock()
		s.closing = true
		servers := s.servers
		s.mu.Unlock()
		for _, srv := range servers {
			if err := srv.Shutdown(ctx); err != nil {
				s.logger.Warn("HTTP shutdown incomplete", "err", err)
				srv.Close()
			}
		}
		s.err = s.teardown(ctx)
	})
	return s.err
}

// teardown drains the logs started, stops the index and closes the stores.
func (s *Server) teardown(ctx context.Context) error {
	var errs []error
	for _, l := range s.logs {
		if l.log == nil {
			continue
		}
		if err := l.log.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("draining the log %s: %w", l.log.Origin(), err))
		}
	}
	s.stopLogs()
	for _, stop := range s.stopIndexes {
		stop()
	}
	for i := len(s.logs) - 1; i >= 0; i-- {
		if err := s.logs[i].backend.Close(); err != nil {
			s.logger.Warn("closing a log's store", "err", err)
		}
	}
	for _, unlock := range s.unlocks {
		unlock()
	}
	if s.store != nil {
		s.store.Close()
	}
	return errors.Join(errs...)
}
