package soak

import (
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ack is an entry the log acknowledged with 201.
type ack struct {
	index uint64
	// leaf is the RFC 6962 leaf hash of the acknowledged canonicalized
	// body.
	leaf [32]byte
}

// maxResubmittable bounds the acknowledged requests kept for resubmission.
const maxResubmittable = 4096

// resubmittable is an acknowledged request that can be sent again.
type resubmittable struct {
	body  []byte
	index uint64
}

// ledger records every acknowledged entry. It is safe for concurrent use.
type ledger struct {
	mu sync.Mutex
	// byIndex maps each acknowledged index to its leaf hash; guarded by mu.
	byIndex map[uint64][32]byte
	// pool is a uniform sample (reservoir) of at most maxResubmittable
	// acknowledged requests, of the seen ones recorded; guarded by mu.
	pool []resubmittable
	seen int
}

func newLedger() *ledger { return &ledger{byIndex: map[uint64][32]byte{}} }

// record notes that index was acknowledged for leaf, sent as body. It
// reports false when index was already acknowledged for another leaf: the
// log answered two different entries with one index.
func (l *ledger) record(index uint64, leaf [32]byte, body []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.byIndex[index]; ok {
		return prev == leaf
	}
	l.byIndex[index] = leaf
	l.seen++
	r := resubmittable{body: body, index: index}
	if len(l.pool) < maxResubmittable {
		l.pool = append(l.pool, r)
	} else if j := rand.IntN(l.seen); j < maxResubmittable {
		l.pool[j] = r
	}
	return true
}

// pick returns a random acknowledged request, if there is one.
func (l *ledger) pick() (resubmittable, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pool) == 0 {
		return resubmittable{}, false
	}
	return l.pool[rand.IntN(len(l.pool))], true
}

// acks returns every acknowledged entry, ascending by index.
func (l *ledger) acks() []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ack, 0, len(l.byIndex))
	for i, h := range l.byIndex {
		out = append(out, ack{index: i, leaf: h})
	}
	slices.SortFunc(out, func(a, b ack) int {
		switch {
		case a.index < b.index:
			return -1
		case a.index > b.index:
			return 1
		}
		return 0
	})
	return out
}

// maxSamples bounds the distinct messages kept per kind.
const maxSamples = 3

// recorder counts what the clients saw. It is safe for concurrent use.
type recorder struct {
	// acked and resubmitted feed the progress line.
	acked, resubmitted, malformedSent, malformed5xx atomic.Int64

	mu        sync.Mutex // guards every field below
	add       AddStats
	malformed MalformedStats
	route5xx  map[string]int64
	samples   map[string][]string
}

func newRecorder() *recorder {
	return &recorder{
		add:       AddStats{Status: map[int]int64{}},
		malformed: MalformedStats{Cases: map[string]*CaseStats{}},
		route5xx:  map[string]int64{},
		samples:   map[string][]string{},
	}
}

// sample keeps the first few distinct messages of a kind, for the report.
func (r *recorder) sample(kind, msg string) {
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.samples[kind]
	if len(s) >= maxSamples || slices.Contains(s, msg) {
		return
	}
	r.samples[kind] = append(s, msg)
}

func (r *recorder) samplesCopy() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for k, v := range r.samples {
		for i, m := range v {
			key := k
			if i > 0 {
				key = k + " " + string(rune('1'+i))
			}
			out[key] = m
		}
	}
	return out
}

// serverError counts a 5xx answer on route.
func (r *recorder) serverError(route string) {
	r.mu.Lock()
	r.route5xx[route]++
	r.mu.Unlock()
}

func (r *recorder) routeErrors() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.route5xx)
}

// addOutcome is the final answer to one fresh add.
type addOutcome struct {
	status    int // 0: no HTTP answer
	retried   int64
	transport int64
	acked     bool
	mismatch  bool
}

