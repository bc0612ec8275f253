// Package mosaictest runs real Mosaic logs for tests: servers assembled by
// internal/server as mosaicd assembles them, on Tessera's POSIX store in a
// temporary directory or on a fresh PostgreSQL database, and signers that
// build valid Rekor v2 requests. Nothing here is a mock.
package mosaictest

import (
	"context"
	"crypto"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/index"
	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/internal/server"
	"github.com/mosaiclog/mosaic/internal/servingcert/servingcerttest"
	"github.com/mosaiclog/mosaic/internal/tlog"
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
	Dir    string
	// DatabaseURL is the PostgreSQL database holding the log, if any.
	DatabaseURL string
	// Registry holds the server's metrics.
	Registry *prometheus.Registry
	// Keyless holds the keyless services (Options.Keyless) and Files the
	// key material they use.
	Keyless *server.Keyless
	Files   *pki.Files
	// Handler is the server's HTTP handler (the chi router).
	Handler http.Handler
	// Index is the search index (Options.Index), or nil.
	Index *index.Index
	// With Options.TLS: the CA that issued the serving certificate, the
	// certificate's files (replace them to rotate it), and the server
	// itself, to ReloadTLS as mosaicd does on SIGHUP.
	CA              *servingcerttest.CA
	TLSCert, TLSKey string
	Server          *server.Server
}

// HTTPClient is a client for l: one trusting its CA with Options.TLS
// (HTTP/2, a new handshake per request), else http.DefaultClient.
func (l *Log) HTTPClient() *http.Client {
	if l.CA != nil {
		return l.CA.Client()
	}
	return http.DefaultClient
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
	// Tiles, with Store "postgres", keeps tiles, bundles and checkpoints
	// in this s3:// bucket (mosaicd --tiles; see internal/s3test).
	Tiles string
	// Index runs the search index (POST /api/v2/log/search), as mosaicd
	// does by default: Badger in Dir, or tables in the test database.
	Index bool
	// Duplicates is the --duplicates mode (default existing).
	Duplicates api.Duplicates
	// Keyless starts the CA (with its certificate log), the TSA and the
	// development OIDC issuer with fresh key material from pki.Init.
	Keyless bool
	// WitnessPolicy, a witness policy file (see tlog.ParseWitnessPolicy),
	// has the log's checkpoints witnessed (mosaicd --witness-policy), with
	// WitnessTimeout (default 2s) and WitnessFailClosed.
	WitnessPolicy     string
	WitnessTimeout    time.Duration
	WitnessFailClosed bool
	// TLS serves HTTPS (mosaicd --tls-cert, --tls-key) with a certificate
	// for 127.0.0.1 from a CA of the test's own, its files polled every
	// 20 ms.
	TLS bool
	// DatabaseURL, with Store "postgres", serves that database instead of
	// a fresh one (a restart).
	DatabaseURL string
	// Shard is the active shard (mosaicd --shard; default main).
	Shard string
}

// quietTessera silences Tessera's klog chatter in test output.
var quietTessera sync.Once

// QuietTessera sends Tessera's klog output nowhere. Tests that run Tessera
// without NewLog call it before their first log starts: klog's logger may
// only be set while no Tessera goroutine is logging.
func QuietTessera() {
	quietTessera.Do(func() { klog.SetSlogLogger(slog.New(slog.DiscardHandler)) })
}

