package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one load run, as the flags describe it (see the package doc).
type Config struct {
	// URL is the log's base URL; requests go to URL/api/v2/log/entries.
	URL *url.URL
	// MoreURLs are further frontends of the same log (several mosaicd
	// processes on one database and bucket): client i sends every entry
	// to the (i mod n)th of URL, MoreURLs...
	MoreURLs []*url.URL
	// Concurrency is the number of clients, each with one request in
	// flight at a time.
	Concurrency int
	// Entries and Duration bound the measured phase; at least one must be
	// set, and the first bound reached ends it.
	Entries  int
	Duration time.Duration
	// Warmup entries are sent first at the same concurrency and not
	// counted.
	Warmup int
	// Rate, when positive, makes the load open: entries start at this
	// average rate per second (Poisson arrivals), at most Concurrency in
	// flight. Zero is a closed loop: each client sends its next entry as
	// soon as the previous one is answered.
	Rate    float64
	KeyType KeyType
	// Verify checks each 201 response's inclusion proof; with LogKey the
	// checkpoint signature too, for the log named Origin.
	Verify bool
	LogKey crypto.PublicKey
	Origin string
	// Timeout bounds one HTTP attempt.
	Timeout time.Duration
	// MaxRetries bounds the retries of one entry after 503 + Retry-After.
	MaxRetries int
	// Pregenerate is the most requests signed before timing starts.
	Pregenerate int
	// ProgressInterval is how often a progress line is written (0: never).
	ProgressInterval time.Duration
}

func (c *Config) validate() error {
	switch {
	case c.URL == nil || slices.Contains(c.MoreURLs, nil):
		return errors.New("no target URL")
	case c.Concurrency < 1:
		return fmt.Errorf("--concurrency %d: want at least 1", c.Concurrency)
	case c.Concurrency < len(c.targets()):
		return fmt.Errorf("--concurrency %d is below the %d URLs given: each URL needs a client", c.Concurrency, len(c.targets()))
	case c.Entries < 0 || c.Warmup < 0 || c.Duration < 0 || c.MaxRetries < 0 || c.Pregenerate < 0 || c.Rate < 0:
		return errors.New("--entries, --warmup, --duration, --rate, --max-retries and --pregenerate must not be negative")
	case c.Entries == 0 && c.Duration == 0:
		return errors.New("give --entries or --duration (or both) so the run ends by itself")
	case c.Timeout <= 0:
		return fmt.Errorf("--timeout %s: want a positive duration", c.Timeout)
	case c.KeyType != ECDSAP256 && c.KeyType != Ed25519ph:
		return fmt.Errorf("unknown --key-type %q (want %q or %q)", c.KeyType, ECDSAP256, Ed25519ph)
	case c.LogKey != nil && !c.Verify:
		return errors.New("a log key is only used with --verify")
	}
	return nil
}

// targets is URL followed by MoreURLs.
func (c *Config) targets() []*url.URL { return append([]*url.URL{c.URL}, c.MoreURLs...) }

// targetString lists the targets, comma-separated.
func targetString(urls []*url.URL) string {
	s := make([]string, len(urls))
	for i, u := range urls {
		s[i] = u.String()
	}
	return strings.Join(s, ",")
}

// Run sends the load described by cfg and returns what it measured. It
// writes progress to progress (nil: nowhere). When ctx ends early, Run
// returns what was measured so far with Interrupted set.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	signer, err := newEntrySigner(cfg.KeyType)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, client: newHTTPClient(cfg.Concurrency), progress: progress}
	for _, u := range cfg.targets() {
		r.endpoints = append(r.endpoints, u.JoinPath("/api/v2/log/entries").String())
	}
	if cfg.Verify {
		if r.verifier, err = newResponseVerifier(cfg.Origin, cfg.LogKey); err != nil {
			return nil, err
		}
	}
	if err := r.preflight(ctx); err != nil {
		return nil, err
	}

	limit := 0 // requests the source hands out; 0 means until stopped
	if cfg.Entries > 0 {
		limit = cfg.Warmup + cfg.Entries
	}
	n := cfg.Pregenerate
	if limit > 0 {
		n = min(n, limit)
	}
	fmt.Fprintf(progress, "mosaic-load: signing %d %s requests before timing\n", n, cfg.KeyType)
	pre, err := signer.pregenerate(ctx, n, progress, cfg.ProgressInterval)
	if err != nil {
		return nil, fmt.Errorf("signing requests: %w", err)
	}
	srcCtx, stopSource := context.WithCancel(ctx)
	defer stopSource()
	r.src = newSource(srcCtx, signer, pre, limit, cfg.Concurrency)

	if cfg.Warmup > 0 {
		w := r.runPhase(ctx, "warm-up", cfg.Warmup, 0)
		fmt.Fprintf(progress, "mosaic-load: warm-up: %d entries, %d × 201, in %.1fs\n",
			w.done.Load(), w.ok.Load(), time.Since(w.start).Seconds())
	}
	p := r.runPhase(ctx, "load", cfg.Entries, cfg.Duration)
	stopSource()
	for range r.src.ch { // the producer has ended once ch is closed
	}
	if r.src.err != nil {
		return nil, fmt.Errorf("signing requests during the run: %w", r.src.err)
	}
	res := r.result(p)
	res.Interrupted = ctx.Err() != nil
	res.SignedDuringRun = r.src.signedLive.Load()
	return res, nil
}

