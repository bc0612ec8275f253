package main

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mosaiclog/mosaic/internal/cmdline"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// readUsage heads `mosaic-load read --help`.
const readUsage = `usage: mosaic-load read [flags]

Reads a log as monitors, auditors and verifiers do, with many concurrent
clients, and reports requests/s and latency per kind of request. The kinds
(--mix): checkpoint; tile (a full hash tile, uniformly among all levels);
partial-tile (a right-edge .p/W hash tile); bundle (a full entry bundle);
partial-bundle (the right-edge .p/W bundle); inclusion (GET
/api/v2/log/proof/inclusion at a uniformly random index); consistency (GET
/api/v2/log/proof/consistency from a random size to the run's size).

Every request is within the checkpoint read at the start. One answer in
--verify-every is checked against that checkpoint's root: tiles and bundles
proven with their parent tiles, proofs verified with leaf hashes and roots
computed from proven tiles, never with what the answer claims. With
--log-key the checkpoint's signature is verified first.

Exit status: 0 when every request got 200 and every checked answer
verified, 1 otherwise, 2 for a usage error.

flags:
`

// readConfig is one read run.
type readConfig struct {
	// URL is the log's base URL; MoreURLs further frontends of the same
	// log: client i reads from the (i mod n)th of URL, MoreURLs... (the
	// starting checkpoint and the verifier's own reads come from URL).
	URL         *url.URL
	MoreURLs    []*url.URL
	Mix         []mixEntry
	Concurrency int
	// Duration and Requests bound the measured phase (at least one set).
	Duration time.Duration
	Requests int
	// Warmup runs the same load first, not counted.
	Warmup time.Duration
	// VerifyEvery checks one answer in this many per client (0: none).
	VerifyEvery int
	// LogKey, when set, verifies the starting checkpoint for Origin.
	LogKey           crypto.PublicKey
	Origin           string
	Timeout          time.Duration
	ProgressInterval time.Duration
}

func (c *readConfig) validate() error {
	switch {
	case c.URL == nil || slices.Contains(c.MoreURLs, nil):
		return errors.New("no target URL")
	case c.Concurrency < 1:
		return fmt.Errorf("--concurrency %d: want at least 1", c.Concurrency)
	case c.Concurrency < 1+len(c.MoreURLs):
		return fmt.Errorf("--concurrency %d is below the %d URLs given: each URL needs a client", c.Concurrency, 1+len(c.MoreURLs))
	case c.Duration < 0 || c.Requests < 0 || c.Warmup < 0 || c.VerifyEvery < 0:
		return errors.New("--duration, --requests, --warmup and --verify-every must not be negative")
	case c.Duration == 0 && c.Requests == 0:
		return errors.New("give --duration or --requests (or both) so the run ends by itself")
	case c.Timeout <= 0:
		return fmt.Errorf("--timeout %s: want a positive duration", c.Timeout)
	case len(c.Mix) == 0:
		return errors.New("--mix names no kind")
	}
	return nil
}

// runRead is `mosaic-load read`; it returns the exit status.
func runRead(args []string, stdout, stderr io.Writer) int {
	cfg, output, err := parseReadFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-load read: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := RunRead(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-load read: %v\n", err)
		return 1
	}
	if err := writeJSONOr(stdout, output, res, res.WriteText); err != nil {
		fmt.Fprintf(stderr, "mosaic-load read: writing report: %v\n", err)
		return 1
	}
	if res.Errors > 0 || res.VerifyFailures > 0 {
		return 1
	}
	return 0
}