// NewLog starts a server through server.New, as mosaicd does, serves it on
// a loopback port, and shuts it down when the test ends.
func NewLog(t testing.TB, opts Options) *Log {
	t.Helper()
	QuietTessera()
	opts = opts.withDefaults(t)
	// The origin depends on the listener's address: listen first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lg := &Log{URL: "http://" + ln.Addr().String(), Origin: "127.0.0.1", Key: opts.Key, Dir: opts.Dir}
	if opts.TLS {
		lg.URL = "https://" + ln.Addr().String()
	}
	cfg := server.Config{
		Storage: "file:" + opts.Dir, Init: true, AutoMigrate: true,
		PublicURL: lg.URL, Origin: lg.Origin, Key: opts.Key,
		Log: tlog.Config{
			BatchMaxSize: 256, BatchMaxAge: 10 * time.Millisecond,
			CheckpointInterval: 100 * time.Millisecond, CheckpointRepublishInterval: time.Minute,
			AwaitPoll: 5 * time.Millisecond, PushbackMaxOutstanding: opts.PushbackMaxOutstanding,
			MaxInflightAdds: opts.MaxInflightAdds, AntispamInMemory: 1 << 16,
		},
		Decoder: decoder(t, opts), MaxRequestBytes: opts.MaxRequestBytes, AddTimeout: opts.AddTimeout,
		Duplicates: opts.Duplicates, SearchIndex: opts.Index, IndexPoll: 50 * time.Millisecond,
		Explorer: true,
	}
	cfg.Shard, cfg.WatchShards = opts.Shard, 50*time.Millisecond
	if opts.Store == "postgres" && opts.DatabaseURL != "" {
		lg.DatabaseURL = opts.DatabaseURL
		cfg.Storage = lg.DatabaseURL
	} else if opts.Store == "postgres" {
		lg.DatabaseURL = pgtest.NewDatabase(t)
		cfg.Storage, cfg.Tiles = lg.DatabaseURL, opts.Tiles
	} else if opts.Store != "" && opts.Store != "posix" {
		t.Fatalf("unknown test store %q", opts.Store)
	}
	if opts.Keyless {
		lg.Files, cfg.Keyless = keylessFiles(t)
	}
	if opts.WitnessPolicy != "" {
		p, err := tlog.ParseWitnessPolicy([]byte(opts.WitnessPolicy))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Witness = server.WitnessConfig{Policy: p, Timeout: opts.WitnessTimeout, FailClosed: opts.WitnessFailClosed}
	}
	if opts.TLS {
		lg.CA = servingcerttest.NewCA(t)
		dir := t.TempDir()
		lg.TLSCert, lg.TLSKey = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		lg.CA.Issue(t, 24*time.Hour).Write(t, lg.TLSCert, lg.TLSKey)
		cfg.TLSCert, cfg.TLSKey, cfg.TLSPoll = lg.TLSCert, lg.TLSKey, 20*time.Millisecond
	}
	s, err := server.New(context.Background(), cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutting the server down: %v", err)
		}
	})
	lg.Log, lg.LogID, lg.Registry, lg.Handler = s.Log(), s.Log().LogID(), s.Registry(), s.Handler()
	lg.Keyless, lg.Index, lg.Server = s.Keyless(), s.Index(), s
	return lg
}

// withDefaults fills in the options left zero.
func (o Options) withDefaults(t testing.TB) Options {
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Key == nil {
		k, err := note.GenerateKey(note.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		o.Key = k
	}
	if o.Limits == (entry.Limits{}) {
		o.Limits = entry.DefaultLimits
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = 64 << 10
	}
	if o.AddTimeout == 0 {
		o.AddTimeout = 20 * time.Second
	}
	if o.PushbackMaxOutstanding == 0 {
		o.PushbackMaxOutstanding = 4096
	}
	return o
}

// decoder is the entry decoder for opts' limits and algorithms.
func decoder(t testing.TB, opts Options) *entry.Decoder {
	allowed := entry.DefaultAlgorithms
	if len(opts.Algorithms) > 0 {
		a, err := entry.ParseAlgorithms(strings.Join(opts.Algorithms, ","))
		if err != nil {
			t.Fatal(err)
		}
		allowed = a
	}
	dec, err := entry.NewDecoder(opts.Limits, allowed)
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

// keylessFiles creates fresh keyless key material (pki.Init) and the
// configuration that starts the CA, the TSA and the development issuer.
func keylessFiles(t testing.TB) (*pki.Files, server.KeylessConfig) {
	files, err := pki.Init(filepath.Join(t.TempDir(), "keyless"), pki.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return files, server.KeylessConfig{
		CAChain: files.CAChain, CAKey: files.CAKey, CTLogKey: files.CTLogKey, DevOIDC: true,
		TSAChain: files.TSAChain, TSAKey: files.TSAKey,
	}
}
