package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/pgtest"
)

// outageAddTimeout is mosaicd's --add-timeout in the outage test: the
// longest an add may take, so the bound on every response's latency.
const outageAddTimeout = 5 * time.Second

// resumeWithin bounds how long after PostgreSQL accepts connections again the
// log acknowledges adds again. A healthy add takes a batch age (20 ms), three
// transactions, a checkpoint interval (100 ms) and an await poll (10 ms):
// about 150 ms here. A log still waiting out retry delays from the outage
// takes longer, and with a longer outage times adds out while /readyz says 200.
const resumeWithin = time.Second

// addOutcome is one add as its client saw it.
type addOutcome struct {
	start, end time.Time
	status     int    // 0 when no response came
	err        error  // transport error, or the client's timeout
	msg        string // the start of a refusal's body
}

// outageLoad posts distinct entries from several workers until finished,
// recording the outcome of every request and every acknowledged entry.
type outageLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex // guards outcomes and acks
	outcomes []addOutcome
	acks     []acked
}

func startOutageLoad(t *testing.T, url string, workers int) *outageLoad {
	t.Helper()
	signer := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	l := &outageLoad{stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				body := signer.Request(t, fmt.Appendf(nil, "outage worker %d entry %d at %d", w, i, time.Now().UnixNano()))
				// Beyond the add timeout a response is late: the server hangs.
				ctx, cancel := context.WithTimeout(context.Background(), 2*outageAddTimeout)
				o := addOutcome{start: time.Now()}
				tle, status, b, err := postEntry(ctx, url, body)
				cancel()
				o.end, o.status, o.err = time.Now(), status, err
				if status != http.StatusCreated {
					o.msg = string(b[:min(len(b), 300)])
				}
				l.mu.Lock()
				l.outcomes = append(l.outcomes, o)
				if err == nil && status == http.StatusCreated {
					l.acks = append(l.acks, acked{index: uint64(tle.GetLogIndex()), leaf: tle.GetCanonicalizedBody()})
				}
				l.mu.Unlock()
				if status != http.StatusCreated {
					time.Sleep(20 * time.Millisecond) // refused or down: back off a little
				}
			}
		}()
	}
	return l
}

// count returns how many outcomes satisfy f so far.
func (l *outageLoad) count(f func(addOutcome) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, o := range l.outcomes {
		if f(o) {
			n++
		}
	}
	return n
}

// finish stops the workers, waits for their last requests and returns
// everything recorded.
func (l *outageLoad) finish() ([]addOutcome, []acked) {
	close(l.stop)
	l.wg.Wait()
	return l.outcomes, l.acks
}

// waitFor polls cond until it holds, failing t after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probe GETs url and returns the status, the Retry-After header and the
// error message of a refusal.
func probe(url string) (status int, retryAfter, msg string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*outageAddTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var body struct{ Message string }
		_ = json.Unmarshal(b, &body)
		msg = body.Message
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), msg, err
}

// alive fails t if mosaicd has exited.
func (s *server) alive(t *testing.T, when string) {
	t.Helper()
	select {
	case <-s.done:
		t.Fatalf("mosaicd exited %s: %v\n%s", when, s.cmd.ProcessState, s.stderr)
	default:
	}
}