func parseReadFlags(args []string, stderr io.Writer) (readConfig, string, error) {
	var (
		cfg               readConfig
		rawURLs           urlList
		mix, output, lkey string
		allowRemote       bool
	)
	fs := flag.NewFlagSet("mosaic-load read", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&rawURLs, "url", "base `URL` of the log (loopback only unless --allow-remote); several frontends of one log: repeat the flag or "+
		"list them comma-separated, and client i reads from the (i mod n)th (default http://127.0.0.1:3000)")
	fs.StringVar(&mix, "mix", "all", "request kinds and weights: KIND[=WEIGHT],... (kinds: "+kindList()+"), or all")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "number of concurrent clients, each with one request in flight")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measure for this long (0: bounded by --requests only)")
	fs.IntVar(&cfg.Requests, "requests", 0, "measured requests in total (0: bounded by --duration only)")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "send the same load this long first, not counted")
	fs.IntVar(&cfg.VerifyEvery, "verify-every", 100, "check one answer in this many per client against the checkpoint (1: every answer, 0: none)")
	fs.StringVar(&lkey, "log-key", "", "verify the starting checkpoint's signature with this PEM public key")
	fs.StringVar(&cfg.Origin, "origin", "", "checkpoint origin for --log-key (default: the hostname of --url)")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "longest one request may take")
	fs.DurationVar(&cfg.ProgressInterval, "progress", time.Second, "how often a progress line is written to stderr (0: never)")
	fs.StringVar(&output, "output", "text", "report format: text or json")
	fs.BoolVar(&allowRemote, "allow-remote", false, "allow a target whose host is not a loopback address")
	fs.Usage = func() {
		fmt.Fprint(stderr, readUsage)
		cmdline.PrintFlags(stderr, fs, nil)
	}
	if err := cmdline.Parse(fs, args); err != nil {
		return cfg, "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	urls, err := rawURLs.parse(true)
	if err != nil {
		return cfg, "", err
	}
	for _, u := range urls {
		if !allowRemote && !isLoopback(u.Hostname()) {
			return cfg, "", fmt.Errorf("--url host %q is not a loopback address; pass --allow-remote to load a log elsewhere", u.Hostname())
		}
	}
	cfg.URL, cfg.MoreURLs = urls[0], urls[1:]
	if cfg.Mix, err = parseMix(mix); err != nil {
		return cfg, "", err
	}
	if output != "text" && output != "json" {
		return cfg, "", fmt.Errorf("--output %q: want text or json", output)
	}
	if lkey != "" {
		if cfg.LogKey, err = readPublicKey(lkey); err != nil {
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

// reader holds what every phase of one read run shares.
type reader struct {
	cfg    readConfig
	client *http.Client
	base   string // the tiles URL: URL/api/v2/
	// bases are every target's tiles URL; client i reads from bases[i mod n].
	bases    []string
	plan     *readPlan
	verifier *treeVerifier
	progress io.Writer
}

// RunRead reads the log as cfg describes and returns what it measured.
func RunRead(ctx context.Context, cfg readConfig, progress io.Writer) (*ReadResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	r := &reader{cfg: cfg, client: newHTTPClient(cfg.Concurrency), progress: progress,
		base: cfg.URL.JoinPath("/api/v2").String() + "/"}
	for _, u := range append([]*url.URL{cfg.URL}, cfg.MoreURLs...) {
		r.bases = append(r.bases, u.JoinPath("/api/v2").String()+"/")
	}
	cp, err := r.startingCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	if r.plan, err = newReadPlan(cp.Size, cfg.Mix); err != nil {
		return nil, err
	}
	r.verifier = newTreeVerifier(cp.Size, cp.Hash, r.fetch)
	fmt.Fprintf(progress, "mosaic-load read: tree of size %d (root %x), %d clients, mix %s\n", cp.Size, cp.Hash, cfg.Concurrency, mixString(cfg.Mix))
	if cfg.Warmup > 0 {
		w := r.runPhase(ctx, "warm-up", 0, cfg.Warmup)
		fmt.Fprintf(progress, "mosaic-load read: warm-up: %d requests in %.1fs\n", w.done.Load(), time.Since(w.start).Seconds())
	}
	p := r.runPhase(ctx, "read", cfg.Requests, cfg.Duration)
	res := r.result(p, cp)
	res.Interrupted = ctx.Err() != nil
	return res, nil
}

// startingCheckpoint reads the checkpoint every request of the run is
// within, verifying its signature when a log key was given.
func (r *reader) startingCheckpoint(ctx context.Context) (*log.Checkpoint, error) {
	body, err := r.fetch(ctx, "checkpoint")
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint (is a log serving at %s?): %w", r.cfg.URL, err)
	}
	if r.cfg.LogKey == nil {
		return note.ParseCheckpoint(body)
	}
	var nv sumdbnote.Verifier
	if nv, err = note.NewVerifier(r.cfg.Origin, r.cfg.LogKey); err != nil {
		return nil, fmt.Errorf("--log-key: %w", err)
	}
	return note.VerifyCheckpoint(body, r.cfg.Origin, nv)
}

// fetch GETs path under the tiles URL and returns the body of a 200.
func (r *reader) fetch(ctx context.Context, path string) ([]byte, error) {
	status, body, err := r.get(ctx, path)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", path, status, errorMessage(body))
	}
	return body, nil
}

// maxReadBody bounds one answer: an entry bundle of 256 large entries.
const maxReadBody = 64 << 20

func (r *reader) get(ctx context.Context, path string) (int, []byte, error) {
	return r.getFrom(ctx, r.base, path)
}

// getFrom GETs path under the tiles URL base.
func (r *reader) getFrom(ctx context.Context, base, path string) (int, []byte, error) {
	return r.getInto(ctx, base, path, nil)
}

// getInto is getFrom reading the body into buf's storage when it fits
// (the answer then lives only until buf's next use): a read client
// reuses one buffer instead of growing a new one per answer.
func (r *reader) getInto(ctx context.Context, base, path string, buf []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	res, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b := bytes.NewBuffer(buf[:0])
	if n := res.ContentLength; n > 0 && n <= maxReadBody {
		b.Grow(int(n) + bytes.MinRead) // the body and the read that finds its end
	}
	if _, err := b.ReadFrom(io.LimitReader(res.Body, maxReadBody)); err != nil {
		return 0, nil, fmt.Errorf("reading response: %w", err)
	}
	return res.StatusCode, b.Bytes(), nil
}

// readPhase is one stretch of reads: the warm-up or the measured run.
type readPhase struct {
	name     string
	limit    int64
	duration time.Duration
	start    time.Time
	stop     chan struct{}

	claimed, done, failed, verified, verifyFailed atomic.Int64
	lastDone                                      atomic.Int64 // ns since start
	live                                          liveHistogram

	mu      sync.Mutex // guards samples
	samples []string
	workers []*readWorker
}

// readWorker is one client's tally, owned by its goroutine until the
// phase ends.
type readWorker struct {
	rng   *rand.Rand
	kinds map[readKind]*kindTally
	n     int
	base  string // the tiles URL this client reads from
	// buf holds each answer until the next request.
	buf []byte
}

type kindTally struct {
	latency                []time.Duration
	status                 map[int]int64
	transport, timeouts    int64
	bytes                  int64
	verified, verifyFailed int64
}

func (p *readPhase) claim(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case <-p.stop:
		return false
	default:
	}
	return p.limit == 0 || p.claimed.Add(1) <= p.limit
}

