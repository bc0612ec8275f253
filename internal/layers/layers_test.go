package layers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/mosaiclog/mosaic/"

// pkg is what go list says of one package of the module.
type pkg struct {
	ImportPath string
	Imports    []string // direct
	Deps       []string // transitive
}

// rule forbids packages under from (a path prefix inside the module) to
// import anything under one of the forbidden prefixes, directly or, with
// transitive, through other packages. allow lists importers exempted, with
// the reason beside them.
type rule struct {
	why        string
	from       []string
	forbidden  []string
	transitive bool
	allow      map[string]string
}

var rules = []rule{
	{why: "pkg/ is the public Go API: it never imports internal/", from: []string{"pkg/"},
		forbidden: []string{"internal/"}, transitive: true},
	{why: "nothing imports a command", from: []string{""}, forbidden: []string{"cmd/"}, transitive: true},
	{why: "storage knows PostgreSQL, files and Tessera's driver contract; not HTTP serving, entries or the log above it",
		from:       []string{"internal/storage"},
		forbidden:  []string{"internal/api", "internal/httperr", "internal/entry", "internal/server", "internal/tlog", "internal/index", "github.com/go-chi/"},
		transitive: true},
	{why: "storage serves no HTTP (the PostgreSQL driver holds only the *http.Client Tessera's checkpoint publisher takes for witnesses)",
		from: []string{"internal/storage"}, forbidden: []string{"net/http"},
		allow: map[string]string{
			"internal/storage/postgres": "tessera.Driver's CheckpointPublisher takes an *http.Client",
			"internal/storage":          "LogOptions carries that *http.Client (witnesses) to either driver",
		}},
	{why: "the log service sits below the HTTP layer and its followers",
		from:       []string{"internal/tlog"},
		forbidden:  []string{"internal/api", "internal/server", "internal/index", "internal/monitor", "internal/audit", "github.com/go-chi/"},
		transitive: true},
	{why: "entries are parsed without knowing where they are stored or served",
		from:       []string{"internal/entry"},
		forbidden:  []string{"internal/tlog", "internal/storage", "internal/api", "internal/server"},
		transitive: true},
	{why: "entries are parsed, not fetched or served", from: []string{"internal/entry"}, forbidden: []string{"net/http"}},
	{why: "the HTTP layer is assembled by the server builder, never the other way",
		from: []string{"internal/api"}, forbidden: []string{"internal/server"}, transitive: true},
	{why: "a server is built in one place: mosaicd and the tests' mosaictest build it through internal/server, nothing else assembles or reaches into one",
		from: []string{""}, forbidden: []string{"internal/server"},
		allow: map[string]string{
			"internal/server":     "itself",
			"cmd/mosaicd":         "turns flags into a server.Config",
			"internal/mosaictest": "tests build servers as mosaicd does",
		}},
	{why: "the explorer shows the log and the index through their own APIs; it is mounted by the server, never reaches storage or the server",
		from:       []string{"internal/explorer"},
		forbidden:  []string{"internal/api", "internal/server", "internal/monitor", "internal/audit"},
		transitive: true},
	{why: "the explorer reads entries and tiles through the log service, not from the store under it",
		from: []string{"internal/explorer"}, forbidden: []string{"internal/storage"}},
	{why: "the log, its storage, entries and the index sit below the explorer",
		from:       []string{"internal/tlog", "internal/storage", "internal/entry", "internal/index", "internal/api"},
		forbidden:  []string{"internal/explorer"},
		transitive: true},
	{why: "outside followers (monitor, audit) are clients of a log, not parts of the server",
		from:       []string{"internal/api", "internal/tlog", "internal/storage", "internal/server", "internal/index"},
		forbidden:  []string{"internal/monitor", "internal/audit"},
		transitive: true},
}

// list runs go list over the module.
func list(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", "./...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[strings.TrimPrefix(p.ImportPath, module)] = p
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// under reports whether the module-relative path lies under prefix.
func under(path, prefix string) bool {
	if prefix == "" {
		return true
	}
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(path, prefix)
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// violations lists every import that breaks a rule.
func violations(pkgs map[string]pkg, rules []rule) []string {
	var out []string
	for name, p := range pkgs {
		for _, r := range rules {
			if !anyUnder(name, r.from) {
				continue
			}
			if _, ok := r.allow[name]; ok {
				continue
			}
			imports := p.Imports
			if r.transitive {
				imports = p.Deps
			}
			for _, imp := range imports {
				if forbidden(imp, r.forbidden) {
					out = append(out, fmt.Sprintf("%s imports %s: %s", name, strings.TrimPrefix(imp, module), r.why))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// forbidden reports whether the import path imp lies under one of the
// prefixes: "internal/", "cmd/" and "pkg/" name the module's own trees (the
// standard library's internal packages are not Mosaic's), anything else a
// full import path.
func forbidden(imp string, prefixes []string) bool {
	for _, f := range prefixes {
		own := strings.HasPrefix(f, "internal/") || strings.HasPrefix(f, "cmd/") || strings.HasPrefix(f, "pkg/")
		switch {
		case own && strings.HasPrefix(imp, module) && under(strings.TrimPrefix(imp, module), f):
			return true
		case !own && under(imp, f):
			return true
		}
	}
	return false
}

func anyUnder(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if under(path, p) {
			return true
		}
	}
	return false
}

func TestImportDirection(t *testing.T) {
	pkgs := list(t)
	for _, v := range violations(pkgs, rules) {
		t.Error(v)
	}
}

// The rules catch a violation: add one import that breaks each kind.
func TestImportDirectionCatches(t *testing.T) {
	pkgs := list(t)
	for _, c := range []struct{ from, imp string }{
		{"pkg/verify", module + "internal/entry"},
		{"internal/storage/postgres", module + "internal/api"},
		{"internal/storage", "github.com/go-chi/chi/v5"},
		{"internal/tlog", module + "internal/index"},
		{"internal/api", module + "cmd/mosaicd"},
	} {
		p, ok := pkgs[c.from]
		if !ok {
			t.Fatalf("no package %s", c.from)
		}
		p.Imports = append(append([]string(nil), p.Imports...), c.imp)
		p.Deps = append(append([]string(nil), p.Deps...), c.imp)
		changed := map[string]pkg{c.from: p}
		if v := violations(changed, rules); len(v) == 0 {
			t.Errorf("%s importing %s went unnoticed", c.from, c.imp)
		}
	}
}
