package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mosaiclog/mosaic/internal/benchload"
	"github.com/mosaiclog/mosaic/internal/cmdline"
)

// benchUsage heads `mosaic-load bench --help`.
const benchUsage = `usage: mosaic-load bench [flags]

The load benchmark (make bench-load). For each client count of --clients it
runs every server of --stores in turn, each on a fresh log, for --duration
of closed-loop writes driven by this mosaic-load: mosaicd on the embedded
store, mosaicd on a fresh PostgreSQL database, and rekor-tiles' POSIX server
(--rekor; make bench-tools builds it) with --checkpoint-interval 100ms
--batch-max-age 20ms. Then, for each store of --read-stores, it fills a log
of --read-size entries through the write API (once: the log is kept in
--cache-dir) and runs mosaic-load read once per kind of --read-kinds. The
read stores files and memory are references, not Mosaic: the embedded
store's filled log served by mosaic-load serve-files as a plain static web
server (Go's FileServer) and from memory by a bare net/http handler, for
the kinds a static server answers (checkpoint, tiles, bundles).

It writes every figure to --json and the tables between the markers of
--markdown (docs/benchmarks.md), replacing what a previous run wrote there.

flags:
`

// intList is a comma-separated list of positive integers ("64,1024").
func parseIntList(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseList is a comma-separated list of names, each among known.
func parseList(s string, known []string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		ok := false
		for _, k := range known {
			ok = ok || f == k
		}
		if !ok {
			return nil, fmt.Errorf("unknown %q (want %s)", f, strings.Join(known, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

// parseSizes reads STORE=N,... with STORE posix or postgres and N positive.
func parseSizes(s string) (map[string]uint64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	m := map[string]uint64{}
	for _, f := range strings.Split(s, ",") {
		store, n, ok := strings.Cut(strings.TrimSpace(f), "=")
		if _, err := parseList(store, []string{benchload.StorePosix, benchload.StorePostgres}); err != nil || !ok {
			return nil, fmt.Errorf("%q: want STORE=N with STORE posix or postgres", f)
		}
		size, err := strconv.ParseUint(n, 10, 64)
		if err != nil || size == 0 {
			return nil, fmt.Errorf("%q: want a positive size", f)
		}
		m[store] = size
	}
	return m, nil
}

// benchOptions are the flags that say where the results go.
type benchOptions struct {
	jsonPath, markdownPath string
	// fromJSON re-renders the Markdown of an earlier report instead of
	// running.
	fromJSON string
}

func parseBenchFlags(args []string, stderr io.Writer) (benchload.Config, benchOptions, error) {
	home, _ := os.UserHomeDir()
	cfg := benchload.Config{Progress: stderr, DatabaseServer: os.Getenv("MOSAIC_TEST_DATABASE_URL")}
	if cfg.DatabaseServer == "" {
		cfg.DatabaseServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	var (
		opts                                                    benchOptions
		stores, clients, readStores, kindsFlag, rekor, sizesFor string
		readSize                                                uint64
	)
	defaultRekor := filepath.Join(home, ".cache", "mosaic-tools", "rekor-tiles-v2.3.0", "rekor-server-posix")
	fs := flag.NewFlagSet("mosaic-load bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Mosaicd, "mosaicd", defaultMosaicd(), "the mosaicd binary to start")
	fs.StringVar(&rekor, "rekor", defaultRekor, "rekor-tiles' POSIX server binary (make bench-tools)")
	fs.StringVar(&cfg.DatabaseServer, "database-url", cfg.DatabaseServer, "PostgreSQL server fresh databases are created on (default: $MOSAIC_TEST_DATABASE_URL)")
	fs.StringVar(&stores, "stores", strings.Join(benchload.Stores, ","), "write servers, in the order each client count alternates them: posix, postgres, rekor-tiles")
	fs.StringVar(&clients, "clients", "64,1024,4096", "write ladder: client counts (empty: no writes)")
	fs.DurationVar(&cfg.Duration, "duration", 15*time.Second, "measured time of each write run")
	fs.StringVar(&readStores, "read-stores", strings.Join(benchload.ReadStores, ","), "stores the reads run against: posix, postgres, and the references files and memory (empty: no reads)")
	fs.Uint64Var(&readSize, "read-size", 1000000, "entries in the log the reads run against")
	fs.StringVar(&sizesFor, "read-size-for", "", "per-store --read-size: STORE=N,... (e.g. postgres=200000 when a large PostgreSQL log would take too long to fill)")
	fs.StringVar(&kindsFlag, "read-kinds", strings.ReplaceAll(kindList(), " ", ""), "read kinds, one run each")
	fs.IntVar(&cfg.ReadClients, "read-clients", 64, "concurrent clients of each read run")
	fs.DurationVar(&cfg.ReadDuration, "read-duration", 10*time.Second, "measured time of each read run")
	fs.StringVar(&cfg.CacheDir, "cache-dir", filepath.Join(home, ".cache", "mosaic-bench"), "where filled logs are kept between runs (PostgreSQL's in a database named after the size)")
	fs.BoolVar(&cfg.Profile, "profile", false, "record each Mosaic run's server CPU profile with perf, its top into --profile-dir")
	fs.StringVar(&cfg.ProfileDir, "profile-dir", "docs/bench/profiles", "where --profile writes")
	fs.StringVar(&opts.jsonPath, "json", "docs/bench/bench-load.json", "JSON file of every figure (empty: none)")
	fs.StringVar(&opts.markdownPath, "markdown", "docs/benchmarks.md", "Markdown file whose generated section is replaced (empty: print the section)")
	fs.StringVar(&opts.fromJSON, "from-json", "", "run nothing: write the Markdown section again from this earlier --json report")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep each fresh run's directory (server log, key, store)")
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		cmdline.PrintFlags(stderr, fs, nil)
	}
	fail := func(err error) (benchload.Config, benchOptions, error) { return cfg, opts, err }
	if err := cmdline.Parse(fs, args); err != nil {
		return fail(err)
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	var err error
	if cfg.Stores, err = parseList(stores, benchload.Stores); err != nil {
		return fail(fmt.Errorf("--stores: %w", err))
	}
	if cfg.Clients, err = parseIntList(clients); err != nil {
		return fail(fmt.Errorf("--clients: %w", err))
	}
	if cfg.ReadStores, err = parseList(readStores, benchload.ReadStores); err != nil {
		return fail(fmt.Errorf("--read-stores: %w", err))
	}
	kinds := make([]string, len(readKinds))
	for i, k := range readKinds {
		kinds[i] = string(k)
	}
	if cfg.ReadKinds, err = parseList(kindsFlag, kinds); err != nil {
		return fail(fmt.Errorf("--read-kinds: %w", err))
	}
	cfg.ReadSize = readSize
	if cfg.ReadSizes, err = parseSizes(sizesFor); err != nil {
		return fail(fmt.Errorf("--read-size-for: %w", err))
	}
	for _, s := range cfg.Stores {
		if s == benchload.StoreRekor {
			if _, err := os.Stat(rekor); err != nil {
				return fail(fmt.Errorf("--rekor %s: %w (make bench-tools builds it; or leave rekor-tiles out of --stores)", rekor, err))
			}
			cfg.Rekor = rekor
		}
	}
	if opts.fromJSON != "" {
		return cfg, opts, nil
	}
	if cfg.LoadTool, err = os.Executable(); err != nil {
		return fail(fmt.Errorf("finding this mosaic-load: %w", err))
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	return cfg, opts, nil
}

// runBench is `mosaic-load bench`; it returns the exit status.
func runBench(args []string, stdout, stderr io.Writer) int {
	cfg, opts, err := parseBenchFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-load bench: %v\n", err)
		return 2
	}
	if opts.fromJSON != "" {
		f, err := os.Open(opts.fromJSON)
		if err == nil {
			var rep *benchload.Report
			if rep, err = benchload.ReadReport(f); err == nil {
				err = writeBench(rep, benchOptions{markdownPath: opts.markdownPath}, stdout)
			}
			f.Close()
		}
		if err != nil {
			fmt.Fprintf(stderr, "mosaic-load bench: %v\n", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, runErr := benchload.Run(ctx, cfg)
	if rep != nil {
		rep.Command = "mosaic-load bench " + strings.Join(args, " ")
		if err := writeBench(rep, opts, stdout); err != nil {
			fmt.Fprintf(stderr, "mosaic-load bench: %v\n", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "mosaic-load bench: %v\n", runErr)
		return 1
	}
	return 0
}

// writeBench writes the JSON file and the Markdown section.
func writeBench(rep *benchload.Report, opts benchOptions, stdout io.Writer) error {
	if opts.jsonPath != "" {
		var b bytes.Buffer
		if err := rep.WriteJSON(&b); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(opts.jsonPath), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(opts.jsonPath, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	var section bytes.Buffer
	if err := rep.Markdown(&section); err != nil {
		return err
	}
	if opts.markdownPath == "" {
		_, err := stdout.Write(section.Bytes())
		return err
	}
	doc, err := os.ReadFile(opts.markdownPath)
	if err != nil {
		return err
	}
	out, err := benchload.ReplaceSection(string(doc), section.String())
	if err != nil {
		return fmt.Errorf("%s: %w", opts.markdownPath, err)
	}
	return os.WriteFile(opts.markdownPath, []byte(out), 0o644)
}
