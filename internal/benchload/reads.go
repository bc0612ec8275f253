package benchload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Filling a log for the reads goes through the write API like any signer,
// with flags for bulk (larger, slower batches; more adds in flight; no
// search index, which the read server then builds once and keeps).
var fillServerFlags = []string{"--batch-max-age", "100ms", "--batch-max-size", "2048", "--max-inflight-adds", "4096",
	"--pushback-max-outstanding", "16384", "--search-index=false"}

// fillClients is the load tool's concurrency while filling.
const fillClients = 2048

// cachedLog is a filled log kept in the cache directory between runs:
// the key pair, and the store (a directory, or a database named after the
// size on the PostgreSQL server).
type cachedLog struct {
	dir, storage, key, pub string
	// fresh is set when the store does not exist yet (mosaicd needs
	// --init for a new directory).
	fresh bool
}

// openCachedLog finds or creates store's cached log of size entries.
func openCachedLog(ctx context.Context, cfg *Config, store string) (*cachedLog, error) {
	c := &cachedLog{dir: filepath.Join(cfg.CacheDir, fmt.Sprintf("%s-%d", store, cfg.readSize(store)))}
	c.key, c.pub = filepath.Join(c.dir, "signing-key.pem"), filepath.Join(c.dir, "public-key.pem")
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(c.key); errors.Is(err, os.ErrNotExist) {
		if _, _, err := keygen(ctx, cfg.Mosaicd, c.dir, "http://127.0.0.1"); err != nil {
			return nil, err
		}
	}
	switch store {
	case StorePosix:
		data := filepath.Join(c.dir, "data")
		c.storage = "file:" + data
		_, err := os.Stat(data)
		c.fresh = errors.Is(err, os.ErrNotExist)
	case StorePostgres:
		name := fmt.Sprintf("mosaic_bench_read_%d", cfg.readSize(store))
		ok, err := databaseExists(ctx, cfg.DatabaseServer, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			if _, _, err := createDatabase(ctx, cfg.DatabaseServer, name); err != nil {
				return nil, err
			}
		}
		if c.storage, err = databaseURL(cfg.DatabaseServer, name); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// start starts mosaicd on the cached log.
func (c *cachedLog) start(ctx context.Context, cfg *Config, store string, extra ...string) (*server, error) {
	if c.fresh {
		extra = append(extra, "--init")
		c.fresh = false
	}
	return startMosaicd(ctx, cfg, store, c.dir, c.storage, c.key, c.pub, extra...)
}

// logInfo is the part of GET /api/v2/log/info the reads need.
type logInfo struct {
	TreeSize uint64 `json:"treeSize"`
	Index    *struct {
		IndexedSize uint64 `json:"indexedSize"`
		Lag         uint64 `json:"lag"`
	} `json:"index"`
}

func (s *server) info(ctx context.Context) (*logInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/v2/log/info", nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v2/log/info: HTTP %d", res.StatusCode)
	}
	var li logInfo
	return &li, json.NewDecoder(res.Body).Decode(&li)
}

// fill adds entries through the write API until the log holds size.
func (c *cachedLog) fill(ctx context.Context, cfg *Config, store string) error {
	srv, err := c.start(ctx, cfg, store, fillServerFlags...)
	if err != nil {
		return err
	}
	defer srv.proc.stop()
	size := cfg.readSize(store)
	for attempt := 0; attempt < 3; attempt++ {
		li, err := srv.info(ctx)
		if err != nil {
			return err
		}
		if li.TreeSize >= size {
			return nil
		}
		missing := size - li.TreeSize
		fmt.Fprintf(cfg.progress(), "bench-load: filling the %s log from %d to %d entries through the write API (cached in %s)\n",
			store, li.TreeSize, size, c.dir)
		args := []string{"--url", srv.url, "--concurrency", fmt.Sprint(fillClients), "--entries", fmt.Sprint(missing),
			"--pregenerate", fmt.Sprint(min(missing, 200000)), "--progress", "10s"}
		var res loadReport
		if _, err := runLoadTool(ctx, cfg, srv, loadRun{args: args}, &res); err != nil {
			return fmt.Errorf("filling: %w", err)
		}
	}
	return fmt.Errorf("the %s log is still short of %d entries after three fills", store, size)
}

// waitIndexed waits until the search index has caught up with the log,
// so that its catching up does not share the CPU with the reads.
func (s *server) waitIndexed(ctx context.Context, cfg *Config) error {
	last := time.Time{}
	for {
		li, err := s.info(ctx)
		if err != nil {
			return err
		}
		if li.Index == nil || li.Index.Lag == 0 {
			return nil
		}
		if time.Since(last) > 10*time.Second {
			fmt.Fprintf(cfg.progress(), "bench-load: waiting for the search index: %d of %d entries indexed\n", li.Index.IndexedSize, li.TreeSize)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.proc.done:
			return fmt.Errorf("mosaicd exited:\n%s", s.proc.logTail(15))
		case <-time.After(time.Second):
		}
	}
}

// readRuns fills (once) and starts store's cached log with default flags,
// then runs each read kind against it. The static references (files,
// memory) serve the embedded store's cached log.
func readRuns(ctx context.Context, cfg *Config, store string, announce func(kind string)) (runs []ReadRun, err error) {
	mosaic := logStore(store) == store
	c, err := openCachedLog(ctx, cfg, logStore(store))
	if err != nil {
		return nil, err
	}
	if err := c.fill(ctx, cfg, logStore(store)); err != nil {
		return nil, err
	}
	var srv *server
	if mosaic {
		srv, err = c.start(ctx, cfg, store)
	} else {
		srv, err = startFiles(ctx, cfg, store, c.dir, c.pub)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := srv.proc.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	if mosaic {
		if err := srv.waitIndexed(ctx, cfg); err != nil {
			return nil, err
		}
	}
	for _, kind := range cfg.readKinds(store) {
		announce(kind)
		args := []string{"read", "--url", srv.url, "--mix", kind, "--concurrency", fmt.Sprint(cfg.ReadClients),
			"--duration", cfg.ReadDuration.String(), "--warmup", "2s", "--verify-every", "100",
			"--log-key", c.pub, "--origin", "127.0.0.1", "--progress", "5s"}
		stopProfile := cfg.startProfile(srv, fmt.Sprintf("read-%s-%s", store, kind))
		var res readReport
		usage, err := runLoadTool(ctx, cfg, srv, loadRun{args: args, phaseMarker: "warm-up:"}, &res)
		profile := stopProfile()
		if err != nil {
			return runs, err
		}
		r := ReadRun{Store: store, Kind: kind, Clients: cfg.ReadClients, Read: res, Usage: *usage, Profile: profile}
		fmt.Fprintf(cfg.progress(), "bench-load: %s\n", r.summary())
		runs = append(runs, r)
	}
	return runs, nil
}

// readReport is the part of `mosaic-load read`'s JSON report the tables
// use.
type readReport struct {
	TreeSize          uint64   `json:"tree_size"`
	Requests          int64    `json:"requests"`
	Elapsed           Seconds  `json:"elapsed_seconds"`
	RequestsPerSecond float64  `json:"requests_per_second"`
	Errors            int64    `json:"errors"`
	Verified          int64    `json:"verified"`
	VerifyFailures    int64    `json:"verify_failures"`
	ErrorSamples      []string `json:"error_samples,omitempty"`
	Kinds             []struct {
		Kind           string        `json:"kind"`
		BytesPerAnswer float64       `json:"bytes_per_answer"`
		Latency        percentiles   `json:"latency"`
		Status         map[int]int64 `json:"status"`
	} `json:"kinds"`
}
