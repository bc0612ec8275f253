package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/pgtest"
)

// The README test runs every ```sh block of README.md with bash, in order, as
// a newcomer following the README on a fresh clone would: in a copy of the
// work tree (tracked and new files, none of bin/, mosaic-data/ or other
// ignored files), with a fresh HOME and GOPATH, one shell state (exported
// variables, working directory) carried from block to block as one terminal
// carries it, and `set -euo pipefail`, so a failing command anywhere fails
// the test.
//
// An HTML comment right before a block (invisible on GitHub) says how to run
// it; a block without one runs in the foreground and must exit 0:
//
//	<!-- readme-test: background, ready URL -->
//	    The block starts a server that a reader leaves running in a second
//	    terminal. It runs in its own process group, in the background, and
//	    the next block waits until URL answers 200 (or the block exits, which
//	    fails the test).
//	<!-- readme-test: stop -->
//	    Stands alone, where the README tells the reader to stop the servers
//	    (Ctrl-C): every background block still running gets SIGINT, as
//	    Ctrl-C sends it, and the test waits until each has exited and freed
//	    its port, so later blocks can start other servers on the same port.
//	<!-- readme-test: fails -->
//	    The block shows a refusal: it must exit non-zero (set -e: at its
//	    first failing command, so make it one command).
//	<!-- readme-test: file NAME -->
//	    The block (any language) is a file the reader saves as NAME in the
//	    current directory; the test writes it there.
//	<!-- readme-test: ci-runs-this -->
//	    The block is `make test`, which CI runs and which runs this test: run
//	    from here it would recurse. Allowed on no other block.
//
// Fenced blocks in bash, shell or console are refused: a shell block is
// ```sh, so that none escapes this test.
//
// PostgreSQL: the README creates a role and a database as a superuser on
// 127.0.0.1 with libpq's default port. The test gives it a private, empty
// server of its own (pgtest.NewCluster) through PGPORT, which psql and
// mosaicd (pgx) both read, so the commands run as written without touching
// the shared server or leaving a database behind.
//
// The tools the README uses (bash, make, git, curl, jq, psql, cosign
// v3.1.3, which .ci/run installs, and OpenSSH's ssh-keygen, ssh-agent and
// ssh-add for the witness) and a free port for each server must be
// there: without them the test is skipped with the reason, and fails under
// CI (CI=true), which must never pass by skipping.
func TestReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("the README test builds and runs servers; not in -short")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseReadme(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	for _, tool := range []string{"bash", "make", "git", "go", "curl", "jq", "psql", "cosign", "ssh-keygen", "ssh-agent", "ssh-add"} {
		if _, err := exec.LookPath(tool); err != nil {
			readmeNeeds(t, fmt.Sprintf("the README uses %s, which is not on PATH (.ci/run installs what CI lacks)", tool))
		}
	}
	for _, s := range steps {
		if s.ready == "" {
			continue
		}
		u, _ := url.Parse(s.ready)
		if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			c.Close()
			readmeNeeds(t, fmt.Sprintf("something already listens on %s (README line %d starts a server there): stop it (make run?) first", u.Host, s.line))
		}
	}

	work := t.TempDir()
	repo := filepath.Join(work, "mosaic")
	copyWorkTree(t, "..", repo)
	r := &readmeRun{t: t, work: work, repo: repo, state: filepath.Join(work, "shell-state.sh")}
	r.env = readmeEnv(t, work, pgtest.NewCluster(t))
	if err := os.WriteFile(r.state, fmt.Appendf(nil, "cd -- %s\n", shellQuote(repo)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stopAll)
	for _, s := range steps {
		r.do(s)
		if t.Failed() {
			return
		}
	}
	r.stopAll()
	if left := unignoredNewFiles(t, "..", repo); len(left) > 0 {
		t.Errorf("the README leaves files that git would show in a clone (add them to .gitignore): %s", strings.Join(left, ", "))
	}
}

