package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgCtlTimeout bounds each initdb and pg_ctl run, crash recovery included.
const pgCtlTimeout = 60 * time.Second

// Cluster is a private PostgreSQL server (a "cluster" in PostgreSQL's words)
// owned by one test, for tests that must stop, crash or restart the database
// under a running mosaicd — which the shared server must never suffer.
//
// It listens on 127.0.0.1 on a port of its own, trusts every local
// connection, and keeps its data and socket in a directory under the system
// temporary directory that is removed, with the server stopped, when the test
// ends. Stop, Crash and Start keep the port, so URLs stay valid across them.
// Its methods are safe for concurrent use but not meant to race each other.
type Cluster struct {
	t    testing.TB
	bin  string // PostgreSQL's bin directory (initdb, pg_ctl)
	base string // owned by the server's OS user, mode 0700: socket, log file
	data string // the data directory, base/data
	port int
	// asUser is the OS user the server runs as when the test runs as root
	// (PostgreSQL refuses to run as root), else "".
	asUser string

	mu      sync.Mutex // guards running and serializes pg_ctl runs
	running bool       // the last pg_ctl start succeeded and no stop followed
}

// NewCluster creates and starts a private PostgreSQL server for t, and stops
// and deletes it when t ends. When PostgreSQL's programs (initdb, pg_ctl)
// cannot be found, or the test runs as root and there is no "postgres" OS user
// to run the server as, t is skipped, or failed when the environment variable
// CI is "true". Set MOSAIC_TEST_PG_BINDIR to choose the bin directory.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := findBinDir()
	if err != nil {
		unavailable(t, err)
		return nil
	}
	c := &Cluster{t: t, bin: bin}
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
		if _, err := user.Lookup(c.asUser); err != nil {
			unavailable(t, fmt.Errorf("running as root, but there is no %q OS user to run PostgreSQL as: %w", c.asUser, err))
			return nil
		}
	}
	if err := c.makeDirs(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(c.cleanup)
	if out, err := c.run("initdb", "-D", c.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	// A free port found by listening may be taken again before the server
	// binds it; try a few.
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			t.Fatalf("pgtest: finding a free port: %v", err)
		}
		err = c.start()
		if err == nil {
			return c
		}
		if attempt == 3 {
			t.Fatalf("pgtest: starting PostgreSQL: %v", err)
		}
	}
}

// unavailable skips t, or fails it under CI, because no private server can
// be run here.
func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("pgtest: cannot run a private PostgreSQL server: %v; "+
		"install PostgreSQL's server programs (Debian: apt-get install postgresql) or set MOSAIC_TEST_PG_BINDIR", err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// findBinDir returns a directory holding initdb and pg_ctl: the one named by
// MOSAIC_TEST_PG_BINDIR, pg_config's, or the newest /usr/lib/postgresql/*/bin.
func findBinDir() (string, error) {
	var candidates []string
	if d := os.Getenv("MOSAIC_TEST_PG_BINDIR"); d != "" {
		candidates = append(candidates, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	globbed, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(globbed, func(a, b string) int { return versionOf(b) - versionOf(a) })
	candidates = append(candidates, globbed...)
	for _, d := range candidates {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errors.New("no initdb and pg_ctl in MOSAIC_TEST_PG_BINDIR, pg_config --bindir or /usr/lib/postgresql/*/bin")
}

// versionOf reads the major version from /usr/lib/postgresql/<v>/bin.
func versionOf(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// makeDirs creates the base directory, owned by the server's user. It is not
// under t.TempDir, whose parents are private to the test's (root) user.
func (c *Cluster) makeDirs() error {
	base, err := os.MkdirTemp("", "mosaic-pgtest-")
	if err != nil {
		return err
	}
	c.base, c.data = base, filepath.Join(base, "data")
	if c.asUser == "" {
		return nil
	}
	u, err := user.Lookup(c.asUser)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(base, uid, gid); err != nil {
		return fmt.Errorf("handing %s to the %s OS user: %w", base, c.asUser, err)
	}
	return nil
}

// run runs one of PostgreSQL's programs as the server's user and returns its
// combined output.
func (c *Cluster) run(prog string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgCtlTimeout)
	defer cancel()
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.base // the server's user may not enter the test's working directory
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// start runs pg_ctl start and waits until the server accepts connections.
func (c *Cluster) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", c.port, c.base)
	out, err := c.run("pg_ctl", "-D", c.data, "-l", c.logPath(), "-o", opts, "-w", "-t", "60", "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s\nserver log:\n%s", err, out, c.logTail())
	}
	c.running = true
	return nil
}

// stop runs pg_ctl stop in mode ("fast" or "immediate") and waits for the
// server to exit.
func (c *Cluster) stop(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, err := c.run("pg_ctl", "-D", c.data, "-m", mode, "-w", "-t", "60", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	c.running = false
	return nil
}

func (c *Cluster) logPath() string { return filepath.Join(c.base, "server.log") }

// logTail returns the end of the server's log, for failure messages.
func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.logPath())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// URL returns a postgres:// URL for database db on this server, as the
// superuser "postgres" over TCP.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// CreateDatabase creates an empty database named name and returns its URL.
func (c *Cluster) CreateDatabase(name string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		c.t.Fatalf("pgtest: connecting to the private server: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		c.t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	return c.URL(name)
}

// Stop shuts the server down cleanly (pg_ctl stop -m fast): open sessions
// are disconnected, their transactions rolled back, and a shutdown
// checkpoint is written.
func (c *Cluster) Stop() {
	c.t.Helper()
	if err := c.stop("fast"); err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
}

// Crash stops the server as a crash would (pg_ctl stop -m immediate): every
// server process quits at once without a checkpoint, so the next Start runs
// crash recovery from the write-ahead log. Committed transactions survive;
// clients see their connections drop mid-statement.
func (c *Cluster) Crash() {
	c.t.Helper()
	if err := c.stop("immediate"); err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
}

// Start starts the stopped server again on the same port and returns once it
// accepts connections (after crash recovery, if it crashed).
func (c *Cluster) Start() {
	c.t.Helper()
	if err := c.start(); err != nil {
		c.t.Fatalf("pgtest: %v", err)
	}
}

// cleanup stops the server if it runs and removes its files. A postmaster.pid
// file means a server may run even though no start succeeded (pg_ctl gave up
// waiting for it).
func (c *Cluster) cleanup() {
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err == nil {
		running = true
	}
	if running {
		if err := c.stop("immediate"); err != nil {
			c.t.Errorf("pgtest: stopping the private server at the end of the test: %v", err)
		}
	}
	if err := os.RemoveAll(c.base); err != nil {
		c.t.Errorf("pgtest: removing %s: %v", c.base, err)
	}
}
