// Command mosaic-load drives a Mosaic log's write endpoint with many
// concurrent clients and reports what a signer would see: entries per second
// and the add→proof latency of each request (POST /api/v2/log/entries answers
// only once a published checkpoint covers the entry, so a request's latency
// is exactly that).
//
//	mosaic-load --url http://127.0.0.1:3000 --concurrency 64 --duration 30s
//	mosaic-load --entries 20000 --concurrency 8 --verify --output json
//	mosaic-load --url http://127.0.0.1:3000,http://127.0.0.1:3001 --concurrency 1024 --duration 15s
//	mosaic-load soak --mosaicd bin/mosaicd --duration 60s
//	mosaic-load read --mix tile,bundle,inclusion --concurrency 64 --duration 15s
//	mosaic-load serve-files --dir DATA --listen 127.0.0.1:8080 [--memory]
//
// The soak subcommand (make soak) starts a fresh mosaicd per store and runs
// a bounded mixed load of valid, malformed, slow and never-reading clients
// against it, then reads the log back; see internal/soak and
// `mosaic-load soak --help`. The read subcommand reads the log as monitors
// and verifiers do (checkpoint, tiles, entry bundles, inclusion and
// consistency proofs) and checks a sample of the answers against the
// checkpoint; see `mosaic-load read --help`. The serve-files subcommand
// serves an embedded store's directory as a plain static web server would,
// the reference bench-load compares mosaicd's tile reads with.
//
// By default the load is a closed loop: each client sends its next entry as
// soon as the previous one is answered, so the clients fall into step with
// the log's checkpoints. --rate makes it open: entries start at that average
// rate with random (Poisson) gaps, as independent signers would send them.
//
// Every request is a distinct, validly signed hashedrekord v0.0.2 entry (one
// key, random artifacts). Requests are signed before timing starts, so the
// figures measure the log, not the signer. Each 503 that carries Retry-After
// is retried after the wait it names and counted apart. With --verify each
// 201 response is parsed and its inclusion proof checked against the root of
// the checkpoint it carries (and that checkpoint's signature, with
// --log-key).
//
// --url may name several frontends of one log (repeated, or a comma list):
// client i then sends to the (i mod n)th, and read clients likewise.
//
// The target must be a loopback address unless --allow-remote is given: a
// load generator pointed at a shared log by mistake writes entries that can
// never be removed.
//
// Exit status: 0 when every measured entry got 201 (and every proof
// verified), 1 when some did not or the run could not start, 2 for a usage
// error.
package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mosaiclog/mosaic/internal/cmdline"
	"github.com/mosaiclog/mosaic/pkg/note"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, runs the load and prints the report. It returns the exit