// unignoredNewFiles returns the files under dst that the work tree src has
// not and that its .gitignore does not ignore: what `git status` would show a
// reader after the walk-through.
func unignoredNewFiles(t *testing.T, src, dst string) []string {
	t.Helper()
	out, err := exec.Command("git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, name := range strings.Split(string(out), "\x00") {
		known[name] = true
	}
	var fresh []string
	err = filepath.WalkDir(dst, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dst, path)
		if err == nil && !known[filepath.ToSlash(rel)] {
			fresh = append(fresh, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) == 0 {
		return nil
	}
	// check-ignore prints the ignored ones; exit status 1 means none is.
	cmd := exec.Command("git", "-C", src, "check-ignore", "--no-index", "--stdin")
	cmd.Stdin = strings.NewReader(strings.Join(fresh, "\n") + "\n")
	out, err = cmd.Output()
	if err != nil && cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("git check-ignore: %v", err)
	}
	ignored := map[string]bool{}
	for _, name := range strings.Split(string(out), "\n") {
		ignored[name] = true
	}
	var left []string // named by their top directory, once
	seen := map[string]bool{}
	for _, name := range fresh {
		top, _, isDir := strings.Cut(name, "/")
		if isDir {
			top += "/"
		}
		if !ignored[name] && !seen[top] {
			seen[top] = true
			left = append(left, top)
		}
	}
	return left
}