func (p *readPhase) sample(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.samples) < 5 && !strings.Contains(strings.Join(p.samples, "\x00"), msg) {
		p.samples = append(p.samples, msg)
	}
}

func (r *reader) runPhase(ctx context.Context, name string, requests int, duration time.Duration) *readPhase {
	p := &readPhase{name: name, limit: int64(requests), duration: duration, start: time.Now(), stop: make(chan struct{})}
	if duration > 0 {
		t := time.AfterFunc(duration, func() { close(p.stop) })
		defer t.Stop()
	}
	p.workers = make([]*readWorker, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range p.workers {
		w := &readWorker{rng: rand.New(rand.NewPCG(rand.Uint64(), uint64(i))), kinds: map[readKind]*kindTally{}, base: r.base}
		if len(r.bases) > 0 {
			w.base = r.bases[i%len(r.bases)]
		}
		p.workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p.claim(ctx) {
				r.one(ctx, p, w)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	r.readProgress(p, done)
	return p
}

// one sends one request and records its answer.
func (r *reader) one(ctx context.Context, p *readPhase, w *readWorker) {
	t := r.plan.next(w.rng)
	k := w.kinds[t.kind]
	if k == nil {
		k = &kindTally{status: map[int]int64{}}
		w.kinds[t.kind] = k
	}
	start := time.Now()
	status, body, err := r.getInto(ctx, w.base, t.path, w.buf)
	latency := time.Since(start)
	if cap(body) > cap(w.buf) {
		w.buf = body[:0]
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		k.transport++
		if errors.Is(err, context.DeadlineExceeded) {
			k.timeouts++
		}
		p.failed.Add(1)
		p.sample(fmt.Sprintf("%s %s: %v", t.kind, t.path, err))
	} else {
		k.status[status]++
		k.latency = append(k.latency, latency)
		k.bytes += int64(len(body))
		p.live.observe(latency)
		if status != http.StatusOK {
			p.failed.Add(1)
			p.sample(fmt.Sprintf("%s %s: HTTP %d: %s", t.kind, t.path, status, errorMessage(body)))
		} else if w.n++; r.cfg.VerifyEvery > 0 && w.n%r.cfg.VerifyEvery == 0 {
			if err := r.verifier.check(ctx, t, body); err != nil {
				k.verifyFailed++
				p.verifyFailed.Add(1)
				p.sample("verify: " + err.Error())
			} else {
				k.verified++
				p.verified.Add(1)
			}
		}
	}
	p.done.Add(1)
	d := int64(time.Since(p.start))
	for last := p.lastDone.Load(); d > last && !p.lastDone.CompareAndSwap(last, d); last = p.lastDone.Load() {
	}
}

func (r *reader) readProgress(p *readPhase, done <-chan struct{}) {
	if r.cfg.ProgressInterval <= 0 {
		<-done
		return
	}
	t := time.NewTicker(r.cfg.ProgressInterval)
	defer t.Stop()
	prev, prevAt := int64(0), p.start
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			d := p.done.Load()
			rate := float64(d-prev) / now.Sub(prevAt).Seconds()
			prev, prevAt = d, now
			pos := fmt.Sprintf("%.0fs", now.Sub(p.start).Seconds())
			if p.duration > 0 {
				pos += fmt.Sprintf("/%.0fs", p.duration.Seconds())
			}
			fmt.Fprintf(r.progress, "mosaic-load read: %s %d requests  %s  %.0f/s now  p50 %s so far  errors %d  verified %d (failed %d)\n",
				p.name, d, pos, rate, ms(Seconds(p.live.quantile(0.5))), p.failed.Load(), p.verified.Load(), p.verifyFailed.Load())
		}
	}
}

// mixString spells a mix as --mix takes it.
func mixString(mix []mixEntry) string {
	s := make([]string, len(mix))
	for i, e := range mix {
		s[i] = fmt.Sprintf("%s=%d", e.kind, e.weight)
	}
	return strings.Join(s, ",")
}
