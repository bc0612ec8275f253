package explorer

import (
	"fmt"
	"sync"
	"time"
)

// rateSampleEvery is how often Run records the tree size; rateWindow is
// how far back the chart goes, in rateBuckets bars.
const (
	rateSampleEvery = 10 * time.Second
	rateWindow      = time.Hour
	rateBuckets     = 60
)

// rateSampler remembers the tree size over the last hour, from which the
// log page draws the entries added per minute. It knows only what this
// process saw: after a restart the chart starts empty.
type rateSampler struct {
	mu sync.Mutex
	// samples are ascending by time, the oldest at most rateWindow before
	// the newest; guarded by mu.
	samples []sizeSample
}

type sizeSample struct {
	at   time.Time
	size uint64
}

func newRateSampler() *rateSampler { return &rateSampler{} }

// add records size at time at. A sample within a second of the previous
// one replaces it, so page loads do not grow the list.
func (s *rateSampler) add(at time.Time, size uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.samples); n > 0 {
		last := s.samples[n-1]
		if at.Before(last.at) || size < last.size {
			return
		}
		if at.Sub(last.at) < time.Second {
			s.samples[n-1] = sizeSample{at, size}
			return
		}
	}
	s.samples = append(s.samples, sizeSample{at, size})
	cut := 0
	for cut < len(s.samples)-1 && at.Sub(s.samples[cut+1].at) >= rateWindow {
		cut++
	}
	s.samples = s.samples[cut:]
}

// rateChart is the add-rate chart as the log page draws it: one bar per
// minute of the last hour, oldest first.
type rateChart struct {
	Bars []rateBar
	// Total is the entries added over the time the samples cover, and
	// Covered that time.
	Total   uint64
	Covered time.Duration
	// Peak is the largest bar, the chart's scale.
	Peak uint64
	// Width and Height are the SVG's view box.
	Width, Height int
}

type rateBar struct {
	X, Y, W, H int
	Count      uint64
	// Label is the bar's text for screen readers and tooltips.
	Label string
}

const chartWidth, chartHeight, barWidth = 600, 80, 10

// chart builds the chart as of now.
func (s *rateSampler) chart(now time.Time) rateChart {
	s.mu.Lock()
	samples := append([]sizeSample(nil), s.samples...)
	s.mu.Unlock()
	c := rateChart{Width: chartWidth, Height: chartHeight}
	counts := make([]uint64, rateBuckets)
	start := now.Add(-rateWindow)
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		if b.at.Before(start) || b.at.After(now) {
			continue
		}
		bucket := int(b.at.Sub(start) / time.Minute)
		bucket = min(max(bucket, 0), rateBuckets-1)
		counts[bucket] += b.size - a.size
		c.Total += b.size - a.size
	}
	if len(samples) > 1 {
		first := samples[0].at
		if first.Before(start) {
			first = start
		}
		c.Covered = samples[len(samples)-1].at.Sub(first)
	}
	for _, n := range counts {
		c.Peak = max(c.Peak, n)
	}
	for i, n := range counts {
		h := 0
		if c.Peak > 0 {
			h = int(n * uint64(chartHeight-2) / c.Peak)
		}
		if n > 0 {
			h = max(h, 1)
		}
		minutesAgo := rateBuckets - i
		c.Bars = append(c.Bars, rateBar{
			X: i * barWidth, Y: chartHeight - h, W: barWidth - 2, H: h, Count: n,
			Label: fmt.Sprintf("%s added %d to %d minutes ago", formatCount(n), minutesAgo, minutesAgo-1),
		})
	}
	return c
}