// PostgreSQL crashes and comes back under load. While it is down, every add
// answers 503 (quickly, never 500, never hanging) and /readyz says why; once
// it is back, the same mosaicd process recovers by itself, and every entry
// acknowledged before, during or after the outage is in the log at its index
// with a valid proof.
//
// What each add may answer depends on when it ran:
//   - started after the crash and ended before the restart began: 503. It
//     cannot be sequenced, and a refused connection says so at once; 504
//     would mean it waited out the add timeout on a database that is gone.
//   - started once PostgreSQL accepts connections again: 201. The database is
//     healthy; anything else means the log has not recovered.
//   - spanning the crash or the restart: 201 (committed before, or published
//     after), 503, or 504 (committed, but no checkpoint covered it within the
//     add timeout). All are truthful and a client may retry any of them.
//
// 500 is never acceptable, and no add may take much longer than the add
// timeout.
//
// mosaicd logs the outage, not each failure: at most outageLogLines lines
// from the crash until the log has recovered, among them one saying that
// adding entries fails and one saying that it works again, while
// mosaic_api_add_store_failures_total counts every add refused for it.
func TestDatabaseOutagePostgres(t *testing.T) {
	const (
		workers = 16
		// outageFor is long enough for retry delays grown during the outage
		// to exceed resumeWithin, so that a log which waits them out instead
		// of noticing that the database answers again fails reliably.
		outageFor = 7 * time.Second
	)
	began := time.Now()
	db := pgtest.NewCluster(t)
	dbURL := db.CreateDatabase("mosaic")
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key.pem")
	if out, err := exec.Command(filepath.Join(binDir, "mosaicd"), "keygen", "--out", keyPath).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v %s", err, out)
	}
	s := startServer(t, dir, "--storage", dbURL, "--signing-key", keyPath, "--add-timeout", outageAddTimeout.String())
	pid := s.cmd.Process.Pid
	load := startOutageLoad(t, s.URL, workers)
	defer func() {
		select {
		case <-load.stop:
		default:
			load.finish()
		}
	}()
	created := func(after time.Time) func(addOutcome) bool {
		return func(o addOutcome) bool { return o.status == http.StatusCreated && !o.start.Before(after) }
	}
	waitFor(t, 10*time.Second, "50 entries acknowledged before the outage", func() bool { return load.count(created(began)) >= 50 })

	logFrom := s.stderrLen() // adds fail, and say so, before Crash returns
	db.Crash()
	crashed := time.Now()
	var readyMsg string
	waitFor(t, 5*time.Second, "/readyz answering 503 with a reason and Retry-After during the outage", func() bool {
		status, retry, msg, err := probe(s.URL + "/readyz")
		readyMsg = msg
		return err == nil && status == http.StatusServiceUnavailable && msg != "" && retry != ""
	})
	outageProbes(t, s)
	time.Sleep(time.Until(crashed.Add(outageFor))) // the outage lasts this long, whatever the server does
	s.alive(t, "during the outage")

	restarting := time.Now()
	db.Start()
	dbBack := time.Now()
	var ready time.Time
	waitFor(t, 20*time.Second, "/readyz answering 200 after PostgreSQL came back", func() bool {
		status, _, _, err := probe(s.URL + "/readyz")
		ready = time.Now()
		return err == nil && status == http.StatusOK
	})
	waitFor(t, 15*time.Second, "20 new entries acknowledged after recovery", func() bool { return load.count(created(ready)) >= 20 })
	outcomes, acks := load.finish()
	s.alive(t, "after the outage")
	checkOutageLog(t, s.stderrSince(logFrom), outcomes, scrapeMetric(t, s.URL, "mosaic_api_add_store_failures_total"))

	checkOutageOutcomes(t, outcomes, outagePhases{crashed: crashed, restarting: restarting, back: dbBack})
	cp, leaves := logState(t, s.URL, s.Origin, readKey(t, keyPath))
	checkAcked(t, s.URL, cp, leaves, acks)
	rederive(t, cp, leaves)

	if err := s.stop(); err != nil {
		t.Errorf("graceful stop after the outage: %v", err)
	}
	if strings.Contains(s.stderr.String(), "panic") {
		t.Errorf("mosaicd logged a panic:\n%s", s.stderr)
	}
	var before, during, after int
	for _, o := range outcomes {
		if o.status == http.StatusCreated {
			switch {
			case o.start.Before(crashed):
				before++
			case o.start.Before(ready):
				during++
			default:
				after++
			}
		}
	}
	t.Logf("/readyz during the outage: 503 %q; 200 again %s after PostgreSQL was back",
		readyMsg, ready.Sub(dbBack).Round(time.Millisecond))
	t.Logf("acknowledged: %d started before the crash, %d during the outage or recovery, %d after /readyz returned 200; "+
		"log size %d (%d entries logged but not acknowledged); mosaicd pid %d throughout; total time %s",
		before, during, after, cp.Size, cp.Size-uint64(len(acks)), pid, time.Since(began).Round(time.Millisecond))
}

