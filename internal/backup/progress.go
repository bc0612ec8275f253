package backup

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints "<what>: n/total <unit> (p%)" to w at most once per
// interval, and always the last time.
type progress struct {
	w        io.Writer
	what     string
	unit     string
	total    uint64
	interval time.Duration

	mu   sync.Mutex
	last time.Time
	done uint64
}

func newProgress(w io.Writer, what, unit string, total uint64) *progress {
	return &progress{w: w, what: what, unit: unit, total: total, interval: time.Second}
}

// set records n done, printing if the interval has passed.
func (p *progress) set(n uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = max(p.done, n)
	if time.Since(p.last) >= p.interval {
		p.printLocked()
	}
}

// add records n more done.
func (p *progress) add(n uint64) {
	p.mu.Lock()
	done := p.done + n
	p.mu.Unlock()
	p.set(done)
}

// finish prints the final count.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.printLocked()
}

func (p *progress) printLocked() {
	p.last = time.Now()
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(min(p.done, p.total)) / float64(p.total)
	}
	fmt.Fprintf(p.w, "%s: %d/%d %s (%.0f%%)\n", p.what, min(p.done, p.total), p.total, p.unit, pct)
}
