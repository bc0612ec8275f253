// Package mosaictest runs real Mosaic logs for tests: Tessera's POSIX store
// in a temporary directory behind the real HTTP handler, and signers that
// build valid Rekor v2 requests. Nothing here is a mock.
package mosaictest

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/keyless"
	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/openapi"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"
)

// Log is a running log served over HTTP on loopback.
type Log struct {
	// URL is the server's base URL (the tlog-tiles prefix is URL+"/api/v2").
	URL string
	// Origin is the checkpoint origin: the URL's hostname, as sigstore-go
	// derives it.
	Origin string
	Key    crypto.Signer
	LogID  []byte
	Log    *tlog.Log
	Store  storage.Backend
	Dir    string
	// DatabaseURL is the PostgreSQL database holding the log, if any.
	DatabaseURL string
	// Registry holds the server's metrics.
	Registry *prometheus.Registry
	// Keyless holds the keyless services (Options.Keyless) and Files the
	// key material they use.
	Keyless *keyless.Services
	Files   *pki.Files
	// Handler is the server's HTTP handler (the chi router).
	Handler http.Handler
	// Index is the search index (Options.Index), or nil.
	Index *index.Index
}

// Stores names the storage backends every API test runs on.
var Stores = []string{"posix", "postgres"}

// Options tune a test log; the zero value is a fast, default log.
type Options struct {
	// Store is "posix" (the default, in Dir) or "postgres" (a fresh
	// database on the server pgtest names).
	Store           string
	Dir             string
	Key             crypto.Signer
	Limits          entry.Limits
	MaxRequestBytes int64
	Algorithms      []string
	// PushbackMaxOutstanding bounds unintegrated entries (default 4096).
	PushbackMaxOutstanding uint
	// MaxInflightAdds bounds the adds in progress (default: the log's).
	MaxInflightAdds uint
	// AddTimeout bounds how long a write waits for a checkpoint (default 20s).
	AddTimeout time.Duration
	// Index runs the search index (POST /api/v2/log/search), as mosaicd
	// does by default: Badger in Dir, or tables in the test database.
	Index bool
	// Duplicates is the --duplicates mode (default existing).
	Duplicates api.Duplicates
	// Keyless starts the CA (with its certificate log), the TSA and the
	// development OIDC issuer with fresh key material from pki.Init.
	Keyless bool
}

// quietTessera silences Tessera's klog chatter in test output.
var quietTessera sync.Once

// QuietTessera sends Tessera's klog output nowhere. Tests that run Tessera
// without NewLog call it before their first log starts: klog's logger may
// only be set while no Tessera goroutine is logging.
func QuietTessera() {
	quietTessera.Do(func() { klog.SetSlogLogger(slog.New(slog.DiscardHandler)) })
}