// outageProbes checks single requests while the database is down: a new
// add is refused with 503, and reading the checkpoint fails with 503 and a
// retry hint rather than with 500 (or succeeds from a cache).
func outageProbes(t *testing.T, s *server) {
	t.Helper()
	body := mosaictest.NewSigner(t, mosaictest.Ed25519ph).Request(t, []byte("during the outage"))
	ctx, cancel := context.WithTimeout(t.Context(), 2*outageAddTimeout)
	defer cancel()
	start := time.Now()
	_, status, b, err := postEntry(ctx, s.URL, body)
	switch {
	case err != nil:
		t.Errorf("add during the outage: %v after %s", err, time.Since(start).Round(time.Millisecond))
	case status != http.StatusServiceUnavailable:
		t.Errorf("add during the outage: %d %s, want 503", status, b)
	}
	status, retry, msg, err := probe(s.URL + "/api/v2/checkpoint")
	switch {
	case err != nil:
		t.Errorf("checkpoint during the outage: %v", err)
	case status == http.StatusServiceUnavailable && retry == "":
		t.Errorf("checkpoint during the outage: 503 without Retry-After (%q)", msg)
	case status != http.StatusOK && status != http.StatusServiceUnavailable:
		t.Errorf("checkpoint during the outage: %d %q, want 503 (or 200 from a cache)", status, msg)
	}
}

// outagePhases are the moments an add's allowed answers change at.
type outagePhases struct {
	crashed    time.Time // PostgreSQL's processes are gone
	restarting time.Time // pg_ctl start runs
	back       time.Time // PostgreSQL accepts connections again
}

// checkOutageOutcomes checks every add's status and latency against what the
// outage allows (see TestDatabaseOutagePostgres) and logs the counts.
func checkOutageOutcomes(t *testing.T, outcomes []addOutcome, p outagePhases) {
	t.Helper()
	counts := map[int]int{}
	inside := map[int]int{}
	var slowest time.Duration
	var resumed time.Time // the first acknowledgement once PostgreSQL was back
	var bad []string
	for _, o := range outcomes {
		counts[o.status]++
		took := o.end.Sub(o.start)
		slowest = max(slowest, took)
		within := !o.start.Before(p.crashed) && o.end.Before(p.restarting)
		after := !o.start.Before(p.back)
		if within {
			inside[o.status]++
		}
		if o.status == http.StatusCreated && o.end.After(p.back) && (resumed.IsZero() || o.end.Before(resumed)) {
			resumed = o.end
		}
		at := fmt.Sprintf("started %s after the crash, took %s", o.start.Sub(p.crashed).Round(time.Millisecond), took.Round(time.Millisecond))
		switch {
		case o.err != nil:
			bad = append(bad, fmt.Sprintf("no response (%s): %v", at, o.err))
		case took > outageAddTimeout+2*time.Second:
			bad = append(bad, fmt.Sprintf("%d beyond the add timeout %s (%s)", o.status, outageAddTimeout, at))
		case within && o.status != http.StatusServiceUnavailable:
			bad = append(bad, fmt.Sprintf("%d during the outage, want 503 (%s): %s", o.status, at, o.msg))
		case after && o.status != http.StatusCreated:
			bad = append(bad, fmt.Sprintf("%d though PostgreSQL had been back for %s, want 201 (%s): %s",
				o.status, o.start.Sub(p.back).Round(time.Millisecond), at, o.msg))
		case o.status != http.StatusCreated && o.status != http.StatusServiceUnavailable && o.status != http.StatusGatewayTimeout:
			bad = append(bad, fmt.Sprintf("%d (%s): %s", o.status, at, o.msg))
		}
	}
	t.Logf("adds: %d in all; 201: %d, 503: %d, 504: %d, other: %d; %d ran within the outage, all 503: %t; slowest took %s",
		len(outcomes), counts[201], counts[503], counts[504], len(outcomes)-counts[201]-counts[503]-counts[504],
		sumCounts(inside), inside[503] == sumCounts(inside), slowest.Round(time.Millisecond))
	t.Logf("PostgreSQL down %s (crash recovery and start %s); adds acknowledged again %s after it was back",
		p.back.Sub(p.crashed).Round(time.Millisecond), p.back.Sub(p.restarting).Round(time.Millisecond),
		resumed.Sub(p.back).Round(time.Millisecond))
	if len(bad) > 0 {
		t.Errorf("%d adds answered wrongly, first ones:\n%s", len(bad), strings.Join(bad[:min(len(bad), 10)], "\n"))
	}
	if took := resumed.Sub(p.back); resumed.IsZero() || took > resumeWithin {
		t.Errorf("the log acknowledged adds again only %s after PostgreSQL was back, want within %s: "+
			"something still waits out the outage (are retry delays cut short when the database answers again?)",
			took.Round(time.Millisecond), resumeWithin)
	}
	if inside[http.StatusServiceUnavailable] < 10 {
		t.Errorf("only %d adds ran entirely inside the outage; the test proves nothing about it", inside[http.StatusServiceUnavailable])
	}
}

