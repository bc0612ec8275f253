package main

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/internal/api"
	"github.com/mosaiclog/mosaic/internal/diskspace"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/outage"
	"github.com/mosaiclog/mosaic/internal/server"
	"github.com/mosaiclog/mosaic/internal/servingcert"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/klog/v2"
)

// serveConfig is every serve flag, parsed once.
type serveConfig struct {
	listen, metricsListen  string
	storage                string
	publicURL, origin      string
	signingKey             string
	shard                  string
	checkpointInterval     time.Duration
	republishInterval      time.Duration
	batchMaxSize           uint
	batchMaxAge            time.Duration
	awaitPoll              time.Duration
	pushbackMaxOutstanding uint
	maxInflightAdds        uint
	maxRequestBytes        int64
	limits                 entry.Limits
	algorithms             string
	addTimeout             time.Duration
	duplicates             string
	searchIndex            bool
	explorer               bool
	shutdownTimeout        time.Duration
	logFormat, logLevel    string
	autoMigrate            bool
	init                   bool
	diskReserve            diskspace.Reserve
	conn                   api.ConnLimits
	searchPageBytes        int
	readCacheBytes         int64
	searchConcurrency      int
	keyless                keylessConfig
	witness                witnessConfig
	checkpointRecord       string
	gc                     gcConfig
	tls                    tlsConfig
	configFile             string
	tiles, tilesPublicURL  string
}

// checkTiles refuses --tiles without PostgreSQL storage or with a bad
// URL, and --tiles-public-url without --tiles or not http(s).
func (c *serveConfig) checkTiles() error {
	if c.tilesPublicURL != "" {
		u, err := url.Parse(c.tilesPublicURL)
		switch {
		case c.tiles == "":
			return errors.New("--tiles-public-url needs --tiles: it is where the bucket's objects are served")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return fmt.Errorf("--tiles-public-url %q: want http(s)://HOST[/PATH]", c.tilesPublicURL)
		}
	}
	if c.tiles == "" {
		return nil
	}
	if !storage.IsPostgres(c.storage) {
		return errors.New("--tiles needs PostgreSQL storage (--storage postgres://...)")
	}
	if _, err := bucket.ParseURL(c.tiles); err != nil {
		return fmt.Errorf("--tiles %w", err)
	}
	return nil
}

func parseServeFlags(args []string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := serveFlags(c, stderr)
	if err := parseWithEnv(fs, args); err != nil {
		return nil, err
	}
	if err := applyConfigFile(fs, c.configFile, func() *flag.FlagSet { return serveFlags(&serveConfig{}, io.Discard) }); err != nil {
		return nil, err
	}
	return c.check()
}

