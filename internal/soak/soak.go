// Package soak runs a bounded mixed load against a Mosaic log — valid adds
// and resubmissions, malformed requests, slow clients and clients that never
// read — and then reads the whole log back to check that nothing it
// acknowledged was lost.
//
// Soak drives one running server (a Target); Run starts a fresh mosaicd
// subprocess per store (the embedded POSIX store in a temporary directory,
// or a fresh PostgreSQL database that is dropped afterwards) and soaks each
// in turn. While the load runs, mosaicd's resident memory, open file
// descriptors and client connections are sampled from /proc every second.
//
// The guarantees checked, each a failure of the soak when broken:
//   - every index answered 201 holds exactly the entry acknowledged there,
//     with an inclusion proof that verifies against a checkpoint signed by
//     the log's key, and the whole tree re-derives from its entry bundles;
//   - a resubmitted acknowledged entry is answered with its original index,
//     and no leaf is logged twice;
//   - every malformed request gets a 4xx answer with a JSON error body,
//     never a 5xx.
//
// Slow and never-reading clients are not failures by themselves: the report
// says how long the server let them hold a connection and what it cost.
//
// Every client targets loopback only, opens a bounded number of connections
// and stops by itself when the configured duration is up.
package soak

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the load one store gets.
type Config struct {
	// Duration bounds the load; in-flight adds are then awaited and the
	// log read back.
	Duration time.Duration
	// Source returns a distinct, validly signed protobuf-JSON
	// CreateEntryRequest (hashedrekord v0.0.2) on every call. It must be
	// safe for concurrent use, and every request must be signed by the
	// same public key (searches look for that key's entries).
	Source func() ([]byte, error)
	// Adders is the number of concurrent valid-add clients, each with one
	// request in flight.
	Adders int
	// ResubmitFraction is the share of add requests that resubmit an
	// already acknowledged entry instead of a fresh one.
	ResubmitFraction float64
	// MalformedClients send malformed requests, MalformedRate per second
	// between them.
	MalformedClients int
	MalformedRate    float64
	// SlowClients hold connections that send a request's bytes one every
	// SlowInterval.
	SlowClients  int
	SlowInterval time.Duration
	// NeverReadingClients hold connections that send requests with large
	// answers and never read them, each for at most NeverReadingHold.
	NeverReadingClients int
	NeverReadingHold    time.Duration
	// Progress receives a line every ProgressInterval (nil or 0: none).
	Progress         io.Writer
	ProgressInterval time.Duration
}

// DefaultConfig is the load `mosaic-load soak` applies unless told
// otherwise (Source and Progress are the caller's).
var DefaultConfig = Config{
	Duration:            90 * time.Second,
	Adders:              16,
	ResubmitFraction:    0.1,
	MalformedClients:    4,
	MalformedRate:       100,
	SlowClients:         8,
	SlowInterval:        3 * time.Second,
	NeverReadingClients: 8,
	NeverReadingHold:    30 * time.Second,
	ProgressInterval:    5 * time.Second,
}

// maxClients bounds the clients of one soak, attackers included: enough to
// replay the 5,000-connection slow-body attack, and no more (each client
// holds a descriptor here and one in mosaicd).
const maxClients = 6000

func (c *Config) validate() error {
	switch {
	case c.Duration <= 0:
		return fmt.Errorf("duration %s: want a positive duration", c.Duration)
	case c.Source == nil:
		return errors.New("no request source")
	case c.Adders < 1:
		return fmt.Errorf("%d adders: want at least 1 (the soak checks what was acknowledged)", c.Adders)
	case c.ResubmitFraction < 0 || c.ResubmitFraction >= 1:
		return fmt.Errorf("resubmit fraction %g: want 0 ≤ f < 1", c.ResubmitFraction)
	case c.MalformedClients < 0 || c.SlowClients < 0 || c.NeverReadingClients < 0:
		return errors.New("client counts must not be negative")
	case c.MalformedClients > 0 && c.MalformedRate <= 0:
		return fmt.Errorf("malformed rate %g: want a positive rate", c.MalformedRate)
	case c.SlowClients > 0 && c.SlowInterval <= 0:
		return fmt.Errorf("slow interval %s: want a positive duration", c.SlowInterval)
	case c.NeverReadingClients > 0 && c.NeverReadingHold <= 0:
		return fmt.Errorf("never-reading hold %s: want a positive duration", c.NeverReadingHold)
	case c.MalformedClients+c.SlowClients+c.NeverReadingClients+c.Adders > maxClients:
		return fmt.Errorf("more than %d clients: the soak is bounded on purpose", maxClients)
	}
	return nil
}