func sumCounts(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// outageLogLines bounds what mosaicd may log from a database crash until
// it has recovered: before outage logging, one line per failed add (22,554
// lines in 10 s under load), plus Tessera's poll every 100 ms. Now each part
// says when it starts failing and when it works again: PostgreSQL
// background work, readiness, adds and the search index (2 each), reads (1:
// a line a minute at most, and only when a read missed the cache during the
// outage), and Tessera's polls (one line per distinct message; two seen,
// NextIndex and IntegratedSize; one more allowed): at most 12.
const outageLogLines = 12

// checkOutageLog checks what mosaicd logged from the crash until the test's
// load ended: at most outageLogLines lines, one outage start and one
// recovery for adds, the recovery counting failed adds; and that the metric
// counted every add refused because the store failed (storeFailures).
func checkOutageLog(t *testing.T, logged string, outcomes []addOutcome, storeFailures float64) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logged), "\n")
	var failing, recovered []string
	for _, l := range lines {
		switch {
		case strings.Contains(l, `msg="adding entries is failing`):
			failing = append(failing, l)
		case strings.Contains(l, `msg="adding entries works again"`):
			recovered = append(recovered, l)
		}
	}
	refused := 0 // adds the clients saw refused because the store failed
	for _, o := range outcomes {
		if o.status == http.StatusServiceUnavailable && strings.Contains(o.msg, "could not store the entry") {
			refused++
		}
	}
	t.Logf("mosaicd logged %d lines (%d bytes) from the crash to the end of the load; %d adds refused because the store failed, "+
		"mosaic_api_add_store_failures_total %v:\n%s", len(lines), len(logged), refused, storeFailures, logged)
	if len(lines) > outageLogLines {
		t.Errorf("%d log lines for one outage, want at most %d", len(lines), outageLogLines)
	}
	if len(failing) != 1 || !strings.Contains(failing[0], "level=ERROR") || !strings.Contains(failing[0], "err=") {
		t.Errorf("%d lines saying that adding entries fails, want one, at level ERROR, with the reason: %q", len(failing), failing)
	}
	if len(recovered) != 1 {
		t.Fatalf("%d lines saying that adding entries works again, want one: %q", len(recovered), recovered)
	}
	m := regexp.MustCompile(` failed_for=(\S+) failures=(\d+) `).FindStringSubmatch(recovered[0])
	if m == nil {
		t.Fatalf("recovery line %q lacks failed_for and failures", recovered[0])
	}
	if n, _ := strconv.Atoi(m[2]); n < refused || float64(n) > storeFailures {
		t.Errorf("recovery line counts %d failed adds; the clients saw %d and the metric counts %v", n, refused, storeFailures)
	}
	if storeFailures < float64(refused) || refused == 0 {
		t.Errorf("mosaic_api_add_store_failures_total %v, want at least the %d refusals (and some)", storeFailures, refused)
	}
}

// stderrLen is how much mosaicd has written to stderr so far.
func (s *server) stderrLen() int {
	w := s.cmd.Stderr.(*syncWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return s.stderr.Len()
}

// stderrSince returns what mosaicd wrote to stderr after the first off bytes.
func (s *server) stderrSince(off int) string {
	w := s.cmd.Stderr.(*syncWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(s.stderr.Bytes()[off:])
}

// scrapeMetric reads an unlabelled sample name from url's /metrics.
func scrapeMetric(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}
