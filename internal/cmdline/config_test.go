package cmdline

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// configFlags is a small command's flags, of every kind a ConfigFile
// knows, and where they ended up.
type configFlags struct {
	storage   string
	conns     int
	size      uint
	timeout   time.Duration
	index     bool
	issuers   []string
	configArg string
}

func newConfigFlags() (*flag.FlagSet, *configFlags) {
	c := &configFlags{}
	fs := flag.NewFlagSet("mosaicd serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.storage, "storage", "file:./mosaic-data", "log storage")
	fs.IntVar(&c.conns, "max-connections", 4096, "client connections")
	fs.UintVar(&c.size, "batch-max-size", 512, "batch size")
	fs.DurationVar(&c.timeout, "add-timeout", 30*time.Second, "longest a write waits")
	fs.BoolVar(&c.index, "search-index", true, "follow the log into a search index")
	fs.Var(Repeatable(func(s string) error { c.issuers = append(c.issuers, s); return nil }), "oidc-issuer", "issuer, repeatable")
	fs.StringVar(&c.configArg, "config", "", "configuration file")
	return fs, c
}

func TestConfigApplies(t *testing.T) {
	fs, c := newConfigFlags()
	cf, err := ParseConfig("m.yaml", []byte(`# a comment
storage: "postgres://mosaic@db/mosaic"
max-connections: 100
batch-max-size: 64
add-timeout: 1m
search-index: false
oidc-issuer:
  - https://a.example
  - https://b.example
`), fs, "config")
	if err != nil {
		t.Fatal(err)
	}
	if err := cf.Apply(fs, func(name string) bool { return name == "batch-max-size" }); err != nil {
		t.Fatal(err)
	}
	if c.storage != "postgres://mosaic@db/mosaic" || c.conns != 100 || c.size != 512 || c.timeout != time.Minute ||
		c.index || !slices.Equal(c.issuers, []string{"https://a.example", "https://b.example"}) {
		t.Errorf("applied %+v", *c)
	}
	for _, empty := range []string{"", "# only a comment\n", "---\n"} {
		cf, err := ParseConfig("m.yaml", []byte(empty), fs, "config")
		if err != nil || len(cf.Keys()) != 0 {
			t.Errorf("%q: %v, %v", empty, cf, err)
		}
	}
}

// Every bad file is refused with the file, the line, the key and what was
// expected.
func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "storage: x\nstorag: y\n", `m.yaml:2: unknown key "storag"; did you mean storage?`},
		{"env spelling", "MOSAIC_STORAGE: x\n", `m.yaml:1: unknown key "MOSAIC_STORAGE"; did you mean storage?`},
		{"dashes", "--storage: x\n", `m.yaml:1: unknown key "--storage"`},
		{"no near key", "frobnicate: 1\n", `m.yaml:1: unknown key "frobnicate"` + "\x00"},
		{"config in config", "config: other.yaml\n", "m.yaml:1: config cannot be set in a configuration file"},
		{"help", "help: true\n", "m.yaml:1: help cannot be set in a configuration file"},
		{"duplicate", "storage: a\nmax-connections: 5\nstorage: b\n", "m.yaml:3: storage is set twice (first on line 1)"},
		{"bool as string", "search-index: \"false\"\n", `m.yaml:1: search-index: want true or false, not "false"`},
		{"bool as yes", "search-index: yes\n", `m.yaml:1: search-index: want true or false, not "yes"`},
		{"int as word", "max-connections: many\n", `m.yaml:1: max-connections: want an integer, not "many"`},
		{"int as float", "max-connections: 1.5\n", `m.yaml:1: max-connections: want an integer, not "1.5"`},
		{"null", "storage:\n", `m.yaml:1: storage: no value (for an empty string write "")`},
		{"list for one", "storage:\n  - a\n  - b\n", "m.yaml:2: storage: want one value, not a list (only repeatable flags take a list)"},
		{"mapping value", "storage:\n  file: x\n", "m.yaml:2: storage: want a value, not a mapping"},
		{"list of lists", "oidc-issuer:\n  - [a]\n", "m.yaml:2: oidc-issuer: want a value, not a list"},
		{"top list", "- storage: x\n", "m.yaml:1: want a mapping of settings, one per line (listen: 127.0.0.1:3000), not a list"},
		{"top scalar", "storage\n", `m.yaml:1: want a mapping of settings, one per line (listen: 127.0.0.1:3000), not "storage"`},
		{"flag syntax", "--storage x\n", `m.yaml:1: want a mapping of settings`},
		{"two documents", "storage: a\n---\nstorage: b\n", "m.yaml: holds more than one YAML document"},
		{"syntax", "storage: [a\n", "m.yaml: go-yaml load error in parser (while parsing a flow sequence) at L1.C10"},
		{"tab indent", "storage: a\n\tmax-connections: 3\n", "m.yaml: go-yaml load error in scanner (while scanning a plain scalar) at L1.C10"},
		{"int too large", "max-connections: 99999999999999999999\n", `m.yaml:1: max-connections: want an integer, not "99999999999999999999"`},
		{"complex key", "? [a]\n: b\n", "m.yaml:1: a key must be a flag name, not a list"},
		{"merge key", "base: &b {storage: x}\n", `m.yaml:1: unknown key "base"`},
		{"merge", "<<: {storage: x}\n", "m.yaml:1: a key must be a flag name"},
		{"huge", "storage: " + strings.Repeat("x", MaxConfigBytes) + "\n", "m.yaml: larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, _ := newConfigFlags()
			_, err := ParseConfig("m.yaml", []byte(tc.yaml), fs, "config")
			want, exact := strings.CutSuffix(tc.want, "\x00")
			if err == nil || !strings.HasPrefix(err.Error(), want) || (exact && err.Error() != want) {
				t.Fatalf("ParseConfig = %v, want an error starting %q", err, want)
			}
		})
	}
}

// A value of the right YAML type that the flag refuses is refused by
// Apply, naming file, line, key and what the flag takes.
func TestConfigApplyRefusals(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"add-timeout: 30\n", `m.yaml:1: add-timeout: invalid value "30" (want a duration such as 30s, 1m or 100ms): `},
		{"add-timeout: soon\n", `m.yaml:1: add-timeout: invalid value "soon" (want a duration`},
		{"batch-max-size: -1\n", `m.yaml:1: batch-max-size: invalid value "-1" (want an integer): `},
	} {
		fs, _ := newConfigFlags()
		cf, err := ParseConfig("m.yaml", []byte(tc.yaml), fs, "config")
		if err != nil {
			t.Fatalf("%q: ParseConfig: %v", tc.yaml, err)
		}
		if err := cf.Apply(fs, nil); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: Apply = %v, want an error starting %q", tc.yaml, err, tc.want)
		}
	}
}

// FuzzConfig: any file is refused or applies, never panics, and a file
// that parses names only known keys, each once.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"storage: x\nmax-connections: 3\nsearch-index: true\noidc-issuer: [a, b]\nadd-timeout: 1s\n",
		"a: &x 1\nmax-connections: *x\n", "- 1\n", "storage: x\nstorage: y\n", "---\n---\n", "{storage: [x]}\n",
		"<<: *a\n", "? |\n  x\n: y\n", "storage: !!binary aGk=\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, _ := newConfigFlags()
		cf, err := ParseConfig("f.yaml", data, fs, "config")
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, k := range cf.Keys() {
			if fs.Lookup(k) == nil || k == "config" || seen[k] {
				t.Fatalf("accepted key %q (seen %v)", k, seen[k])
			}
			seen[k] = true
		}
		_ = cf.Apply(fs, nil)
	})
}