// Target is one running Mosaic server.
type Target struct {
	// Store names it in the report ("posix", "postgres").
	Store string
	// URL is the server's base URL; its host must be a loopback address.
	URL string
	// Origin and PublicKey verify its checkpoints.
	Origin    string
	PublicKey crypto.PublicKey
	// PID is the server process sampled from /proc (0: none).
	PID int
	// Done is closed when the server process exits (nil: never watched).
	Done <-chan struct{}
}

// drainTimeout bounds the wait for adds in flight when the load stops:
// mosaicd's longest add wait plus a margin.
const drainTimeout = 90 * time.Second

// Soak runs cfg's load against tgt for cfg.Duration, reads the log back and
// returns what it measured. An error means the soak could not run at all; a
// run that found defects returns a report whose Failures are not empty.
func Soak(ctx context.Context, cfg Config, tgt Target) (*StoreReport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s, err := newSoaker(cfg, tgt)
	if err != nil {
		return nil, err
	}
	if err := s.preflight(ctx); err != nil {
		return nil, err
	}
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.Duration)
	defer stopLoad()
	var died atomic.Bool
	if tgt.Done != nil {
		go func() {
			select {
			case <-tgt.Done:
				died.Store(true)
				stopLoad()
			case <-loadCtx.Done():
			}
		}()
	}
	s.proc.start()
	defer s.proc.stop()
	drainCtx, stopDrain := context.WithTimeout(ctx, cfg.Duration+drainTimeout)
	defer stopDrain()

	start := time.Now()
	var wg sync.WaitGroup
	s.startClients(loadCtx, drainCtx, &wg)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	s.progressUntil(done, start)
	elapsed := time.Since(start)

	rep := s.report()
	rep.Elapsed = Seconds(elapsed)
	rep.Interrupted = ctx.Err() != nil
	if died.Load() {
		rep.ServerDied = true
		rep.ReadBack.Error = "mosaicd exited during the load"
		return rep, nil
	}
	s.settle(ctx)
	rep.Process = s.proc.stats()
	rep.ReadBack = s.readBack(ctx)
	after, err := s.serverErrors(ctx)
	if err != nil {
		s.rec.sample("metrics", err.Error())
	}
	rep.ServerErrors = subtract(after, s.serverErrorsBefore)
	rep.Samples = s.rec.samplesCopy()
	return rep, nil
}

// soaker is one store's soak. Its counters are safe for concurrent use.
type soaker struct {
	cfg  Config
	tgt  Target
	base string // the target's base URL, no trailing slash
	addr string // host:port, for raw connections
	// client sends adds, malformed requests and reads.
	client *http.Client
	// keyFingerprint is "sha256:<hex>" of the entries' public key.
	keyFingerprint string
	// serverErrorsBefore is mosaicd's 5xx count by route when the soak
	// started.
	serverErrorsBefore map[string]int64

	led          *ledger
	rec          *recorder
	slow, never  holdTally
	proc         *sampler
	addLatencies latencies
}