// serveFlags defines every serve flag on a new flag set, storing into c.
// The configuration file's keys are these flags' names.
func serveFlags(c *serveConfig, stderr io.Writer) *flag.FlagSet {
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&c.configFile, "config", "", "YAML file of settings, one key per flag (storage: file:/var/lib/mosaic); "+
		"a flag on the command line, then its environment variable, wins over the file")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:3000", "address to serve HTTP on")
	fs.StringVar(&c.metricsListen, "metrics-listen", "", "separate address for /metrics (default: serve it on --listen)")
	storageFlag(fs, &c.storage)
	fs.StringVar(&c.tiles, "tiles", "", "with PostgreSQL storage: keep tiles, entry bundles and checkpoints in an S3-compatible bucket, "+
		"s3://BUCKET/PREFIX?endpoint=URL&region=R (credentials from the AWS environment or config files); PostgreSQL then only coordinates")
	fs.StringVar(&c.tilesPublicURL, "tiles-public-url", "", "with --tiles: redirect checkpoint and tile reads to this public base URL of the bucket (or a CDN in front of it)")
	fs.StringVar(&c.publicURL, "public-url", "", "the log's public base URL (default: http://<the address listened on>, https:// with --tls-cert)")
	fs.StringVar(&c.origin, "origin", "", "checkpoint origin (default: the hostname of --public-url, as sigstore-go derives it)")
	fs.StringVar(&c.signingKey, "signing-key", "", "checkpoint signing key, PKCS#8 PEM (default with file: storage: DIR/.mosaic/signing-key.pem, "+
		"or DIR/SHARD/.mosaic/signing-key.pem for another --shard, created if missing)")
	shardFlag(fs, &c.shard, "the active shard: the store's log that takes entries, served at the root paths; every other shard is served "+
		"read-only at /shards/NAME/ (a new shard needs --init and a new key)")
	fs.DurationVar(&c.checkpointInterval, "checkpoint-interval", 0, "least time between published checkpoints; it bounds add→proof latency "+
		"(default: 100ms with file: storage, its least; 25ms with PostgreSQL, whose least is 10ms, but 100ms there too with --witness-policy, "+
		"so that witnesses are not asked four times as often)")
	fs.DurationVar(&c.republishInterval, "checkpoint-republish-interval", time.Minute, "re-sign the checkpoint this often when the log does not grow")
	fs.UintVar(&c.batchMaxSize, "batch-max-size", 512, "most entries sequenced in one batch")
	fs.DurationVar(&c.batchMaxAge, "batch-max-age", 20*time.Millisecond, "longest an entry waits for its batch to fill")
	fs.Int64Var(&c.readCacheBytes, "read-cache-bytes", tlog.DefaultReadCacheBytes, "memory for full tiles and entry bundles (immutable) kept to serve reads and proofs, per log, in bytes")
	fs.DurationVar(&c.awaitPoll, "await-poll", 10*time.Millisecond, "how often waiting adds look for a new checkpoint")
	fs.UintVar(&c.pushbackMaxOutstanding, "pushback-max-outstanding", 4096, "sequenced-but-unintegrated entries before adds get 503")
	fs.UintVar(&c.maxInflightAdds, "max-inflight-adds", tlog.DefaultMaxInflightAdds, "adds in progress at once, on any storage; one more is answered 503 with Retry-After at once")
	fs.Int64Var(&c.maxRequestBytes, "max-request-bytes", 64<<10, "largest accepted write request body")
	fs.IntVar(&c.limits.MaxKeyBytes, "max-key-bytes", entry.DefaultLimits.MaxKeyBytes, "largest accepted DER public key")
	fs.IntVar(&c.limits.MaxCertificateBytes, "max-certificate-bytes", entry.DefaultLimits.MaxCertificateBytes, "largest accepted DER certificate")
	fs.IntVar(&c.limits.MaxSignatureBytes, "max-signature-bytes", entry.DefaultLimits.MaxSignatureBytes, "largest accepted signature")
	fs.StringVar(&c.algorithms, "allowed-algorithms", strings.Join(entry.AlgorithmNames(entry.DefaultAlgorithms), ","), "comma-separated signing algorithms accepted in entries")
	fs.DurationVar(&c.addTimeout, "add-timeout", 30*time.Second, "longest a write waits for its proof")
	fs.StringVar(&c.duplicates, "duplicates", string(api.DuplicatesExisting), "how a submission already in the log is answered: "+
		"existing (201 with the existing entry and its proof, header X-Mosaic-Duplicate: retries succeed) or conflict (409 naming the index, as Rekor v2)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "longest a graceful shutdown waits for in-flight adds")
	fs.Func("disk-reserve", "free space kept on the disk of file: storage (default max(64MiB, 1%)): below it writes get 507 "+
		"while reads are served, and writing resumes by itself once space is freed; a size (256MiB, 2GB) or a share (2%)", func(s string) error {
		r, err := diskspace.ParseReserve(s)
		c.diskReserve = r
		return err
	})
	fs.BoolVar(&c.init, "init", false, "create a new log when the --storage directory does not exist (the default ./mosaic-data is created without it); "+
		"without it serve refuses, so that a mistyped directory does not become a new log with a new key")
	fs.BoolVar(&c.autoMigrate, "auto-migrate", true, "apply pending PostgreSQL schema migrations at start (else refuse to start until 'mosaicd migrate' ran)")
	fs.BoolVar(&c.explorer, "explorer", true, "serve the web explorer under / (log, entries verified in the browser, search, watch, consistency, bundle check)")
	fs.BoolVar(&c.searchIndex, "search-index", true, "follow the log into a search index (POST /api/v2/log/search): PostgreSQL tables, or DIR/.mosaic/index with file: storage")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.IntVar(&c.searchPageBytes, "search-page-bytes", api.DefaultSearchPageBytes, "most bytes of results in one search reply page (a page may then hold fewer than pageSize results)")
	fs.IntVar(&c.searchConcurrency, "search-concurrency", api.DefaultSearchConcurrency, "searches answered at once; one more is answered 503 with Retry-After")
	d := api.DefaultConnLimits
	fs.IntVar(&c.conn.MaxConnections, "max-connections", d.MaxConnections, "client connections held at once; one more is answered 503 and closed")
	fs.DurationVar(&c.conn.ReadHeaderTimeout, "read-header-timeout", d.ReadHeaderTimeout, "longest a client may take to send a request's headers")
	fs.DurationVar(&c.conn.BodyTimeout, "body-timeout", d.BodyTimeout, "longest a client may take to send a request's body, after its headers (else 408)")
	fs.DurationVar(&c.conn.WriteTimeout, "write-timeout", d.WriteTimeout, "longest a client may take to read a reply, from its first byte (else the connection is closed)")
	fs.DurationVar(&c.conn.IdleTimeout, "idle-timeout", d.IdleTimeout, "longest an idle keep-alive connection is kept")
	fs.StringVar(&c.checkpointRecord, "checkpoint-record", "", "file recording the largest checkpoint the log published, outside the store, so that serve refuses a store "+
		"restored or rolled back behind it (default with file:DIR storage: DIR.published beside the directory; with PostgreSQL: none, give a file on a disk database restores do not touch)")
	keylessFlags(fs, &c.keyless)
	witnessFlags(fs, &c.witness)
	gcFlags(fs, &c.gc)
	tlsFlags(fs, &c.tls)
	return fs
}

