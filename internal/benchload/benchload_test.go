package benchload

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// utime 250 and stime 50 ticks: 3 s.
	rest := " S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 12 0 100 200 300"
	for _, tc := range []struct {
		line string
		want time.Duration
		err  string
	}{
		{line: "123 (mosaicd)" + rest, want: 3 * time.Second},
		{line: "123 (a (weird) name)" + rest, want: 3 * time.Second},
		{line: "123 (x) S 1 2", err: "fields after the name"},
		{line: "123 mosaicd S 1", err: "without a command name"},
		{line: "123 (x) S 1 2 3 4 5 6 7 8 9 10 x 50 0", err: `CPU field "x"`},
	} {
		got, err := parseStatCPU([]byte(tc.line))
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.line, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %v, %v; want %v", tc.line, got, err, tc.want)
		}
	}
}

func TestReplaceSection(t *testing.T) {
	section := "| a |\n"
	block := BeginMarker + "\n| a |\n" + EndMarker
	for _, tc := range []struct {
		name, doc, want, err string
	}{
		{name: "appended", doc: "# B\n\ntext\n", want: "# B\n\ntext\n\n" + block + "\n"},
		{name: "replaced", doc: "# B\n" + BeginMarker + "\nold\n" + EndMarker + "\nafter\n", want: "# B\n" + block + "\nafter\n"},
		{name: "end only", doc: "x " + EndMarker, err: "out of order"},
		{name: "begin only", doc: BeginMarker + " x", err: "out of order"},
		{name: "reversed", doc: EndMarker + BeginMarker, err: "out of order"},
		{name: "twice", doc: BeginMarker + EndMarker + BeginMarker + EndMarker, err: "more than once"},
	} {
		got, err := ReplaceSection(tc.doc, section)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	// Running twice gives the same document.
	once, _ := ReplaceSection("# B\n", section)
	twice, _ := ReplaceSection(once, section)
	if once != twice {
		t.Errorf("replacing again changed the document:\n%s\n---\n%s", once, twice)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Mosaicd: "m", LoadTool: "l", Stores: []string{StorePosix}, Clients: []int{1}, Duration: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		err  string
	}{
		{"no binaries", func(c *Config) { c.Mosaicd = "" }, "binaries are needed"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "want a positive duration"},
		{"unknown store", func(c *Config) { c.Stores = []string{"sqlite"} }, `unknown store "sqlite"`},
		{"rekor without binary", func(c *Config) { c.Stores = []string{StoreRekor} }, "make bench-tools"},
		{"zero clients", func(c *Config) { c.Clients = []int{0} }, "want at least 1"},
		{"reads without size", func(c *Config) { c.ReadStores = []string{StorePosix} }, "reads need"},
		{"reads on rekor", func(c *Config) {
			c.ReadStores, c.ReadSize, c.ReadDuration, c.ReadClients, c.ReadKinds, c.CacheDir = []string{StoreRekor}, 1, time.Second, 1, []string{"tile"}, "d"
		}, "unknown read store"},
	} {
		c := ok
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.err)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// TestRunSmall runs the whole benchmark in miniature on the embedded store
// with the real binaries: a write run and every read kind against a
// freshly filled log. It checks that the figures come back, not their
// size.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs mosaicd and mosaic-load")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "github.com/mosaiclog/mosaic/cmd/mosaicd", "github.com/mosaiclog/mosaic/cmd/mosaic-load")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var progress bytes.Buffer
	cfg := Config{
		Mosaicd: filepath.Join(bin, "mosaicd"), LoadTool: filepath.Join(bin, "mosaic-load"),
		Stores: []string{StorePosix}, Clients: []int{4}, Duration: time.Second,
		ReadStores: []string{StorePosix, StoreFiles, StoreMemory}, ReadSize: 600, ReadClients: 4, ReadDuration: time.Second,
		ReadKinds: []string{"checkpoint", "tile", "partial-tile", "bundle", "partial-bundle", "inclusion", "consistency"},
		CacheDir:  t.TempDir(), Progress: &progress,
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	// Every kind on mosaicd, the five file kinds on each static reference.
	if len(rep.Writes) != 1 || len(rep.Reads) != 7+5+5 {
		t.Fatalf("%d write and %d read runs, want 1 and 17", len(rep.Writes), len(rep.Reads))
	}
	w := rep.Writes[0]
	if w.Load.ok() == 0 || w.Load.errors() != 0 || w.Load.ProofFailures != 0 || w.Usage.Server <= 0 || w.Usage.RSSPeak <= 0 {
		t.Errorf("write run: %+v", w)
	}
	for _, r := range rep.Reads {
		if r.Read.TreeSize != 600 || r.Read.Requests == 0 || r.Read.Errors != 0 || r.Read.VerifyFailures != 0 {
			t.Errorf("read %s on %s: %+v", r.Kind, r.Store, r.Read)
		}
	}
	var md bytes.Buffer
	if err := rep.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 4 | mosaicd, embedded |", "| inclusion | posix |", "| tile | files |", "| bundle | memory |", "Command: `"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md.String())
		}
	}
	// A second run finds the filled log in the cache and does not fill it again.
	cfg.Clients, cfg.ReadStores, cfg.ReadKinds, progress = nil, []string{StorePosix}, []string{"tile"}, bytes.Buffer{}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(progress.String(), "filling") {
		t.Errorf("the cached log was filled again:\n%s", progress.String())
	}
}