// runner holds what every phase of one run shares.
type runner struct {
	cfg    Config
	client *http.Client
	// endpoints are the targets' write URLs; client i uses endpoints[i mod n].
	endpoints []string
	verifier  *responseVerifier // nil without --verify
	src       *source
	progress  io.Writer
}

// phase is one stretch of load: the warm-up or the measured run.
type phase struct {
	name     string
	limit    int64         // entries to send; 0: until stop
	duration time.Duration // 0: no time bound
	start    time.Time
	// stop is closed when the duration is up; no entry starts after that.
	stop chan struct{}
	// pace gives each entry its intended start time in an open-loop run;
	// nil in a closed loop.
	pace <-chan time.Time

	claimed atomic.Int64
	// done counts entries with a final answer; ok those that got 201;
	// failed those that did not or whose proof failed.
	done, ok, failed, retries atomic.Int64
	// late counts open-loop entries that started lateAfter or more behind
	// their intended time.
	late atomic.Int64
	// lastDone is when the latest entry finished, in ns since start.
	lastDone atomic.Int64
	live     liveHistogram

	// mu guards samples.
	mu      sync.Mutex
	samples []string

	// workers holds each client's tally; set when the phase has ended.
	workers []*workerStats
}

func (p *phase) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// claim reserves the next entry, or reports that the phase is over.
func (p *phase) claim(ctx context.Context) bool {
	if ctx.Err() != nil || p.stopped() {
		return false
	}
	return p.limit == 0 || p.claimed.Add(1) <= p.limit
}

func (p *phase) finish(ok bool) {
	p.done.Add(1)
	if ok {
		p.ok.Add(1)
	} else {
		p.failed.Add(1)
	}
	d := int64(time.Since(p.start))
	for {
		last := p.lastDone.Load()
		if d <= last || p.lastDone.CompareAndSwap(last, d) {
			return
		}
	}
}

// sample keeps the first few distinct failure messages.
func (p *phase) sample(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.samples) >= 5 {
		return
	}
	for _, s := range p.samples {
		if s == msg {
			return
		}
	}
	p.samples = append(p.samples, msg)
}

// wait blocks until the pacer releases the next entry, and reports false
// when the phase ends first.
func (p *phase) wait(ctx context.Context) bool {
	select {
	case intended := <-p.pace:
		if time.Since(intended) >= lateAfter {
			p.late.Add(1)
		}
		return true
	case <-ctx.Done():
		return false
	case <-p.stop:
		return false
	}
}

// workerStats is one client's tally, owned by its goroutine until the phase
// ends.
type workerStats struct {
	latency, withRetries []time.Duration
	// refused holds the latency of every 503 answer, retried or final.
	refused              []time.Duration
	status               map[int]int64
	transport, timeouts  int64
	verified, proofFails int64
}