// check refuses settings out of range or that do not go together, and
// resolves those derived from others.
func (c *serveConfig) check() (*serveConfig, error) {
	if c.checkpointInterval == 0 {
		c.checkpointInterval = defaultCheckpointInterval(c.storage, c.witness.policy != "")
	}
	if err := c.checkRanges(); err != nil {
		return nil, err
	}
	if (c.tls.cert == "") != (c.tls.key == "") {
		return nil, usageError{errors.New("--tls-cert and --tls-key go together: give both files, or neither to serve plain HTTP")}
	}
	c.publicURL = strings.TrimRight(c.publicURL, "/")
	if err := c.checkTiles(); err != nil {
		return nil, usageError{err}
	}
	if err := checkShard(c.shard); err != nil {
		return nil, err
	}
	if err := c.gc.resolve(); err != nil {
		return nil, err
	}
	if err := c.keyless.resolve(); err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// defaultCheckpointInterval is --checkpoint-interval when it is not given.
// Tessera's POSIX driver refuses less than 100 ms. With PostgreSQL, 25 ms
// takes the add→proof latency of 64 closed-loop clients from about 110 ms
// to about 80 ms (docs/benchmarks.md) for at most 40 checkpoint
// publications a second instead of 10, each a signature and a short
// transaction, and none while the log does not grow; with witnesses each
// publication is also a cosigning round trip to every witness, so those
// logs keep 100 ms.
func defaultCheckpointInterval(store string, witnessed bool) time.Duration {
	if storage.IsPostgres(store) && !witnessed {
		return 25 * time.Millisecond
	}
	return 100 * time.Millisecond
}

// checkRanges refuses a numeric or duration flag outside what the server
// can work with, naming the flag and its range.
func (c *serveConfig) checkRanges() error {
	minInterval := 10 * time.Millisecond
	if !storage.IsPostgres(c.storage) {
		minInterval = 100 * time.Millisecond // Tessera's POSIX driver refuses less
	}
	return checkRanges(append(c.witness.rangeChecks(), c.tls.rangeCheck(),
		durationIn("checkpoint-interval", c.checkpointInterval, minInterval, time.Hour),
		durationIn("checkpoint-republish-interval", c.republishInterval, max(c.checkpointInterval, time.Second), 24*time.Hour),
		intIn("batch-max-size", c.batchMaxSize, 1, 1<<16),
		durationIn("batch-max-age", c.batchMaxAge, time.Millisecond, time.Minute),
		durationIn("await-poll", c.awaitPoll, time.Millisecond, 10*time.Second),
		intIn("pushback-max-outstanding", c.pushbackMaxOutstanding, 1, 1<<24),
		intIn("max-request-bytes", c.maxRequestBytes, 1<<10, 64<<20),
		intIn("max-key-bytes", c.limits.MaxKeyBytes, 32, 64<<10),
		intIn("max-certificate-bytes", c.limits.MaxCertificateBytes, 128, 1<<20),
		intIn("max-signature-bytes", c.limits.MaxSignatureBytes, 32, 64<<10),
		durationIn("add-timeout", c.addTimeout, 100*time.Millisecond, 10*time.Minute),
		durationIn("shutdown-timeout", c.shutdownTimeout, 0, time.Hour),
		intIn("max-inflight-adds", c.maxInflightAdds, 1, 1<<20),
		intIn("search-page-bytes", c.searchPageBytes, 16<<10, 64<<20),
		intIn("read-cache-bytes", c.readCacheBytes, 1<<20, 1<<40),
		intIn("search-concurrency", c.searchConcurrency, 1, 4096),
		intIn("max-connections", c.conn.MaxConnections, 16, maxConnectionsAllowed()),
		durationIn("read-header-timeout", c.conn.ReadHeaderTimeout, 100*time.Millisecond, 10*time.Minute),
		durationIn("body-timeout", c.conn.BodyTimeout, 100*time.Millisecond, 10*time.Minute),
		durationIn("write-timeout", c.conn.WriteTimeout, 100*time.Millisecond, 10*time.Minute),
		durationIn("idle-timeout", c.conn.IdleTimeout, time.Second, time.Hour),
		durationIn("ca-validity", c.keyless.caValidity, time.Minute, 7*24*time.Hour),
		c.gc.rangeCheck(),
	)...)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return usageError{err}
	}
	cfg.gc.apply(logger)
	// Tessera logs through klog; send it to the same structured log. It
	// logs a failed poll every 100 ms while the store is down: keep one line
	// of each kind a minute.
	klog.SetSlogLogger(slog.New(outage.Collapse(logger.Handler(), outage.DefaultQuiet)).With("component", "tessera"))
	// A mistyped data directory must not become a new log with a new key:
	// a missing one is created only when it is the default, or with --init.
	create := cfg.init || isDefaultStorage(cfg.storage)
	if err := storage.Check(cfg.storage, create); err != nil {
		return err
	}
	// Listen first, so that with port 0 the public URL (and with it the
	// trusted root) names the port actually bound.
	ln, metricsLn, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	if cfg.publicURL == "" {
		cfg.publicURL = cfg.tls.scheme() + "://" + ln.Addr().String()
	}
	sc, err := cfg.serverConfig(create, logger)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, sc)
	if err != nil {
		return err
	}
	logger.Info("serving", "listen", ln.Addr().String(), "public_url", cfg.publicURL,
		"origin", sc.Origin, "storage", storage.Redact(cfg.storage))
	reloadOnHangup(ctx, srv, logger)
	fmt.Fprintf(stdout, "mosaicd serving %s on %s://%s (origin %s)\n", cfg.publicURL, cfg.tls.scheme(), ln.Addr(), sc.Origin)
	return srv.Run(ctx, ln, metricsLn)
}

