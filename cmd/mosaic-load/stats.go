package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Result is what one run measured. Only the measured phase is counted; the
// warm-up is reported by its size alone.
type Result struct {
	URL         string `json:"url"`
	Concurrency int    `json:"concurrency"`
	KeyType     string `json:"key_type"`
	Warmup      int    `json:"warmup_entries"`
	// Rate is the open-loop target in entries per second; 0 for a closed
	// loop. LateStarts counts entries that started 10ms or more behind
	// schedule because every client was busy.
	Rate       float64 `json:"rate"`
	LateStarts int64   `json:"late_starts"`
	// Entries is the number of measured entries that got a final answer
	// (any status or a transport error).
	Entries int64 `json:"entries"`
	// Elapsed runs from the first measured request to the last answer.
	Elapsed Seconds `json:"elapsed_seconds"`
	// EntriesPerSecond counts 201 responses only.
	EntriesPerSecond float64 `json:"entries_per_second"`
	// Latency is the add→proof latency of each 201: the attempt that
	// succeeded, from sending the request to reading the whole response.
	Latency Percentiles `json:"latency"`
	// LatencyWithRetries adds the earlier 503 attempts and the waits they
	// asked for; it differs from Latency only when Retries > 0.
	LatencyWithRetries Percentiles `json:"latency_with_retries"`
	// Refused is the latency of every 503 answer, retried or final: how
	// quickly an overloaded log says no. Its count is the number of 503s.
	Refused Percentiles `json:"refused_latency"`
	// Status counts each entry's final HTTP status.
	Status map[int]int64 `json:"status"`
	// Retries counts 503 responses with Retry-After that were retried.
	Retries int64 `json:"retries"`
	// TransportErrors counts entries that got no HTTP response (timeouts
	// included, also counted in Timeouts).
	TransportErrors int64 `json:"transport_errors"`
	Timeouts        int64 `json:"timeouts"`
	// Verified and ProofFailures count --verify outcomes for 201 responses.
	Verify        bool  `json:"verify"`
	Verified      int64 `json:"verified"`
	ProofFailures int64 `json:"proof_failures"`
	// SignedDuringRun counts requests signed after timing started, because
	// the pre-signed supply ran out.
	SignedDuringRun int64 `json:"signed_during_run"`
	// Interrupted is set when the run was stopped (a signal) before its
	// bound; the figures cover what ran.
	Interrupted bool `json:"interrupted"`
	// ErrorSamples holds the first few distinct failure messages.
	ErrorSamples []string `json:"error_samples,omitempty"`
}

// Errors is the number of measured entries that did not end in 201.
func (r *Result) Errors() int64 { return r.Entries - r.Status[201] }

// Seconds is a duration that encodes as fractional seconds in JSON.
type Seconds time.Duration

// MarshalJSON encodes s as seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.6f", time.Duration(s).Seconds())), nil
}

// Percentiles summarises a set of latencies (nearest-rank percentiles).
type Percentiles struct {
	Count int     `json:"count"`
	P50   Seconds `json:"p50_seconds"`
	P90   Seconds `json:"p90_seconds"`
	P99   Seconds `json:"p99_seconds"`
	Max   Seconds `json:"max_seconds"`
	Mean  Seconds `json:"mean_seconds"`
}

// summarize sorts d in place and returns its percentiles.
func summarize(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	rank := func(p float64) Seconds {
		i := int(math.Ceil(p/100*float64(len(d)))) - 1
		return Seconds(d[max(i, 0)])
	}
	return Percentiles{
		Count: len(d),
		P50:   rank(50), P90: rank(90), P99: rank(99),
		Max:  Seconds(d[len(d)-1]),
		Mean: Seconds(sum / time.Duration(len(d))),
	}
}