// status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "soak" {
		return runSoak(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "read" {
		return runRead(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "serve-files" {
		return runServeFiles(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "bench" {
		return runBench(args[1:], stdout, stderr)
	}
	cfg, output, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-load: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-load: %v\n", err)
		return 1
	}
	if err := writeReport(stdout, output, res); err != nil {
		fmt.Fprintf(stderr, "mosaic-load: writing report: %v\n", err)
		return 1
	}
	if res.Errors() > 0 || res.ProofFailures > 0 {
		return 1
	}
	return 0
}

func writeReport(w io.Writer, output string, res *Result) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteText(w)
}

// parseFlags returns the run's configuration and the output format.
func parseFlags(args []string, stderr io.Writer) (Config, string, error) {
	var (
		cfg         Config
		rawURLs     urlList
		keyType     string
		logKeyFile  string
		output      string
		allowRemote bool
	)
	fs := flag.NewFlagSet("mosaic-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&rawURLs, "url", "base `URL` of the log (loopback only unless --allow-remote); several frontends of one log: repeat the flag or "+
		"list them comma-separated, and client i sends to the (i mod n)th (default http://127.0.0.1:3000)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "number of concurrent clients, each with one request in flight")
	fs.IntVar(&cfg.Entries, "entries", 0, "measured entries to send in total (0: bounded by --duration only)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop sending new entries after this long (0: bounded by --entries only)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: start entries at this average rate per second (Poisson arrivals), at most --concurrency in flight; 0: closed loop")
	fs.IntVar(&cfg.Warmup, "warmup", 0, "entries sent at the same concurrency before measuring; not counted")
	fs.StringVar(&keyType, "key-type", string(ECDSAP256), "signing key type: ecdsa-p256 or ed25519ph")
	fs.BoolVar(&cfg.Verify, "verify", false, "parse each 201 response and verify its inclusion proof against its checkpoint's root")
	fs.StringVar(&logKeyFile, "log-key", "", "with --verify, also verify checkpoint signatures with this PEM public key")
	fs.StringVar(&cfg.Origin, "origin", "", "checkpoint origin for --log-key (default: the hostname of --url)")
	fs.StringVar(&output, "output", "text", "report format: text or json")
	fs.DurationVar(&cfg.Timeout, "timeout", 60*time.Second, "longest one HTTP attempt may take")
	fs.IntVar(&cfg.MaxRetries, "max-retries", 10, "most retries of one entry after 503 with Retry-After")
	fs.IntVar(&cfg.Pregenerate, "pregenerate", 100000, "most requests signed before timing starts; any more are signed by a producer goroutine while the load runs")
	fs.DurationVar(&cfg.ProgressInterval, "progress", time.Second, "how often a progress line is written to stderr (0: never)")
	fs.BoolVar(&allowRemote, "allow-remote", false, "allow a target whose host is not a loopback address")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: mosaic-load [flags]\n       mosaic-load soak [flags]  (a mixed abuse load on fresh mosaicd processes; see mosaic-load soak --help)\n       mosaic-load read [flags]  (tile, bundle and proof reads; see mosaic-load read --help)\n       mosaic-load bench [flags] (make bench-load: the write ladder against mosaicd and rekor-tiles, then the reads)\n       mosaic-load serve-files --dir DIR [--memory]  (an embedded store's files served as static files: the reads' reference)\n\n"+
			"Sends distinct signed hashedrekord entries to a Mosaic log and reports entries/s and add→proof latency.\n\nflags:\n")
		cmdline.PrintFlags(stderr, fs, nil)
	}
	if err := cmdline.Parse(fs, args); err != nil {
		return cfg, "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	urls, err := rawURLs.parse(allowRemote)
	if err != nil {
		return cfg, "", err
	}
	cfg.URL, cfg.MoreURLs = urls[0], urls[1:]
	cfg.KeyType = KeyType(keyType)
	if output != "text" && output != "json" {
		return cfg, "", fmt.Errorf("--output %q: want text or json", output)
	}
	if logKeyFile != "" {
		if !cfg.Verify {
			return cfg, "", errors.New("--log-key needs --verify")
		}
		if cfg.LogKey, err = readPublicKey(logKeyFile); err != nil {
			return cfg, "", err
		}
		if cfg.Origin == "" {
			if cfg.Origin, err = note.OriginFromURL(cfg.URL.String()); err != nil {
				return cfg, "", err
			}
		}
	}
	if err := cfg.validate(); err != nil {
		return cfg, "", err
	}
	return cfg, output, nil
}

// urlList is a repeatable --url flag whose values may also be
// comma-separated lists: the frontends of one log.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, ",") }

func (l *urlList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			return fmt.Errorf("%q holds an empty URL", v)
		}
		*l = append(*l, s)
	}
	return nil
}

// parse checks every URL (checkTarget) and refuses one given twice; no
// URL means http://127.0.0.1:3000.
func (l urlList) parse(allowRemote bool) ([]*url.URL, error) {
	raw := []string(l)
	if len(raw) == 0 {
		raw = []string{"http://127.0.0.1:3000"}
	}
	seen := map[string]bool{}
	var urls []*url.URL
	for _, s := range raw {
		u, err := checkTarget(s, allowRemote)
		if err != nil {
			return nil, err
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("--url %s is given twice", u)
		}
		seen[u.String()] = true
		urls = append(urls, u)
	}
	return urls, nil
}

// checkTarget parses the base URL and refuses a host that is not loopback
// unless allowRemote is set.
func checkTarget(raw string, allowRemote bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("--url %q: want an http or https URL", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("--url %q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--url %q: give the log's base URL, without query or fragment", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if allowRemote || isLoopback(u.Hostname()) {
		return u, nil
	}
	return nil, fmt.Errorf("--url host %q is not a loopback address; entries written to a log can never be removed, "+
		"so pass --allow-remote if you really mean to load that log", u.Hostname())
}

// isLoopback reports whether host is "localhost" or a loopback IP literal.
// Other names are not resolved: what they resolve to can change.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func readPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--log-key: %w", err)
	}
	pub, err := note.ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("--log-key %s: %w (want the log's PKIX PEM public key, as `mosaicd keygen` prints it)", path, err)
	}
	return pub, nil
}
