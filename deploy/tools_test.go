package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The tool versions 'make tools' builds (see the Makefile).
const (
	helmVersion     = "v4.3.2"
	promtoolVersion = "v0.316.0"
)

// tool returns the path of an outside program built by 'make tools' into
// ~/.cache/mosaic-tools/<name>-<version>, failing t in CI and skipping it
// elsewhere when it is missing.
func tool(t *testing.T, name, version string) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	path := filepath.Join(home, ".cache", "mosaic-tools", name+"-"+version, name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	msg := fmt.Sprintf("%s %s not found at %s; build it with 'make tools'", name, version, path)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// run runs a command and fails t, with its output, when it fails.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.Bytes()
}

var (
	mosaicdOnce sync.Once
	mosaicdPath string
	mosaicdErr  error
)

// mosaicd builds this tree's mosaicd once for the package's tests.
func mosaicd(t *testing.T) string {
	t.Helper()
	mosaicdOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mosaic-deploy-test-")
		if err != nil {
			mosaicdErr = err
			return
		}
		mosaicdPath = filepath.Join(dir, "mosaicd")
		cmd := exec.Command("go", "build", "-o", mosaicdPath, "./cmd/mosaicd")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			mosaicdErr = fmt.Errorf("go build ./cmd/mosaicd: %v\n%s", err, out)
		}
	})
	if mosaicdErr != nil {
		t.Fatal(mosaicdErr)
	}
	return mosaicdPath
}

// serveEnv returns the environment variables 'mosaicd serve --help' lists,
// one per flag, so that a deployment file naming one mosaicd lacks fails.
func serveEnv(t *testing.T) map[string]bool {
	t.Helper()
	cmd := exec.Command(mosaicd(t), "serve", "--help")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mosaicd serve --help: %v\n%s", err, out)
	}
	env := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  --[a-z0-9-]+.*\[(MOSAIC_[A-Z0-9_]+)\]$`).FindAllSubmatch(out, -1) {
		env[string(m[1])] = true
	}
	if len(env) < 30 || !env["MOSAIC_STORAGE"] || !env["MOSAIC_SIGNING_KEY"] {
		t.Fatalf("read only %d variables from mosaicd serve --help:\n%s", len(env), out)
	}
	return env
}

// checkEnvNames fails t for every MOSAIC_ name that is no serve flag's.
func checkEnvNames(t *testing.T, where string, names []string) {
	t.Helper()
	known := serveEnv(t)
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, "MOSAIC_") && !known[n] {
			t.Errorf("%s: %s is no 'mosaicd serve' flag's variable", where, n)
		}
	}
}