// isDefaultStorage reports whether spec is the default data directory,
// which serve creates on first start without --init.
func isDefaultStorage(spec string) bool {
	dir, ok := storage.FileDir(spec)
	return ok && filepath.Clean(dir) == filepath.Clean(strings.TrimPrefix(defaultStorage, "file:"))
}

// listen opens the API listener, and the metrics one with --metrics-listen.
func listen(cfg *serveConfig) (ln, metricsLn net.Listener, err error) {
	ln, err = net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s: %w", cfg.listen, err)
	}
	if cfg.metricsListen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.metricsListen); err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("listening on %s: %w", cfg.metricsListen, err)
		}
	}
	return ln, metricsLn, nil
}

// serverConfig turns the flags into the server's configuration: what the
// flags name (algorithms, the signing key, the keyless files) is parsed
// and loaded here.
func (c *serveConfig) serverConfig(create bool, logger *slog.Logger) (server.Config, error) {
	origin, err := resolveOrigin(c.origin, c.publicURL)
	if err != nil {
		return server.Config{}, usageError{err}
	}
	algs, err := entry.ParseAlgorithms(c.algorithms)
	if err != nil {
		return server.Config{}, usageError{fmt.Errorf("--allowed-algorithms: %w", err)}
	}
	duplicates, err := api.ParseDuplicates(c.duplicates)
	if err != nil {
		return server.Config{}, usageError{err}
	}
	decoder, err := entry.NewDecoder(c.limits, algs)
	if err != nil {
		return server.Config{}, usageError{err}
	}
	keyless, err := c.keyless.config()
	if err != nil {
		return server.Config{}, err
	}
	witness, err := c.witness.config()
	if err != nil {
		return server.Config{}, err
	}
	// The server loads the pair again; checking it here refuses a bad one
	// before a new log's key is created.
	if c.tls.cert != "" {
		if _, err := servingcert.Load(c.tls.cert, c.tls.key, nil, nil); err != nil {
			return server.Config{}, err
		}
	}
	key, err := loadOrCreateKey(c, logger)
	if err != nil {
		return server.Config{}, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	return server.Config{
		Storage: c.storage, Shard: c.shard, Init: create, AutoMigrate: c.autoMigrate, DiskReserve: c.diskReserve,
		Tiles: c.tiles, TilesPublicURL: c.tilesPublicURL,
		PublicURL: c.publicURL, Origin: origin, Key: key,
		Log: tlog.Config{
			BatchMaxSize: c.batchMaxSize, BatchMaxAge: c.batchMaxAge,
			CheckpointInterval: c.checkpointInterval, CheckpointRepublishInterval: c.republishInterval,
			AwaitPoll: c.awaitPoll, PushbackMaxOutstanding: c.pushbackMaxOutstanding,
			MaxInflightAdds: c.maxInflightAdds, ReadCacheBytes: c.readCacheBytes,
		},
		Decoder: decoder, MaxRequestBytes: c.maxRequestBytes, AddTimeout: c.addTimeout, Duplicates: duplicates,
		ConnLimits: c.conn, SearchIndex: c.searchIndex, Explorer: c.explorer, SearchPageBytes: c.searchPageBytes,
		SearchConcurrency: c.searchConcurrency, MetricsApart: c.metricsListen != "",
		ShutdownTimeout: c.shutdownTimeout, Keyless: keyless, Witness: witness, Logger: logger, Registry: reg,
		CheckpointRecord: checkpointRecordPath(c.checkpointRecord, c.storage, c.shard, logger),
		TLSCert:          c.tls.cert, TLSKey: c.tls.key, TLSPoll: c.tls.serverPoll(),
	}, nil
}

// checkpointRecordPath is --checkpoint-record, or its default: beside a
// file store's directory (DIR.published), where restoring or replacing
// the directory leaves it alone. A PostgreSQL store has no default (a
// file on one frontend's disk may not outlive it): serve warns instead.
// Shards share their origin, so each shard but main has its own record
// (DIR.SHARD.published).
func checkpointRecordPath(flag, spec, shard string, logger *slog.Logger) string {
	if flag != "" {
		return flag
	}
	if dir, ok := storage.FileDir(spec); ok {
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		if shard != storage.DefaultLogID {
			return filepath.Clean(dir) + "." + shard + ".published"
		}
		return filepath.Clean(dir) + ".published"
	}
	logger.Warn("no --checkpoint-record: a restore of the database to an older state would not be noticed, " +
		"and the log would fork; give a file on a disk that database restores do not touch")
	return ""
}

// resolveOrigin returns the explicit origin, or the one sigstore-go derives
// from the public URL.
func resolveOrigin(origin, publicURL string) (string, error) {
	if origin == "" {
		o, err := note.OriginFromURL(publicURL)
		if err != nil {
			return "", fmt.Errorf("--public-url: %w", err)
		}
		origin = o
	}
	return origin, note.ValidOrigin(origin)
}

// loadOrCreateKey reads the signing key, refusing a file that others can
// read. With file storage and no --signing-key, it uses (and on first start
// creates) a key inside the data directory.
func loadOrCreateKey(cfg *serveConfig, logger *slog.Logger) (crypto.Signer, error) {
	path := cfg.signingKey
	if path == "" {
		dir, ok := storage.FileDir(cfg.storage)
		if !ok {
			return nil, usageError{errors.New("--signing-key is required with this storage (create one with 'mosaicd keygen --out FILE')")}
		}
		path = defaultKeyPath(dir, cfg.shard)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if cfg.shard != storage.DefaultLogID && !cfg.init {
				return nil, usageError{fmt.Errorf("no shard %q in %s; pass --init to create it (with a new key)", cfg.shard, dir)}
			}
			if err := createKey(path, logger); err != nil {
				return nil, err
			}
		}
	}
	return readKey(path)
}

// readKey reads a checkpoint signing key, refusing a file that others can
// read.
func readKey(path string) (crypto.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s has mode %04o and is readable by group or others; run 'chmod 600 %s'",
			path, fi.Mode().Perm(), path)
	}
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	key, err := note.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return key, nil
}

// createKey writes a new Ed25519 key to path, in a data directory that
// storage.Check allowed to be created.
func createKey(path string, logger *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		return err
	}
	if err := writeKeyFile(path, key); err != nil {
		return err
	}
	logger.Info("created a new Ed25519 checkpoint signing key; back it up: the log cannot change keys", "path", path)
	return nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