func (r *recorder) fresh(o addOutcome) {
	if o.acked {
		r.acked.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add.Sent++
	if o.status != 0 {
		r.add.Status[o.status]++
	}
	if o.acked {
		r.add.Acknowledged++
	}
	if o.mismatch {
		r.add.AckMismatch++
	}
	r.add.RetriedAttempts += o.retried
	r.add.TransportErrors += o.transport
}

// resubmitResult is how a resubmission of an acknowledged entry ended.
type resubmitResult int

const (
	resubmitSame resubmitResult = iota
	resubmitOther
	resubmitUnresolved
)

func (r *recorder) resubmit(res resubmitResult) {
	r.resubmitted.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add.Resubmitted++
	switch res {
	case resubmitSame:
		r.add.SameIndex++
	case resubmitOther:
		r.add.OtherIndex++
	default:
		r.add.Unresolved++
	}
}

func (r *recorder) addStats() AddStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.add
	a.Status = maps.Clone(r.add.Status)
	return a
}

// malformedVerdict classifies one answer to a malformed request.
type malformedVerdict int

const (
	verdictRefused    malformedVerdict = iota // 4xx with a JSON error body
	verdictTolerated                          // an allowed 2xx
	verdictServerErr                          // 5xx
	verdictWrong                              // anything else
	verdictUnanswered                         // no HTTP answer
)

func (r *recorder) malformedAnswer(name, route string, status int, v malformedVerdict) {
	r.malformedSent.Add(1)
	if v == verdictServerErr {
		r.malformed5xx.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := &r.malformed
	c := m.Cases[name]
	if c == nil {
		c = &CaseStats{Route: route, Status: map[int]int64{}}
		m.Cases[name] = c
	}
	m.Sent++
	c.Sent++
	if status != 0 {
		c.Status[status]++
	}
	switch v {
	case verdictRefused:
		m.Refused++
	case verdictTolerated:
		m.Tolerated++
	case verdictServerErr:
		m.ServerErrors++
	case verdictWrong:
		m.Wrong++
		c.Wrong++
	case verdictUnanswered:
		m.Unanswered++
		c.Unanswered++
	}
}

func (r *recorder) malformedStats() MalformedStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.malformed
	m.Cases = make(map[string]*CaseStats, len(r.malformed.Cases))
	for k, v := range r.malformed.Cases {
		c := *v
		c.Status = maps.Clone(v.Status)
		m.Cases[k] = &c
	}
	return m
}

// holdEnd is how one attack connection ended.
type holdEnd struct {
	status         int // the HTTP answer read, 0 if none
	closedByServer bool
	held           time.Duration
}

// holdTally counts one kind of attack connection. Safe for concurrent use.
type holdTally struct {
	open atomic.Int64

	mu sync.Mutex // guards s
	s  HoldStats
}

// opened counts a new connection.
func (h *holdTally) opened() {
	n := h.open.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.s.Started++
	h.s.PeakOpen = max(h.s.PeakOpen, n)
}

// closed records how a connection ended.
func (h *holdTally) closed(e holdEnd) {
	h.open.Add(-1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.status != 0 {
		if h.s.Status == nil {
			h.s.Status = map[int]int64{}
		}
		h.s.Status[e.status]++
	}
	if e.closedByServer {
		h.s.ClosedByServer++
	} else {
		h.s.HeldToLimit++
	}
	h.s.Longest = max(h.s.Longest, Seconds(e.held))
}

func (h *holdTally) stats() HoldStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.s
	s.Status = maps.Clone(h.s.Status)
	return s
}

// latencies collects add→proof latencies. Safe for concurrent use.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration // guarded by mu
}

func (l *latencies) observe(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// summary returns the median, 99th percentile (nearest rank) and maximum.
func (l *latencies) summary() (p50, p99, maxd Seconds) {
	l.mu.Lock()
	d := slices.Clone(l.d)
	l.mu.Unlock()
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	rank := func(p float64) Seconds {
		i := int(p*float64(len(d))+0.999999) - 1
		return Seconds(d[max(i, 0)])
	}
	return rank(0.5), rank(0.99), Seconds(d[len(d)-1])
}
