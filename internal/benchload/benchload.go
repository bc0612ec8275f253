// Package benchload runs the load benchmark of `make bench-load`: the write
// ladder (64, 1,024 and 4,096 closed-loop clients) against mosaicd on the
// embedded store, mosaicd on PostgreSQL and rekor-tiles' POSIX server,
// alternating servers, each run on a fresh log; then the read benchmarks
// against a large log on each Mosaic store. Every run is driven by the
// same load tool (mosaic-load, a separate process) and measured from
// outside: throughput and latency from the tool's report, CPU from
// /proc/PID/stat of the server (and of PostgreSQL's processes), memory
// from /proc/PID/status. Results go to a JSON file and to a Markdown
// section of docs/benchmarks.md between markers, replaced on every run.
//
// Nothing here asserts a figure: the benchmark reports.
package benchload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// Config is one benchmark run, as `mosaic-load bench` flags describe it.
type Config struct {
	// Mosaicd, LoadTool and Rekor are the binaries: mosaicd, mosaic-load
	// and rekor-tiles' POSIX server.
	Mosaicd, LoadTool, Rekor string
	// DatabaseServer is the PostgreSQL server fresh databases are made on.
	DatabaseServer string
	// Stores are the servers of the write ladder, in the order each
	// concurrency alternates them.
	Stores []string
	// Clients is the write ladder.
	Clients []int
	// Duration is each write run's measured time.
	Duration time.Duration
	// ReadStores are the Mosaic stores the reads run against (and the
	// static references files and memory, on the embedded store's log),
	// ReadSize the
	// log size they need, ReadKinds the kinds measured (one run each),
	// ReadClients and ReadDuration each read run's concurrency and time.
	ReadStores []string
	ReadSize   uint64
	// ReadSizes overrides ReadSize per store (a smaller PostgreSQL log
	// when filling a large one through the API would take too long).
	ReadSizes    map[string]uint64
	ReadKinds    []string
	ReadClients  int
	ReadDuration time.Duration
	// CacheDir keeps filled logs between runs (outside the clone).
	CacheDir string
	// Profile captures a CPU profile of the server (perf) during the runs
	// named in ProfileRuns, saved under ProfileDir.
	Profile    bool
	ProfileDir string
	// Keep leaves each fresh run's directory in place.
	Keep bool
	// Progress receives what runs (nil: nowhere).
	Progress io.Writer
}

// readSize is the log size store's reads need (the static references
// serve the embedded store's log).
func (c *Config) readSize(store string) uint64 {
	if n, ok := c.ReadSizes[logStore(store)]; ok {
		return n
	}
	return c.ReadSize
}

