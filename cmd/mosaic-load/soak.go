package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/mosaiclog/mosaic/internal/cmdline"
	"github.com/mosaiclog/mosaic/internal/soak"
)

// soakUsage heads `mosaic-load soak --help`.
const soakUsage = `usage: mosaic-load soak [flags]

Starts a fresh mosaicd per store (the embedded POSIX store in a temporary
directory, then a fresh PostgreSQL database, dropped afterwards) on a
loopback port and runs a bounded mixed load against it: valid adds and
resubmissions of acknowledged entries, malformed requests, slow clients and
clients that never read. Then it reads the log back and checks every
acknowledged entry with an inclusion proof against a signed checkpoint.

Prints a Markdown table (or JSON). Exit status 1 when an acknowledged entry
was lost, a proof failed, a resubmission got another index or a malformed
request got a 5xx.

flags:
`

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runSoak is `mosaic-load soak`; it returns the exit status.
func runSoak(args []string, stdout, stderr io.Writer) int {
	cfg, sc, stores, output, keyType, err := parseSoakFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-load soak: %v\n", err)
		return 2
	}
	signer, err := newEntrySigner(keyType)
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-load soak: %v\n", err)
		return 1
	}
	cfg.Source = func() ([]byte, error) {
		r, err := signer.newRequest()
		if err != nil {
			return nil, err
		}
		return r.body, nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, runErr := soak.Run(ctx, cfg, sc, stores)
	if rep != nil && len(rep.Stores) > 0 {
		write := rep.WriteMarkdown
		if output == "json" {
			write = rep.WriteJSON
		}
		if err := write(stdout); err != nil {
			fmt.Fprintf(stderr, "mosaic-load soak: writing report: %v\n", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "mosaic-load soak: %v\n", runErr)
		return 1
	}
	if f := rep.Failures(); len(f) > 0 {
		fmt.Fprintf(stderr, "mosaic-load soak: FAILED: %s\n", strings.Join(f, "; "))
		return 1
	}
	return 0
}

func parseSoakFlags(args []string, stderr io.Writer) (soak.Config, soak.ServerConfig, []string, string, KeyType, error) {
	cfg := soak.DefaultConfig
	sc := soak.ServerConfig{Progress: stderr, DatabaseServer: os.Getenv("MOSAIC_TEST_DATABASE_URL")}
	if sc.DatabaseServer == "" {
		sc.DatabaseServer = soak.DefaultDatabaseServer
	}
	var (
		stores, output, keyType string
		serveArgs               stringList
	)
	fs := flag.NewFlagSet("mosaic-load soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&sc.Binary, "mosaicd", defaultMosaicd(), "the mosaicd binary to start")
	fs.StringVar(&stores, "stores", strings.Join(soak.Stores, ","), "stores to soak, in order: posix, postgres")
	fs.StringVar(&sc.DatabaseServer, "database-url", sc.DatabaseServer, "PostgreSQL server the postgres store gets a fresh database on (default: $MOSAIC_TEST_DATABASE_URL)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the load runs against each store")
	fs.IntVar(&cfg.Adders, "adders", cfg.Adders, "concurrent clients adding valid entries")
	fs.Float64Var(&cfg.ResubmitFraction, "resubmit-fraction", cfg.ResubmitFraction, "share of adds that resubmit an acknowledged entry")
	fs.IntVar(&cfg.MalformedClients, "malformed-clients", cfg.MalformedClients, "concurrent clients sending malformed requests")
	fs.Float64Var(&cfg.MalformedRate, "malformed-rate", cfg.MalformedRate, "malformed requests per second, all clients together")
	fs.IntVar(&cfg.SlowClients, "slow-clients", cfg.SlowClients, "connections sending a request one byte at a time")
	fs.DurationVar(&cfg.SlowInterval, "slow-interval", cfg.SlowInterval, "gap between a slow client's bytes")
	fs.IntVar(&cfg.NeverReadingClients, "never-reading-clients", cfg.NeverReadingClients, "connections sending searches and tile reads and never reading the answers")
	fs.DurationVar(&cfg.NeverReadingHold, "never-reading-hold", cfg.NeverReadingHold, "longest a never-reading client keeps one connection")
	fs.DurationVar(&cfg.ProgressInterval, "progress", cfg.ProgressInterval, "how often a progress line is written to stderr (0: never)")
	fs.StringVar(&keyType, "key-type", string(ECDSAP256), "signing key of the valid entries: ecdsa-p256 or ed25519ph")
	fs.Var(&serveArgs, "serve-arg", "extra flag for mosaicd serve (repeatable), e.g. --serve-arg=--max-connections=512")
	fs.BoolVar(&sc.Keep, "keep", false, "keep each store's directory (mosaicd.log, key, data) and database")
	fs.StringVar(&output, "output", "markdown", "report format: markdown or json")
	fs.Usage = func() {
		fmt.Fprint(stderr, soakUsage)
		cmdline.PrintFlags(stderr, fs, nil)
	}
	fail := func(err error) (soak.Config, soak.ServerConfig, []string, string, KeyType, error) {
		return cfg, sc, nil, "", "", err
	}
	if err := cmdline.Parse(fs, args); err != nil {
		return fail(err)
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if output != "markdown" && output != "json" {
		return fail(fmt.Errorf("--output %q: want markdown or json", output))
	}
	if kt := KeyType(keyType); kt != ECDSAP256 && kt != Ed25519ph {
		return fail(fmt.Errorf("--key-type %q: want %s or %s", keyType, ECDSAP256, Ed25519ph))
	}
	list := strings.Split(stores, ",")
	for _, st := range list {
		if !slices.Contains(soak.Stores, st) {
			return fail(fmt.Errorf("--stores: unknown store %q (want %s)", st, strings.Join(soak.Stores, ", ")))
		}
	}
	cfg.Progress = stderr
	sc.ServeArgs = serveArgs
	return cfg, sc, list, output, KeyType(keyType), nil
}

// defaultMosaicd is the mosaicd beside this executable (make builds both
// into bin/), else the one on PATH.
func defaultMosaicd() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "mosaicd")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "mosaicd"
}
