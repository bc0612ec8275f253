package soak

import (
	"bytes"
	"context"
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mosaiclog/mosaic/pkg/note"
)

// Stores names the stores Run can soak.
var Stores = []string{"posix", "postgres"}

// ServerConfig says how to run mosaicd for a soak.
type ServerConfig struct {
	// Binary is the mosaicd executable.
	Binary string
	// DatabaseServer is the PostgreSQL server the postgres store gets a
	// fresh database on (dropped afterwards); its own database is only
	// used to create and drop that one.
	DatabaseServer string
	// ServeArgs are added to `mosaicd serve` (after the soak's own flags).
	ServeArgs []string
	// Keep leaves the working directory (store, key, mosaicd's log) and
	// the database in place after the soak, and says where they are.
	Keep bool
	// Progress receives what is started and stopped (nil: nowhere).
	Progress io.Writer
}

// readyTimeout bounds mosaicd's start-up (migrations included).
const readyTimeout = time.Minute

// server is a mosaicd process started for one store.
type server struct {
	store   string
	url     string
	pub     crypto.PublicKey
	cmd     *exec.Cmd
	dir     string
	logPath string
	// done is closed when the process has exited; cmd.ProcessState is set
	// by then.
	done chan struct{}
	// dropDB drops the store's database (nil for posix).
	dropDB func() error
}

// startServer starts mosaicd on a fresh store on a free loopback port and
// waits until it is ready. On error nothing is left running.
func startServer(ctx context.Context, store string, sc ServerConfig) (srv *server, err error) {
	if sc.Binary == "" {
		return nil, errors.New("no mosaicd binary given")
	}
	// mosaicd runs in the store's directory: a relative path would name
	// another file there.
	binary, err := exec.LookPath(sc.Binary)
	if err == nil {
		binary, err = filepath.Abs(binary)
	}
	if err != nil {
		return nil, fmt.Errorf("mosaicd binary: %w (build it with make build, or pass --mosaicd)", err)
	}
	sc.Binary = binary
	dir, err := os.MkdirTemp("", "mosaic-soak-"+store+"-")
	if err != nil {
		return nil, err
	}
	srv = &server{store: store, dir: dir, logPath: filepath.Join(dir, "mosaicd.log"), done: make(chan struct{})}
	defer func() {
		if err != nil {
			srv.cleanup(sc.Keep, sc.Progress)
			srv = nil
		}
	}()
	addr, err := freeAddr()
	if err != nil {
		return srv, err
	}
	srv.url = "http://" + addr
	keyPath := filepath.Join(dir, "signing-key.pem")
	if srv.pub, err = keygen(ctx, sc.Binary, keyPath, srv.url); err != nil {
		return srv, err
	}
	var storage string
	var fresh []string // what lets mosaicd create the store
	switch store {
	case "posix":
		storage = "file:" + filepath.Join(dir, "data")
		fresh = []string{"--init"}
	case "postgres":
		var db string
		if db, srv.dropDB, err = createDatabase(ctx, sc.DatabaseServer); err != nil {
			return srv, err
		}
		storage = db
	default:
		return srv, fmt.Errorf("unknown store %q (want one of %s)", store, strings.Join(Stores, ", "))
	}
	args := append([]string{"serve", "--listen", addr, "--public-url", srv.url, "--storage", storage,
		"--signing-key", keyPath}, fresh...)
	args = append(args, sc.ServeArgs...)
	if err := srv.start(sc.Binary, args); err != nil {
		return srv, err
	}
	if err := srv.waitReady(ctx); err != nil {
		srv.kill()
		return srv, err
	}
	return srv, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// keygen runs `mosaicd keygen` and returns the public key it prints.
func keygen(ctx context.Context, binary, keyPath, publicURL string) (crypto.PublicKey, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, "keygen", "--out", keyPath, "--public-url", publicURL)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s keygen: %w: %s", binary, err, bytes.TrimSpace(stderr.Bytes()))
	}
	block, _ := pem.Decode(stdout.Bytes())
	if block == nil {
		return nil, fmt.Errorf("%s keygen printed no PEM public key", binary)
	}
	return note.ParsePublicKey(pem.EncodeToMemory(block))
}

func (s *server) start(binary string, args []string) error {
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Dir = s.dir
	s.cmd.SysProcAttr = childAttr()
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", binary, err)
	}
	go func() {
		_ = s.cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	return nil
}

// waitReady polls /readyz until it answers 200.
func (s *server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("mosaicd exited during start-up (%v):\n%s", s.cmd.ProcessState, s.logTail(20))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, s.url+"/readyz", nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		cancel()
		if err == nil && res.StatusCode == http.StatusOK {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("mosaicd not ready within %s:\n%s", readyTimeout, s.logTail(20))
}

// target describes the running server for Soak.
func (s *server) target() Target {
	return Target{Store: s.store, URL: s.url, Origin: "127.0.0.1", PublicKey: s.pub, PID: s.cmd.Process.Pid, Done: s.done}
}

// stop sends SIGTERM, waits (at most a minute) for the exit, then kills.
// It returns how the process ended.
func (s *server) stop() string {
	select {
	case <-s.done:
		return s.cmd.ProcessState.String() + " (before the soak stopped it)"
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.cmd.ProcessState.String()
	case <-time.After(time.Minute):
		s.kill()
		return "killed: no exit within a minute of SIGTERM"
	}
}

func (s *server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// cleanup drops the database and removes the directory, unless keep.
func (s *server) cleanup(keep bool, progress io.Writer) {
	if keep {
		fmt.Fprintf(progressOr(progress), "soak %s: kept %s (mosaicd.log, key, store)\n", s.store, s.dir)
		return
	}
	if s.dropDB != nil {
		if err := s.dropDB(); err != nil {
			fmt.Fprintf(progressOr(progress), "soak %s: %v\n", s.store, err)
		}
	}
	_ = os.RemoveAll(s.dir)
}

// logTail returns the last n lines of mosaicd's output.
func (s *server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

func progressOr(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// pidString is for messages.
func (s *server) pidString() string { return strconv.Itoa(s.cmd.Process.Pid) }