// runPhase runs cfg.Concurrency clients until entries were sent or duration
// passed (whichever is set and comes first), and returns the phase once
// every client has its last answer.
func (r *runner) runPhase(ctx context.Context, name string, entries int, duration time.Duration) *phase {
	p := &phase{name: name, limit: int64(entries), duration: duration, start: time.Now(), stop: make(chan struct{})}
	if duration > 0 {
		t := time.AfterFunc(duration, func() { close(p.stop) })
		defer t.Stop()
	}
	done := make(chan struct{})
	if r.cfg.Rate > 0 {
		p.pace = startPacer(r.cfg.Rate, done)
	}
	stats := make([]*workerStats, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range stats {
		stats[i] = &workerStats{status: map[int]int64{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(ctx, p, r.endpoints[i%len(r.endpoints)], stats[i])
		}()
	}
	go func() { wg.Wait(); close(done) }()
	r.reportProgress(p, done)
	p.workers = stats
	return p
}

func (r *runner) worker(ctx context.Context, p *phase, endpoint string, ws *workerStats) {
	for p.claim(ctx) {
		if p.pace != nil && !p.wait(ctx) {
			return
		}
		select {
		case req, ok := <-r.src.ch:
			if !ok {
				return
			}
			r.send(ctx, p, endpoint, req, ws)
		case <-ctx.Done():
			return
		case <-p.stop:
			return
		}
	}
}

// send submits one entry to endpoint, retrying after 503 + Retry-After, and
// records its final answer. An entry cut short by ctx is not recorded.
func (r *runner) send(ctx context.Context, p *phase, endpoint string, req *request, ws *workerStats) {
	first := time.Now()
	for attempt := 0; ; attempt++ {
		start := time.Now()
		status, body, wait, err := r.post(ctx, endpoint, req.body)
		latency := time.Since(start)
		if err == nil && status == http.StatusServiceUnavailable {
			ws.refused = append(ws.refused, latency)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			ws.transport++
			if errors.Is(err, context.DeadlineExceeded) {
				ws.timeouts++
			}
			p.sample(err.Error())
			p.finish(false)
			return
		}
		if status == http.StatusServiceUnavailable && wait >= 0 && attempt < r.cfg.MaxRetries && !p.stopped() {
			select {
			case <-time.After(wait):
				p.retries.Add(1)
				continue
			case <-ctx.Done():
				return
			case <-p.stop:
				// Out of time: the 503 stands as this entry's answer.
			}
		}
		ws.status[status]++
		if status != http.StatusCreated {
			p.sample(fmt.Sprintf("HTTP %d: %s", status, errorMessage(body)))
			p.finish(false)
			return
		}
		ws.latency = append(ws.latency, latency)
		ws.withRetries = append(ws.withRetries, time.Since(first))
		p.live.observe(latency)
		ok := true
		if r.verifier != nil {
			if err := r.verifier.check(body, req); err != nil {
				ws.proofFails++
				p.sample("proof: " + err.Error())
				ok = false
			} else {
				ws.verified++
			}
		}
		p.finish(ok)
		return
	}
}

// reportProgress writes a line every ProgressInterval until done is closed.
func (r *runner) reportProgress(p *phase, done <-chan struct{}) {
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
			late := ""
			if p.pace != nil {
				late = fmt.Sprintf("  late starts %d", p.late.Load())
			}
			fmt.Fprintf(r.progress, "mosaic-load: %s %s  %.0f/s now  p50 %s so far  retries %d  errors %d%s\n",
				p.name, p.position(d, now), rate, ms(Seconds(p.live.quantile(0.5))), p.retries.Load(), p.failed.Load(), late)
		}
	}
}

// position says how far the phase has come: done/total, elapsed/duration.
func (p *phase) position(done int64, now time.Time) string {
	s := strconv.FormatInt(done, 10)
	if p.limit > 0 {
		s += "/" + strconv.FormatInt(p.limit, 10)
	}
	s += fmt.Sprintf(" entries  %.0fs", now.Sub(p.start).Seconds())
	if p.duration > 0 {
		s += fmt.Sprintf("/%.0fs", p.duration.Seconds())
	}
	return s
}

// result merges the clients' tallies of a finished phase.
func (r *runner) result(p *phase) *Result {
	res := &Result{
		URL: targetString(r.cfg.targets()), Concurrency: r.cfg.Concurrency, KeyType: string(r.cfg.KeyType),
		Warmup: r.cfg.Warmup, Verify: r.cfg.Verify, Status: map[int]int64{},
		Entries: p.done.Load(), Retries: p.retries.Load(), Rate: r.cfg.Rate, LateStarts: p.late.Load(),
	}
	var latency, withRetries, refused []time.Duration
	for _, ws := range p.workers {
		latency = append(latency, ws.latency...)
		withRetries = append(withRetries, ws.withRetries...)
		refused = append(refused, ws.refused...)
		for c, n := range ws.status {
			res.Status[c] += n
		}
		res.TransportErrors += ws.transport
		res.Timeouts += ws.timeouts
		res.Verified += ws.verified
		res.ProofFailures += ws.proofFails
	}
	elapsed := time.Duration(p.lastDone.Load())
	if elapsed == 0 {
		elapsed = time.Since(p.start)
	}
	res.Elapsed = Seconds(elapsed)
	res.EntriesPerSecond = float64(res.Status[http.StatusCreated]) / elapsed.Seconds()
	res.Latency = summarize(latency)
	res.LatencyWithRetries = summarize(withRetries)
	res.Refused = summarize(refused)
	p.mu.Lock()
	res.ErrorSamples = append(res.ErrorSamples, p.samples...)
	p.mu.Unlock()
	return res
}
