package client

import (
	"fmt"
	"io"
	"time"
)

// Progress writes a throttled progress line while a log is read: done of
// total entries, the rate, and the time left. The zero Every is one line a
// second. It is not safe for concurrent use.
type Progress struct {
	// W receives the lines; nil discards them.
	W io.Writer
	// Label starts each line, e.g. "audit example.com".
	Label string
	// Every is the least time between two lines (default 1s).
	Every time.Duration

	start, last time.Time
	first       uint64 // done when Start was called
}

// Start begins timing at done entries.
func (p *Progress) Start(done uint64) {
	p.start, p.last, p.first = time.Now(), time.Now(), done
	if p.Every <= 0 {
		p.Every = time.Second
	}
}

// Update writes a line if Every has passed since the last one.
func (p *Progress) Update(done, total uint64) {
	if p.W == nil || time.Since(p.last) < p.Every {
		return
	}
	p.last = time.Now()
	p.line(done, total, false)
}

// Done writes the final line.
func (p *Progress) Done(done, total uint64) {
	if p.W != nil {
		p.line(done, total, true)
	}
}

func (p *Progress) line(done, total uint64, final bool) {
	elapsed := time.Since(p.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done-p.first) / s
	}
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	msg := fmt.Sprintf("%s: %d/%d entries (%.1f%%), %.0f entries/s", p.Label, done, total, pct, rate)
	switch {
	case final:
		msg += fmt.Sprintf(", done in %s", elapsed.Round(time.Millisecond))
	case rate > 0 && total > done:
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		if eta < 10*time.Second {
			eta = eta.Round(100 * time.Millisecond)
		} else {
			eta = eta.Round(time.Second)
		}
		msg += fmt.Sprintf(", ETA %s", eta)
	}
	fmt.Fprintln(p.W, msg)
}