func newSoaker(cfg Config, tgt Target) (*soaker, error) {
	u, err := url.Parse(tgt.URL)
	if err != nil {
		return nil, fmt.Errorf("target URL: %w", err)
	}
	if u.Scheme != "http" || !isLoopback(u.Hostname()) || u.Port() == "" {
		return nil, fmt.Errorf("target URL %q: the soak only targets http://<loopback address>:<port>", tgt.URL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = cfg.Adders + cfg.MalformedClients + 4
	tr.MaxIdleConnsPerHost = tr.MaxIdleConns
	tr.Proxy = nil // loopback only, never through a proxy
	s := &soaker{
		cfg: cfg, tgt: tgt, base: strings.TrimSuffix(u.String(), "/"), addr: u.Host,
		client: &http.Client{Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		led: newLedger(), rec: newRecorder(),
	}
	s.proc = newSampler(tgt.PID, u.Port())
	return s, nil
}

// isLoopback reports whether host is "localhost" or a loopback IP literal.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// preflight checks the server answers and learns the entries' key.
func (s *soaker) preflight(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := s.do(ctx, "", http.MethodGet, "/readyz", nil, "")
	if err != nil {
		return fmt.Errorf("%s does not answer: %w", s.base, err)
	}
	if res.status != http.StatusOK {
		return fmt.Errorf("GET %s/readyz: HTTP %d", s.base, res.status)
	}
	body, err := s.cfg.Source()
	if err != nil {
		return fmt.Errorf("building a request: %w", err)
	}
	req, err := parseRequest(body)
	if err != nil {
		return fmt.Errorf("the request source: %w", err)
	}
	s.keyFingerprint = req.keyFingerprint
	// 5xx answered before the soak (a /readyz 503 during start-up) are
	// not the soak's; an error here shows again at the end.
	s.serverErrorsBefore, _ = s.serverErrors(ctx)
	return nil
}

// startClients starts every client. New work starts only while load is
// live; adds already sent are awaited under drain.
func (s *soaker) startClients(load, drain context.Context, wg *sync.WaitGroup) {
	spawn := func(n int, f func(i int)) {
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); f(i) }()
		}
	}
	spawn(s.cfg.Adders, func(int) { s.adder(load, drain) })
	spawn(s.cfg.MalformedClients, func(i int) { s.malformedClient(load, i) })
	spawn(s.cfg.SlowClients, func(i int) { s.slowClient(load, i) })
	spawn(s.cfg.NeverReadingClients, func(i int) { s.neverReadingClient(load, i) })
}

// progressUntil writes a progress line every ProgressInterval until done.
func (s *soaker) progressUntil(done <-chan struct{}, start time.Time) {
	if s.cfg.Progress == nil || s.cfg.ProgressInterval <= 0 {
		<-done
		return
	}
	t := time.NewTicker(s.cfg.ProgressInterval)
	defer t.Stop()
	prevAcked, prevAt := int64(0), start
	for {
		select {
		case <-done:
			fmt.Fprintf(s.cfg.Progress, "soak %s: load stopped after %.0fs; %d entries acknowledged\n",
				s.tgt.Store, time.Since(start).Seconds(), s.rec.acked.Load())
			return
		case now := <-t.C:
			acked := s.rec.acked.Load()
			rate := float64(acked-prevAcked) / now.Sub(prevAt).Seconds()
			prevAcked, prevAt = acked, now
			p := s.proc.latest()
			fmt.Fprintf(s.cfg.Progress, "soak %s: %3.0fs/%.0fs  acked %d (%.0f/s)  resubmits %d  malformed %d (5xx %d)  "+
				"slow open %d  never-reading open %d  rss %s  fds %d  conns %d\n",
				s.tgt.Store, now.Sub(start).Seconds(), s.cfg.Duration.Seconds(), acked, rate, s.rec.resubmitted.Load(),
				s.rec.malformedSent.Load(), s.rec.malformed5xx.Load(), s.slow.open.Load(), s.never.open.Load(),
				mib(p.rss), p.fds, p.conns)
		}
	}
}

// settle closes the soak's idle connections and waits (at most 10 s) for
// the server to let go of every client connection, so the figures after
// the load show what the server kept.
func (s *soaker) settle(ctx context.Context) {
	s.client.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p, err := s.proc.sampleNow(); err != nil || p.conns == 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// report gathers the counters into a StoreReport (read-back and process
// figures are added by the caller).
func (s *soaker) report() *StoreReport {
	rep := &StoreReport{Store: s.tgt.Store, URL: s.base}
	rep.Adds = s.rec.addStats()
	rep.Adds.LatencyP50, rep.Adds.LatencyP99, rep.Adds.LatencyMax = s.addLatencies.summary()
	rep.Malformed = s.rec.malformedStats()
	rep.ClientErrors = s.rec.routeErrors()
	rep.Slow = s.slow.stats()
	rep.NeverReading = s.never.stats()
	return rep
}
