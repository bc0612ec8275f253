package benchload

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// The servers a run compares.
const (
	StorePosix    = "posix"       // mosaicd, embedded store
	StorePostgres = "postgres"    // mosaicd, PostgreSQL store
	StoreRekor    = "rekor-tiles" // rekor-tiles' POSIX server, tuned
)

// Stores lists every server the ladder can run, in the order runs
// alternate.
var Stores = []string{StorePosix, StorePostgres, StoreRekor}

// The read references: the embedded store's filled log served by
// `mosaic-load serve-files`, as a plain static web server (StoreFiles)
// and from memory by a bare net/http handler (StoreMemory). They serve
// files only, so they take the kinds of FileKinds.
const (
	StoreFiles  = "files"
	StoreMemory = "memory"
)

// logStore is the store whose cached log store's reads run against: the
// embedded store's for the references, store's own otherwise.
func logStore(store string) string {
	if store == StoreFiles || store == StoreMemory {
		return StorePosix
	}
	return store
}

// ReadStores lists every store the reads can run against.
var ReadStores = []string{StorePosix, StorePostgres, StoreFiles, StoreMemory}

// FileKinds are the read kinds a static server can answer.
var FileKinds = []string{"checkpoint", "tile", "partial-tile", "bundle", "partial-bundle"}

// RekorTunedFlags are the rekor-tiles flags the comparison runs with: its
// best latency (its defaults, 10s checkpoints and 250ms batches, are ten
// times slower).
var RekorTunedFlags = []string{"--checkpoint-interval", "100ms", "--batch-max-age", "20ms"}

// readyTimeout bounds a server's start-up (a search index catching up on a
// large log is waited for separately).
const readyTimeout = 2 * time.Minute

// server is one running server under test.
type server struct {
	store   string
	url     string
	keyPath string // the log's PEM public key, for --log-key
	proc    *process
	// dbPIDs reads the CPU of the database's processes (nil: no database).
	dbCPU func() map[int]time.Duration
	// cleanup removes what the server was started on (nil: nothing).
	cleanup func()
}

// keygen writes a fresh Ed25519 key with mosaicd keygen and the public
// key beside it (PEM), for publicURL; rekor-tiles reads the same PKCS#8.
func keygen(ctx context.Context, mosaicd, dir, publicURL string) (priv, pub string, err error) {
	priv, pub = filepath.Join(dir, "signing-key.pem"), filepath.Join(dir, "public-key.pem")
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, mosaicd, "keygen", "--out", priv, "--public-url", publicURL)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("%s keygen: %w: %s", mosaicd, err, bytes.TrimSpace(stderr.Bytes()))
	}
	start := bytes.Index(stdout.Bytes(), []byte("-----BEGIN PUBLIC KEY-----"))
	end := bytes.Index(stdout.Bytes(), []byte("-----END PUBLIC KEY-----"))
	if start < 0 || end < start {
		return "", "", fmt.Errorf("%s keygen printed no PEM public key", mosaicd)
	}
	block := stdout.Bytes()[start : end+len("-----END PUBLIC KEY-----")]
	return priv, pub, os.WriteFile(pub, append(block, '\n'), 0o644)
}

// startMosaicd starts mosaicd on storage (a file: directory or a
// postgres:// URL) with the key at keyPath, its public key at pubPath, on
// a free port, and waits for /readyz.
func startMosaicd(ctx context.Context, cfg *Config, store, dir, storage, keyPath, pubPath string, extra ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"serve", "--listen", addr, "--public-url", "http://" + addr, "--storage", storage,
		"--signing-key", keyPath, "--log-level", "warn"}, extra...)
	s := &server{store: store, url: "http://" + addr, keyPath: pubPath}
	if store == StorePostgres {
		s.dbCPU = func() map[int]time.Duration { return groupCPU("postgres") }
	}
	return s.launch(ctx, "mosaicd ("+store+")", dir, filepath.Join(dir, "mosaicd.log"), "/readyz", cfg.Mosaicd, args...)
}

// launch starts binary for s and waits until s.url+readyPath answers 200;
// a server that does not get there is stopped.
func (s *server) launch(ctx context.Context, name, dir, logPath, readyPath, binary string, args ...string) (*server, error) {
	p, err := startProcess(name, dir, logPath, binary, args...)
	if err != nil {
		return nil, err
	}
	s.proc = p
	if err := p.waitReady(ctx, s.url+readyPath, readyTimeout); err != nil {
		_ = p.stop()
		return nil, err
	}
	return s, nil
}