// WriteText writes the report for people.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	verify := "off"
	if r.Verify {
		verify = "on"
	}
	fmt.Fprintf(&b, "target        %s (concurrency %d, key %s, verify %s)\n", r.URL, r.Concurrency, r.KeyType, verify)
	if r.Rate > 0 {
		fmt.Fprintf(&b, "mode          open loop at %.1f entries/s (Poisson arrivals), %d late starts\n", r.Rate, r.LateStarts)
	} else {
		fmt.Fprintf(&b, "mode          closed loop (each client sends its next entry when answered)\n")
	}
	fmt.Fprintf(&b, "entries       %d measured after %d warm-up, in %.2fs\n", r.Entries, r.Warmup, time.Duration(r.Elapsed).Seconds())
	fmt.Fprintf(&b, "throughput    %.1f entries/s (201 responses)\n", r.EntriesPerSecond)
	fmt.Fprintf(&b, "add→proof     p50 %s  p90 %s  p99 %s  max %s  mean %s  (%d responses)\n",
		ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max), ms(r.Latency.Mean), r.Latency.Count)
	if r.Retries > 0 {
		l := r.LatencyWithRetries
		fmt.Fprintf(&b, "with retries  p50 %s  p90 %s  p99 %s  max %s\n", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
	}
	if r.Refused.Count > 0 {
		l := r.Refused
		fmt.Fprintf(&b, "503 answers   p50 %s  p90 %s  p99 %s  max %s  (%d responses, retried or final)\n",
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), l.Count)
	}
	fmt.Fprintf(&b, "status        %s\n", formatStatus(r.Status))
	fmt.Fprintf(&b, "retries       %d (503 with Retry-After)\n", r.Retries)
	fmt.Fprintf(&b, "errors        %d (not 201), of which %d transport errors (%d timeouts)\n", r.Errors(), r.TransportErrors, r.Timeouts)
	if r.Verify {
		fmt.Fprintf(&b, "proofs        %d verified, %d failures\n", r.Verified, r.ProofFailures)
	}
	if r.SignedDuringRun > 0 {
		fmt.Fprintf(&b, "note          %d requests were signed during the run (raise --pregenerate to keep signing out of the measurement)\n", r.SignedDuringRun)
	}
	if r.Interrupted {
		fmt.Fprintf(&b, "note          interrupted before the run's bound; these figures cover what ran\n")
	}
	for _, s := range r.ErrorSamples {
		fmt.Fprintf(&b, "error sample  %s\n", s)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatStatus(m map[int]int64) string {
	if len(m) == 0 {
		return "none"
	}
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d: %d", c, m[c])
	}
	return strings.Join(parts, ", ")
}

// ms formats a latency in milliseconds with a precision that suits it.
func ms(s Seconds) string {
	v := float64(time.Duration(s)) / float64(time.Millisecond)
	if v < 10 {
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// liveHistogram approximates the latency distribution while the load runs,
// for the progress line: log-spaced buckets 5% wide, from 1µs to ~1000s.
// The final report uses the exact samples instead. Safe for concurrent use.
type liveHistogram struct {
	buckets [histBuckets]atomic.Int64
}

const (
	histGrowth  = 1.05
	histBuckets = 430 // 1.05^430 µs ≈ 1300 s
)

func (h *liveHistogram) observe(d time.Duration) {
	us := float64(d) / float64(time.Microsecond)
	i := 0
	if us > 1 {
		i = int(math.Log(us) / math.Log(histGrowth))
	}
	h.buckets[min(i, histBuckets-1)].Add(1)
}

// quantile returns the upper bound of the bucket holding quantile q, or 0
// when nothing was observed.
func (h *liveHistogram) quantile(q float64) time.Duration {
	var counts [histBuckets]int64
	var total int64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, c := range counts {
		seen += c
		if seen >= want {
			return time.Duration(math.Pow(histGrowth, float64(i+1)) * float64(time.Microsecond))
		}
	}
	return time.Duration(math.Pow(histGrowth, histBuckets) * float64(time.Microsecond))
}