// NewLog starts a log and stops it when the test ends.
func NewLog(t testing.TB, opts Options) *Log {
	t.Helper()
	QuietTessera()
	ctx, cancel := context.WithCancel(context.Background())
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Key == nil {
		k, err := note.GenerateKey(note.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		opts.Key = k
	}
	if opts.Limits == (entry.Limits{}) {
		opts.Limits = entry.DefaultLimits
	}
	if opts.MaxRequestBytes == 0 {
		opts.MaxRequestBytes = 64 << 10
	}
	var algs []string
	algs = append(algs, opts.Algorithms...)
	allowed := entry.DefaultAlgorithms
	if len(algs) > 0 {
		a, err := entry.ParseAlgorithms(joinComma(algs))
		if err != nil {
			t.Fatal(err)
		}
		allowed = a
	}
	dec, err := entry.NewDecoder(opts.Limits, allowed)
	if err != nil {
		t.Fatal(err)
	}

	// The origin depends on the listener's address, so start the server
	// first and install the handler once the log exists.
	h := &swappable{}
	srv := httptest.NewServer(h)
	u, _ := url.Parse(srv.URL)
	origin := u.Hostname()

	if opts.AddTimeout == 0 {
		opts.AddTimeout = 20 * time.Second
	}
	if opts.PushbackMaxOutstanding == 0 {
		opts.PushbackMaxOutstanding = 4096
	}
	var dbURL string
	if opts.Store == "postgres" {
		dbURL = pgtest.NewDatabase(t)
	}
	store, err := openStore(ctx, opts, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(opts.Key.Public())
	if err := storage.BindIdentity(ctx, store, opts.Dir, storage.Identity{Origin: origin, PublicKey: der}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	lm, am := tlog.NewMetrics(), api.NewMetrics()
	reg.MustRegister(lm.Collectors()...)
	reg.MustRegister(am.Collectors()...)
	lc := tlog.Config{
		Origin: origin, Key: opts.Key,
		BatchMaxSize: 256, BatchMaxAge: 10 * time.Millisecond,
		CheckpointInterval: 100 * time.Millisecond, CheckpointRepublishInterval: time.Minute,
		AwaitPoll: 5 * time.Millisecond, PushbackMaxOutstanding: opts.PushbackMaxOutstanding, AntispamInMemory: 1 << 16,
		MaxInflightAdds: opts.MaxInflightAdds, Metrics: lm, Identity: entry.LeafIdentity,
	}
	dedup, err := store.Dedup()
	if err != nil {
		t.Fatal(err)
	}
	if dedup != nil {
		lc.Dedup = dedup
	}
	l, err := tlog.New(ctx, store.Driver(), lc)
	if err != nil {
		t.Fatal(err)
	}
	var files *pki.Files
	kc := keyless.Config{PublicURL: srv.URL, Origin: origin, LogKey: opts.Key, Registerer: reg}
	if opts.Keyless {
		if files, err = pki.Init(filepath.Join(t.TempDir(), "keyless"), pki.InitOptions{}); err != nil {
			t.Fatal(err)
		}
		kc.CAChain, kc.CAKey, kc.CTLogKey, kc.DevOIDC = files.CAChain, files.CAKey, files.CTLogKey, true
		kc.TSAChain, kc.TSAKey = files.TSAChain, files.TSAKey
		kc.Storage, kc.StorageOptions = "file:"+opts.Dir, storage.Options{AutoMigrate: true}
		if opts.Store == "postgres" {
			kc.Storage = dbURL
		}
		kc.CertLog = tlog.Config{BatchMaxSize: 256, BatchMaxAge: 10 * time.Millisecond,
			CheckpointInterval: 100 * time.Millisecond, CheckpointRepublishInterval: time.Minute,
			AwaitPoll: 5 * time.Millisecond, PushbackMaxOutstanding: 4096}
	}
	services, err := keyless.Start(ctx, ctx, kc)
	if err != nil {
		t.Fatal(err)
	}
	ix, stopIndex := startIndex(t, ctx, opts, store, l, reg)
	handler := api.NewHandler(api.Config{
		CertLog: services.CertLog, Services: services.Mounts,
		Log: l, Decoder: dec, MaxRequestBytes: opts.MaxRequestBytes, AddTimeout: opts.AddTimeout,
		Duplicates: opts.Duplicates,
		Ready:      func(ctx context.Context) error { return store.Ping(ctx) },
		Gatherer:   reg, OpenAPI: openapi.Spec, Metrics: am, Index: ix,
	})
	h.set(handler)
	t.Cleanup(func() {
		srv.Close()
		stopIndex()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := l.Close(sctx); err != nil {
			t.Errorf("closing log: %v", err)
		}
		if services.CertLog != nil {
			if err := services.CertLog.Close(sctx); err != nil {
				t.Errorf("closing certificate log: %v", err)
			}
		}
		cancel()
		services.Close()
		_ = store.Close()
	})
	logID, err := note.LogID(origin, opts.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &Log{URL: srv.URL, Origin: origin, Key: opts.Key, LogID: logID, Log: l, Store: store, Dir: opts.Dir, DatabaseURL: dbURL, Registry: reg,
		Keyless: services, Files: files, Handler: handler, Index: ix}
}

// startIndex runs a search index over l when opts ask for one; stop ends it
// and closes its store.
func startIndex(t testing.TB, ctx context.Context, opts Options, store storage.Backend, l *tlog.Log, reg *prometheus.Registry) (ix *index.Index, stop func()) {
	if !opts.Index {
		return nil, func() {}
	}
	ist, err := index.OpenStore(ctx, store, storage.DefaultLogID, filepath.Join(opts.Dir, ".mosaic", "index"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := index.NewMetrics()
	reg.MustRegister(m.Collectors()...)
	ix = index.New(l, ist, index.Config{Poll: 50 * time.Millisecond, Metrics: m})
	stopRun := ix.Start(ctx)
	return ix, func() { stopRun(); _ = ist.Close() }
}

func openStore(ctx context.Context, opts Options, dbURL string) (storage.Backend, error) {
	switch opts.Store {
	case "", "posix":
		return storage.OpenPosix(ctx, opts.Dir)
	case "postgres":
		return storage.OpenPostgres(ctx, dbURL, storage.Options{AutoMigrate: true, Identity: entry.LeafIdentity})
	default:
		return nil, fmt.Errorf("unknown test store %q", opts.Store)
	}
}

// swappable is a handler installed after its server started.
type swappable struct{ h atomic.Pointer[http.Handler] }

func (s *swappable) set(h http.Handler) { s.h.Store(&h) }

func (s *swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.Error(w, "starting", http.StatusServiceUnavailable)
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}
