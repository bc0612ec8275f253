package cmdline

import (
	"bytes"
	"errors"
	"flag"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var serveFlags = []string{"listen", "metrics-listen", "storage", "public-url", "origin", "signing-key",
	"max-connections", "max-inflight-adds", "max-key-bytes", "max-request-bytes", "read-header-timeout", "log-level", "log-format", "help"}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"storag", []string{"storage"}},   // a letter left out
		{"stroage", []string{"storage"}},  // two letters swapped
		{"storagee", []string{"storage"}}, // one too many
		{"Storage", []string{"storage"}},  // case
		{"signing_key", []string{"signing-key"}},
		{"MOSAIC_STORAGE", []string{"storage"}}, // the environment variable's spelling
		{"lisen", []string{"listen"}},
		{"max-conections", []string{"max-connections"}},
		{"orgin", []string{"origin"}},
		{"storage-dir", []string{"storage"}},                                       // a longer name beginning with a known one
		{"max", []string{"max-key-bytes", "max-connections", "max-inflight-adds"}}, // a prefix: at most three, shortest first
		{"log", []string{"log-level", "log-format"}},                               // a prefix of two
		{"hlep", []string{"help"}},
		{"url", nil},
		{"x", nil},
		{"", nil},
		{"frobnicate", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Suggest(tc.name, serveFlags); !slices.Equal(got, tc.want) {
				t.Errorf("Suggest(%q) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"storage", "storage", 0},
		{"storag", "storage", 1}, {"stroage", "storage", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3},
	} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := distance(tc.b, tc.a); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}

// oneDash matches a flag spelled with one dash.
var oneDash = regexp.MustCompile(`(^|\s)-[a-z]`)

// newTestFlags is a small command whose usage, when printed, says so.
func newTestFlags(out *bytes.Buffer) *flag.FlagSet {
	fs := flag.NewFlagSet("mosaicd serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		out.WriteString("FULL USAGE\n")
		PrintFlags(out, fs, nil)
	}
	fs.String("storage", "file:./mosaic-data", "log storage")
	fs.Int("max-connections", 4096, "client connections")
	fs.Duration("add-timeout", 30*time.Second, "longest a write waits")
	fs.Bool("search-index", true, "follow the log into a search index")
	return fs
}

// A mistake in the flags is one short error with the nearest flag and the
// way to the full usage, which is not printed; every flag is spelled --.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--storag", "x"}, "unknown flag --storag; did you mean --storage?"},
		{[]string{"-storag=x"}, "unknown flag --storag; did you mean --storage?"},
		{[]string{"--max", "3"}, "unknown flag --max; did you mean --max-connections?"},
		{[]string{"--frobnicate"}, "unknown flag --frobnicate"},
		{[]string{"--storage"}, "flag --storage needs a value"},
		{[]string{"--max-connections", "many"}, `invalid value "many" for --max-connections: parse error`},
		{[]string{"-add-timeout=soon"}, `invalid value "soon" for --add-timeout: parse error`},
		{[]string{"--search-index=maybe"}, `invalid value "maybe" for --search-index: parse error`},
		{[]string{"---storage"}, "bad flag syntax: ---storage"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := Parse(newTestFlags(&out), tc.args)
			var fe *FlagError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse = %v, want a *FlagError", err)
			}
			want := tc.want + "\nrun 'mosaicd serve --help' for the flags"
			if err.Error() != want {
				t.Errorf("error\n%s\nwant\n%s", err, want)
			}
			if out.Len() != 0 {
				t.Errorf("Parse printed %q; want nothing (the caller prints the error)", out.String())
			}
			if oneDash.MatchString(err.Error()) && !strings.Contains(tc.want, "bad flag syntax") {
				t.Errorf("%q spells a flag with one dash", err)
			}
		})
	}
}

// -h and --help print the full usage, spelled --flag, and return
// flag.ErrHelp; the flag set's usage and output are left as they were.
func TestParseHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		var out bytes.Buffer
		fs := newTestFlags(&out)
		if err := Parse(fs, []string{arg}); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s: %v, want flag.ErrHelp", arg, err)
		}
		if !strings.HasPrefix(out.String(), "FULL USAGE\n") || !strings.Contains(out.String(), "  --storage string\n") {
			t.Errorf("%s printed:\n%s", arg, out.String())
		}
		if fs.Output() != &out {
			t.Errorf("output not restored")
		}
	}
	var out bytes.Buffer
	if err := Parse(newTestFlags(&out), []string{"--storage", "file:x", "--max-connections=9"}); err != nil || out.Len() != 0 {
		t.Errorf("valid flags: %v, printed %q", err, out.String())
	}
}

func TestPrintFlags(t *testing.T) {
	var out bytes.Buffer
	fs := newTestFlags(&out)
	fs.Bool("v", false, "verbose")
	fs.String("empty", "", "no default `PATH`")
	var w bytes.Buffer
	PrintFlags(&w, fs, func(name string) string { return "MOSAIC_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) })
	want := "" +
		"  --add-timeout duration  [MOSAIC_ADD_TIMEOUT]\n    \tlongest a write waits (default 30s)\n" +
		"  --empty PATH  [MOSAIC_EMPTY]\n    \tno default PATH\n" +
		"  --max-connections int  [MOSAIC_MAX_CONNECTIONS]\n    \tclient connections (default 4096)\n" +
		"  --search-index  [MOSAIC_SEARCH_INDEX]\n    \tfollow the log into a search index (default true)\n" +
		"  --storage string  [MOSAIC_STORAGE]\n    \tlog storage (default \"file:./mosaic-data\")\n" +
		"  --v  [MOSAIC_V]\n    \tverbose\n"
	if w.String() != want {
		t.Errorf("got\n%s\nwant\n%s", w.String(), want)
	}
	w.Reset()
	PrintFlags(&w, fs, nil)
	if strings.Contains(w.String(), "[") || !strings.Contains(w.String(), "  --v\n    \tverbose\n") {
		t.Errorf("without env:\n%s", w.String())
	}
}

func TestUnknown(t *testing.T) {
	cmds := []string{"serve", "keygen", "migrate", "ca", "version", "help"}
	for _, tc := range []struct{ name, want string }{
		{"serv", `unknown command "serv"; did you mean serve?`},
		{"keygne", `unknown command "keygne"; did you mean keygen?`},
		{"nope", `unknown command "nope"`},
	} {
		if got := Unknown("command", tc.name, cmds); got != tc.want {
			t.Errorf("Unknown(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