// TestReadmeAnnotations checks, even in -short, that the README's
// annotations parse and that it has the blocks the README test relies on.
func TestReadmeAnnotations(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseReadme(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	kinds := map[string]int{}
	for _, s := range steps {
		kinds[s.kind]++
		t.Logf("README.md:%d %-12s %s", s.line, s.kind, strings.SplitN(s.text, "\n", 2)[0])
	}
	if kinds["run"] == 0 || kinds["background"] == 0 || kinds["ci-runs-this"] != 1 {
		t.Errorf("README steps %v: want sh blocks, background servers and exactly one make test", kinds)
	}

	for _, tc := range []struct{ name, text, want string }{
		{"bash fence", "```bash\necho\n```\n", "```sh"},
		{"unknown directive", "<!-- readme-test: sometimes -->\n```sh\necho\n```\n", "unknown directive"},
		{"background without ready", "<!-- readme-test: background -->\n```sh\nx\n```\n", "go together"},
		{"dangling annotation", "<!-- readme-test: background, ready http://127.0.0.1:1/ -->\ntext\n", "not followed"},
		{"ci-runs-this elsewhere", "<!-- readme-test: ci-runs-this -->\n```sh\nmake demo\n```\n", "make test"},
		{"unclosed", "```sh\necho\n", "never closed"},
	} {
		if _, err := parseReadme(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// readmeNeeds skips the test for want of something the README needs, or
// fails it under CI.
func readmeNeeds(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// readmeStep is one thing the README asks its reader to do.
type readmeStep struct {
	line    int    // README line of the block's opening fence (or of a stop)
	section string // the heading above it, for messages
	kind    string // "run", "background", "stop", "file" or "ci-runs-this"
	ready   string // background: the URL that answers 200 once the server is up
	file    string // file: where the block is saved
	text    string // the block's content
}

var (
	annotationRE = regexp.MustCompile(`^<!--\s*readme-test:\s*(.*?)\s*-->\s*$`)
	fenceRE      = regexp.MustCompile("^```\\s*([A-Za-z0-9_-]*)")
)

// parseReadme returns the steps of a README in order: every ```sh block, the
// blocks annotated as files, and the stops. It refuses unknown annotations,
// an annotation with no block after it, and shell blocks not marked sh.
func parseReadme(text string) ([]readmeStep, error) {
	var (
		steps   []readmeStep
		pending *readmeStep // from an annotation, waiting for its block
		section string
	)
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		n := i + 1
		if m := annotationRE.FindStringSubmatch(line); m != nil {
			if pending != nil {
				return nil, fmt.Errorf("line %d: annotation of line %d has no block before this one", n, pending.line)
			}
			s, err := parseAnnotation(m[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			s.line, s.section = n, section
			if s.kind == "stop" {
				steps = append(steps, s)
			} else {
				pending = &s
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
		}
		m := fenceRE.FindStringSubmatch(line)
		if m == nil {
			if pending != nil && strings.TrimSpace(line) != "" {
				return nil, fmt.Errorf("line %d: annotation of line %d is not followed by a fenced block", n, pending.line)
			}
			continue
		}
		lang := m[1]
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("line %d: the block is never closed", n)
		}
		s := readmeStep{kind: "run"}
		if pending != nil {
			s, pending = *pending, nil
		}
		s.line, s.section, s.text = n, section, strings.Join(body, "\n")+"\n"
		switch {
		case lang == "bash" || lang == "shell" || lang == "console" || lang == "shell-session":
			return nil, fmt.Errorf("line %d: a shell block is ```sh (this one is %s), so that the README test runs it", n, lang)
		case s.kind == "file":
		case lang != "sh":
			if s.kind != "run" {
				return nil, fmt.Errorf("line %d: %s annotation on a %q block (only on sh blocks)", n, s.kind, lang)
			}
			continue
		case s.kind == "ci-runs-this" && strings.TrimSpace(stripComments(s.text)) != "make test":
			return nil, fmt.Errorf("line %d: ci-runs-this marks the block that is `make test` alone, not %q", n, s.text)
		}
		steps = append(steps, s)
	}
	if pending != nil {
		return nil, fmt.Errorf("line %d: annotation with no block after it", pending.line)
	}
	return steps, nil
}

// parseAnnotation reads the directives of one readme-test comment.
func parseAnnotation(spec string) (readmeStep, error) {
	var s readmeStep
	for _, d := range strings.Split(spec, ",") {
		word, arg, _ := strings.Cut(strings.TrimSpace(d), " ")
		arg = strings.TrimSpace(arg)
		switch {
		case word == "background" && arg == "":
			s.kind = "background"
		case word == "ready" && arg != "":
			if u, err := url.Parse(arg); err != nil || u.Host == "" {
				return s, fmt.Errorf("readme-test: ready %q: want an http URL", arg)
			}
			s.ready = arg
		case word == "stop" && arg == "", word == "ci-runs-this" && arg == "", word == "fails" && arg == "":
			s.kind = word
		case word == "file" && arg != "" && !strings.ContainsAny(arg, "/ "):
			s.kind, s.file = "file", arg
		default:
			return s, fmt.Errorf("readme-test: unknown directive %q (want background, ready URL, stop, fails, file NAME or ci-runs-this)", d)
		}
	}
	if (s.kind == "background") != (s.ready != "") {
		return s, errors.New("readme-test: background and ready URL go together")
	}
	if s.kind == "" {
		return s, fmt.Errorf("readme-test: %q says nothing to do", spec)
	}
	return s, nil
}

// stripComments drops shell comments and blank lines (good enough for the
// one-line blocks it checks).
func stripComments(sh string) string {
	var out []string
	for _, l := range strings.Split(sh, "\n") {
		l, _, _ = strings.Cut(l, "#")
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// copyWorkTree copies the files git knows of in src (tracked, and new ones
// not ignored) to dst, so the README runs on what a fresh clone of this work
// tree would hold, and nothing it builds or writes lands in the work tree.
func copyWorkTree(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.Command("git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("listing the work tree's files with git: %v", err)
	}
	for _, name := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		from, to := filepath.Join(src, name), filepath.Join(dst, name)
		fi, err := os.Lstat(from)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the work tree
		} else if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(from)
			if err == nil {
				err = os.Symlink(target, to)
			}
			if err != nil {
				t.Fatal(err)
			}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(from)
			if err == nil {
				err = os.WriteFile(to, b, fi.Mode().Perm())
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// readmeEnv is the environment of a newcomer's shell: this one without
// Mosaic's and Sigstore's variables, libpq's, GOPATH, GOBIN and
// XDG_STATE_HOME (so mosaic's verifier state is kept in the fresh home), with a fresh
// HOME and GOPATH under work (so make install installs there), Go's caches
// and settings kept (a fresh clone, not a fresh machine: GOCACHE, GOMODCACHE
// and GOENV as they were before HOME moved), and PGPORT naming the private
// PostgreSQL server.
func readmeEnv(t *testing.T, work string, pg *pgtest.Cluster) []string {
	t.Helper()
	goEnv := map[string]string{}
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOENV", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	vals := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, k := range []string{"GOCACHE", "GOMODCACHE", "GOENV", "GOROOT"} {
		if i < len(vals) {
			goEnv[k] = vals[i]
		}
	}
	pgURL, err := url.Parse(pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	home, gopath := filepath.Join(work, "home"), filepath.Join(work, "gopath")
	for _, d := range []string{home, gopath} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Set below, or what a newcomer's shell would not have (make's variables
	// come from make test).
	drop := map[string]bool{"HOME": true, "XDG_STATE_HOME": true, "GOPATH": true, "GOBIN": true, "GOCACHE": true, "GOMODCACHE": true,
		"GOENV": true, "PATH": true, "CDPATH": true, "BASH_ENV": true, "ENV": true, "MAKEFLAGS": true, "MFLAGS": true, "MAKELEVEL": true}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if drop[k] || strings.HasPrefix(k, "MOSAIC_") || strings.HasPrefix(k, "SIGSTORE_") || strings.HasPrefix(k, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home, "GOPATH="+gopath,
		"GOCACHE="+goEnv["GOCACHE"], "GOMODCACHE="+goEnv["GOMODCACHE"], "GOENV="+goEnv["GOENV"],
		"PATH="+filepath.Join(goEnv["GOROOT"], "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PGPORT="+pgURL.Port(),
	)
}

// readmeRun runs the steps of one README.
type readmeRun struct {
	t     *testing.T
	work  string   // the test's directory: the copy, HOME, GOPATH, logs
	repo  string   // the copy of the work tree the README runs in
	state string   // shell state carried from block to block
	env   []string // the shell's starting environment
	bg    []*backgroundBlock
	n     int // blocks run so far, to name their files
}

// backgroundBlock is a server started by a background block.
type backgroundBlock struct {
	step readmeStep
	cmd  *exec.Cmd
	log  string // its stdout and stderr
	done chan struct{}
}

const (
	blockTimeout = 5 * time.Minute // a foreground block (make demo compiles sigstore-go the first time)
	readyTimeout = 5 * time.Minute // a server, built first by make run
	stopTimeout  = time.Minute     // a server's drain after SIGINT
)

func (r *readmeRun) do(s readmeStep) {
	t := r.t
	where := fmt.Sprintf("README.md:%d (%s)", s.line, s.section)
	switch s.kind {
	case "ci-runs-this":
		t.Logf("%s: not run here: CI runs `make test`, which runs this test", where)
	case "stop":
		r.stopAll()
	case "file":
		dir := r.shellDir()
		if err := os.WriteFile(filepath.Join(dir, s.file), []byte(s.text), 0o644); err != nil {
			t.Fatalf("%s: saving %s: %v", where, s.file, err)
		}
		t.Logf("%s: saved as %s", where, s.file)
	case "run", "fails":
		r.n++
		cmd := r.shell(s, s.kind == "run")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := runGroup(cmd, blockTimeout)
		status := "exit status 0"
		if err != nil {
			status = err.Error()
		}
		t.Logf("%s, %.1fs, %s:\n%s%s", where, time.Since(start).Seconds(), status, indent(s.text, "  $ "), indent(tail(out.String(), 6000), "    "))
		var exit *exec.ExitError
		switch {
		case s.kind == "run" && err != nil:
			t.Fatalf("%s failed: %v", where, err)
		case s.kind == "fails" && !errors.As(err, &exit):
			t.Fatalf("%s: the block shows a refusal, but it ended with %s", where, status)
		}
	case "background":
		r.n++
		r.startBackground(s, where)
	}
}

// shell returns bash running the step's block in a fresh process group, after
// the shell state the earlier blocks left; with save, the block's exported
// variables and directory are saved for the next ones.
func (r *readmeRun) shell(s readmeStep, save bool) *exec.Cmd {
	block := filepath.Join(r.work, fmt.Sprintf("block-%02d-line-%d.sh", r.n, s.line))
	if err := os.WriteFile(block, []byte(s.text), 0o644); err != nil {
		r.t.Fatal(err)
	}
	script := "set -euo pipefail\nsource " + shellQuote(r.state) + "\nsource " + shellQuote(block) + "\n"
	if save {
		next := r.state + ".next"
		script += "{ export -p; printf 'cd -- %q\\n' \"$PWD\"; } > " + shellQuote(next) + " && mv " + shellQuote(next) + " " + shellQuote(r.state) + "\n"
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = r.env
	cmd.Dir = r.repo
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd // stdin is /dev/null: a block that asks a question fails
}

// shellDir is the directory the shell is in after the blocks so far.
func (r *readmeRun) shellDir() string {
	b, err := os.ReadFile(r.state)
	if err != nil {
		r.t.Fatal(err)
	}
	dir := r.repo
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "cd -- "); ok {
			if out, err := exec.Command("bash", "-c", "printf %s "+rest).Output(); err == nil {
				dir = string(out)
			}
		}
	}
	return dir
}

// runGroup runs cmd, kills its whole process group after timeout, and kills
// whatever the block left behind in its group when it is done.
func runGroup(cmd *exec.Cmd, timeout time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		err = fmt.Errorf("still running after %v: killed", timeout)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return err
}

func (r *readmeRun) startBackground(s readmeStep, where string) {
	t := r.t
	b := &backgroundBlock{step: s, log: filepath.Join(r.work, fmt.Sprintf("server-%02d-line-%d.log", r.n, s.line)), done: make(chan struct{})}
	f, err := os.Create(b.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b.cmd = r.shell(s, false)
	b.cmd.Stdout, b.cmd.Stderr = f, f
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	r.bg = append(r.bg, b)
	start := time.Now()
	deadline := start.Add(readyTimeout)
	for {
		select {
		case <-b.done:
			t.Fatalf("%s: the server exited (%v) before %s answered 200:\n%s\n%s", where, b.cmd.ProcessState, s.ready, indent(s.text, "  $ "), indent(tail(readFile(b.log), 6000), "    "))
		default:
		}
		if resp, err := http.Get(s.ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not answer 200 within %v:\n%s", where, s.ready, readyTimeout, indent(tail(readFile(b.log), 6000), "    "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s, in the background, ready after %.1fs:\n%s", where, time.Since(start).Seconds(), indent(s.text, "  $ "))
}

// stopAll stops the background servers, last started first, as Ctrl-C in
// their terminals would, and waits until each has exited with its whole
// process group (make run's mosaicd included) and its port is free.
func (r *readmeRun) stopAll() {
	t := r.t
	for i := len(r.bg) - 1; i >= 0; i-- {
		b := r.bg[i]
		pgid := b.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGINT)
		u, _ := url.Parse(b.step.ready)
		deadline := time.Now().Add(stopTimeout)
		for groupAlive(pgid) || portOpen(u.Host) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				t.Errorf("README.md:%d: the server did not stop within %v of SIGINT; killed:\n%s", b.step.line, stopTimeout, indent(tail(readFile(b.log), 6000), "    "))
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		<-b.done
		t.Logf("README.md:%d: server stopped; its output ended with:\n%s", b.step.line, indent(tail(readFile(b.log), 1500), "    "))
	}
	r.bg = nil
}

// groupAlive reports whether a process of group pgid runs (zombies, which
// the init process may be slow to reap, do not count).
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
		i := bytes.LastIndex(b, []byte(") "))
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			return true
		}
	}
	return false
}

func portOpen(hostport string) bool {
	c, err := net.DialTimeout("tcp", hostport, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix) + "\n"
}

// shellQuote quotes s for bash.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