// startFiles serves the tlog-tiles directory dir with `mosaic-load
// serve-files` (--memory for StoreMemory) on a free port.
func startFiles(ctx context.Context, cfg *Config, store, dir, pubPath string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"serve-files", "--dir", filepath.Join(dir, "data"), "--listen", addr}
	if store == StoreMemory {
		args = append(args, "--memory")
	}
	s := &server{store: store, url: "http://" + addr, keyPath: pubPath}
	return s.launch(ctx, "mosaic-load serve-files ("+store+")", dir, filepath.Join(dir, "serve-files.log"), "/healthz", cfg.LoadTool, args...)
}

// startFresh starts store's server on a new, empty log in a new temporary
// directory (and, for PostgreSQL, a new database), removed by cleanup.
func startFresh(ctx context.Context, cfg *Config, store string) (srv *server, err error) {
	dir, err := os.MkdirTemp("", "mosaic-bench-"+store+"-")
	if err != nil {
		return nil, err
	}
	var dropDB func() error
	cleanup := func() {
		if dropDB != nil {
			if err := dropDB(); err != nil {
				fmt.Fprintf(cfg.progress(), "bench-load: %v\n", err)
			}
		}
		if !cfg.Keep {
			_ = os.RemoveAll(dir)
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	// The port is not known yet; the origin, the URL's hostname, is.
	keyPath, pubPath, err := keygen(ctx, cfg.Mosaicd, dir, "http://127.0.0.1")
	if err != nil {
		return nil, err
	}
	switch store {
	case StorePosix:
		srv, err = startMosaicd(ctx, cfg, store, dir, "file:"+filepath.Join(dir, "data"), keyPath, pubPath, "--init")
	case StorePostgres:
		var db string
		if db, dropDB, err = createDatabase(ctx, cfg.DatabaseServer, ""); err != nil {
			return nil, err
		}
		srv, err = startMosaicd(ctx, cfg, store, dir, db, keyPath, pubPath)
	case StoreRekor:
		srv, err = startRekor(ctx, cfg, dir, keyPath, pubPath)
	default:
		err = fmt.Errorf("unknown store %q", store)
	}
	if err != nil {
		return nil, err
	}
	srv.cleanup = cleanup
	return srv, nil
}

// startRekor starts rekor-tiles' POSIX server with the tuned flags on a
// fresh directory. Its HTTP API is Rekor v2's: the same write route,
// answering 201 with a TransparencyLogEntry.
func startRekor(ctx context.Context, cfg *Config, dir, keyPath, pubPath string) (*server, error) {
	if cfg.Rekor == "" {
		return nil, errors.New("no rekor-tiles binary given (make bench-tools builds it)")
	}
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	args := append([]string{"serve", "--http-address", "127.0.0.1", "--http-port", strconv.Itoa(ports[0]),
		"--grpc-address", "127.0.0.1", "--grpc-port", strconv.Itoa(ports[1]), "--http-metrics-port", strconv.Itoa(ports[2]),
		"--hostname", "127.0.0.1", "--storage-dir", filepath.Join(dir, "data"), "--signer-filepath", keyPath,
		"--log-level", "warn"}, RekorTunedFlags...)
	s := &server{store: StoreRekor, url: "http://127.0.0.1:" + strconv.Itoa(ports[0]), keyPath: pubPath}
	return s.launch(ctx, "rekor-tiles", dir, filepath.Join(dir, "rekor-server.log"), "/healthz", cfg.Rekor, args...)
}

// stop stops the server and removes what it ran on.
func (s *server) stop() error {
	err := s.proc.stop()
	if s.cleanup != nil {
		s.cleanup()
	}
	return err
}

// createDatabase creates database name (a random one when empty) on the
// PostgreSQL server at admin and returns its URL and a function that drops
// it.
func createDatabase(ctx context.Context, admin, name string) (string, func() error, error) {
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		return "", nil, fmt.Errorf("database server: want a postgres:// URL")
	}
	if name == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		name = "mosaic_bench_" + hex.EncodeToString(b[:])
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL at %s is unreachable (%w); start it, or pass --database-url", u.Redacted(), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	u.Path = "/" + name
	return u.String(), func() error { return dropDatabase(admin, name) }, nil
}

// databaseExists reports whether name exists on the server at admin.
func databaseExists(ctx context.Context, admin, name string) (bool, error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return false, fmt.Errorf("PostgreSQL is unreachable: %w", err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n)
	return n > 0, err
}

func dropDatabase(admin, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connecting to drop database %s: %w", name, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping database %s: %w", name, err)
	}
	return nil
}

// databaseURL is the URL of database name on the server at admin.
func databaseURL(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}
