// Package witnesstest runs real C2SP witnesses for tests: litewitness from
// filippo.io/torchwood (installed by .ci/run, see the README's development
// section), with its key in an ssh-agent of the test's own and its logs
// configured with witnessctl. Nothing here is a mock.
package witnesstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// ToolsEnv names the directory holding litewitness and witnessctl; by
// default $HOME/.cache/mosaic-tools/torchwood-<Version>, where 'make tools'
// (run by .ci/run) installs them.
const ToolsEnv = "MOSAIC_TOOLS_BIN"

// Version is the torchwood release the tests drive; the Makefile pins the same.
const Version = "v0.6.1"

// Tool returns the path of a witness tool, failing t in CI and skipping it
// elsewhere (with how to install it) when the tool is missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv(ToolsEnv)
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "mosaic-tools", "torchwood-"+Version)
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found in %s or PATH; install it with 'make tools' (go install filippo.io/torchwood/cmd/%s@%s)", name, dir, name, Version)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Witness is a running litewitness.
type Witness struct {
	// Name is the witness's name and VKey its cosignature/v1 verifier key.
	Name, VKey string
	// URL is the base URL of its HTTP API (add-checkpoint is URL+"/add-checkpoint").
	URL string

	t      testing.TB
	dir    string
	db     string
	agent  string
	fp     string
	listen string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

// Start starts a witness named name with a fresh key; it is stopped when t
// ends.
func Start(t testing.TB, name string) *Witness {
	t.Helper()
	_, _ = Tool(t, "litewitness"), Tool(t, "witnessctl")
	// Unix socket paths are short: keep the agent's socket under /tmp.
	dir, err := os.MkdirTemp("", "witness-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &Witness{Name: name, t: t, dir: dir, db: filepath.Join(dir, "witness.db"), agent: filepath.Join(dir, "agent.sock")}
	key := filepath.Join(dir, "key")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key)
	agent := exec.Command("ssh-agent", "-D", "-a", w.agent)
	if err := agent.Start(); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	waitFor(t, "ssh-agent socket", func() bool { _, err := os.Stat(w.agent); return err == nil })
	cmd := exec.Command("ssh-add", "-q", key)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+w.agent)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
	fp := run(t, "ssh-keygen", "-lf", key+".pub")
	w.fp = strings.Fields(fp)[1]
	w.listen = freeAddr(t)
	w.URL = "http://" + w.listen
	w.Restart()
	t.Cleanup(w.Stop)
	return w
}

var vkeyLine = regexp.MustCompile(`vkey=(\S+)`)

// Restart starts the witness again after Stop, on the same address, key
// and database.
func (w *Witness) Restart() {
	t := w.t
	t.Helper()
	w.mu.Lock()
	if w.cmd != nil {
		w.mu.Unlock()
		t.Fatalf("witness %s is running", w.Name)
	}
	w.log.Reset()
	cmd := exec.Command(Tool(t, "litewitness"), "-db", w.db, "-key", w.fp, "-name", w.Name,
		"-listen", w.listen, "-ssh-agent", w.agent)
	out := &lockedWriter{mu: &w.mu, b: &w.log}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		w.mu.Unlock()
		t.Fatalf("litewitness: %v", err)
	}
	done := make(chan struct{})
	w.cmd, w.done = cmd, done
	w.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()
	waitFor(t, "litewitness listening", func() bool {
		select {
		case <-done:
			t.Fatalf("litewitness exited:\n%s", w.Log())
		default:
		}
		w.mu.Lock()
		if m := vkeyLine.FindStringSubmatch(w.log.String()); m != nil {
			w.VKey = m[1]
		}
		ok := w.VKey != ""
		w.mu.Unlock()
		c, err := net.DialTimeout("tcp", w.listen, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return ok && err == nil
	})
}

// Stop stops the witness (as a crash would: SIGKILL). Safe to call twice.
func (w *Witness) Stop() {
	w.mu.Lock()
	cmd, done := w.cmd, w.done
	w.cmd = nil
	w.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Log is what the witness printed.
func (w *Witness) Log() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.String()
}

// AddLog makes the witness accept checkpoints of the log origin signed by
// the note verifier key logVKey.
func (w *Witness) AddLog(origin, logVKey string) {
	w.t.Helper()
	ctl := Tool(w.t, "witnessctl")
	run(w.t, ctl, "add-log", "-db", w.db, "-origin", origin)
	run(w.t, ctl, "add-key", "-db", w.db, "-origin", origin, "-key", logVKey)
}

// PolicyLine is the witness's line in a Tessera/rekor-tiles witness policy.
func (w *Witness) PolicyLine(name string) string {
	return fmt.Sprintf("witness %s %s %s", name, w.VKey, w.URL)
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

// Write appends to the witness's log.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