// readKinds are the kinds of ReadKinds that store answers.
func (c *Config) readKinds(store string) []string {
	if logStore(store) == store {
		return c.ReadKinds
	}
	var kinds []string
	for _, k := range c.ReadKinds {
		if slices.Contains(FileKinds, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

func (c *Config) progress() io.Writer {
	if c.Progress == nil {
		return discard
	}
	return c.Progress
}

// Validate checks the configuration before anything starts.
func (c *Config) Validate() error {
	switch {
	case c.Mosaicd == "" || c.LoadTool == "":
		return errors.New("the mosaicd and mosaic-load binaries are needed")
	case c.Duration <= 0 && len(c.Clients) > 0:
		return fmt.Errorf("--duration %s: want a positive duration", c.Duration)
	case len(c.ReadStores) > 0 && (c.ReadSize == 0 || c.ReadDuration <= 0 || c.ReadClients < 1 || len(c.ReadKinds) == 0):
		return errors.New("reads need --read-size, --read-duration, --read-clients and --read-kinds")
	case c.CacheDir == "" && len(c.ReadStores) > 0:
		return errors.New("reads need a cache directory for the filled logs")
	}
	for _, s := range c.Stores {
		if !slices.Contains(Stores, s) {
			return fmt.Errorf("unknown store %q (want one of posix, postgres, rekor-tiles)", s)
		}
		if s == StoreRekor && c.Rekor == "" {
			return errors.New("the rekor-tiles comparison needs its binary: make bench-tools builds it (or leave rekor-tiles out of --stores)")
		}
	}
	for _, s := range c.ReadStores {
		if !slices.Contains(ReadStores, s) {
			return fmt.Errorf("unknown read store %q (want posix, postgres, files or memory)", s)
		}
	}
	for _, n := range c.Clients {
		if n < 1 {
			return fmt.Errorf("clients %d: want at least 1", n)
		}
	}
	return nil
}

// Run runs the ladder and the reads and returns the report. An error
// means a run could not happen at all; the report so far comes with it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Servers run in their own directories: a relative path would name
	// another file there.
	for _, bin := range []*string{&cfg.Mosaicd, &cfg.LoadTool, &cfg.Rekor} {
		if *bin == "" {
			continue
		}
		p, err := exec.LookPath(*bin)
		if err == nil {
			p, err = filepath.Abs(p)
		}
		if err != nil {
			return nil, fmt.Errorf("binary %s: %w (make build builds mosaicd and mosaic-load)", *bin, err)
		}
		*bin = p
	}
	rep := newReport(&cfg)
	out := cfg.progress()
	total := len(cfg.Clients) * len(cfg.Stores)
	for _, store := range cfg.ReadStores {
		total += len(cfg.readKinds(store))
	}
	n := 0
	for _, c := range cfg.Clients {
		for _, store := range cfg.Stores {
			n++
			fmt.Fprintf(out, "bench-load: [%d/%d] write, %s, %d clients, %s\n", n, total, store, c, cfg.Duration)
			w, err := writeRun(ctx, &cfg, store, c)
			if err != nil {
				return rep, fmt.Errorf("write run %s at %d clients: %w", store, c, err)
			}
			rep.Writes = append(rep.Writes, *w)
			fmt.Fprintf(out, "bench-load: %s\n", w.summary())
		}
	}
	for _, store := range cfg.ReadStores {
		reads, err := readRuns(ctx, &cfg, store, func(kind string) {
			n++
			fmt.Fprintf(out, "bench-load: [%d/%d] read %s, %s, %d clients, %s\n", n, total, kind, store, cfg.ReadClients, cfg.ReadDuration)
		})
		rep.Reads = append(rep.Reads, reads...)
		if err != nil {
			return rep, fmt.Errorf("reads on %s: %w", store, err)
		}
	}
	rep.Finished = time.Now().UTC()
	return rep, ctx.Err()
}

// writeRun starts store's server on a fresh log, runs the load tool at
// clients for the configured duration and stops the server.
func writeRun(ctx context.Context, cfg *Config, store string, clients int) (w *WriteRun, err error) {
	srv, err := startFresh(ctx, cfg, store)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := srv.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	// Warm-up: twice the clients (at least 50) entries; requests enough
	// for the warm-up and 10,000 entries/s, signed before timing starts, so
	// the load tool does not sign (and take CPU from the server) while timed.
	warmup := max(50, 2*clients)
	pregen := warmup + int(10000*cfg.Duration.Seconds())
	args := []string{"--url", srv.url, "--concurrency", fmt.Sprint(clients), "--duration", cfg.Duration.String(),
		"--warmup", fmt.Sprint(warmup), "--pregenerate", fmt.Sprint(pregen), "--verify",
		"--log-key", srv.keyPath, "--origin", "127.0.0.1", "--progress", "5s"}
	stopProfile := cfg.startProfile(srv, fmt.Sprintf("write-%s-c%d", store, clients))
	var res loadReport
	usage, err := runLoadTool(ctx, cfg, srv, loadRun{args: args, phaseMarker: "warm-up:"}, &res)
	profile := stopProfile()
	if err != nil {
		return nil, err
	}
	return &WriteRun{Store: store, Clients: clients, Load: res, Usage: *usage, Profile: profile}, nil
}

// loadReport is the part of mosaic-load's JSON report the tables use.
type loadReport struct {
	Entries          int64         `json:"entries"`
	Elapsed          Seconds       `json:"elapsed_seconds"`
	EntriesPerSecond float64       `json:"entries_per_second"`
	Latency          percentiles   `json:"latency"`
	Status           map[int]int64 `json:"status"`
	TransportErrors  int64         `json:"transport_errors"`
	Verified         int64         `json:"verified"`
	ProofFailures    int64         `json:"proof_failures"`
	SignedDuringRun  int64         `json:"signed_during_run"`
	Refused          percentiles   `json:"refused_latency"`
	ErrorSamples     []string      `json:"error_samples,omitempty"`
	Warmup           int           `json:"warmup_entries"`
}

// percentiles is mosaic-load's latency summary.
type percentiles struct {
	Count int     `json:"count"`
	P50   Seconds `json:"p50_seconds"`
	P90   Seconds `json:"p90_seconds"`
	P99   Seconds `json:"p99_seconds"`
	Max   Seconds `json:"max_seconds"`
}
