package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
)

// ReadResult is what one read run measured (the measured phase only).
type ReadResult struct {
	URL         string `json:"url"`
	Concurrency int    `json:"concurrency"`
	Mix         string `json:"mix"`
	// TreeSize and RootHash are the checkpoint every request was within.
	TreeSize uint64 `json:"tree_size"`
	RootHash []byte `json:"root_hash"`
	// Requests counts every measured request with a final outcome.
	Requests int64 `json:"requests"`
	// Elapsed runs from the first measured request to the last answer.
	Elapsed Seconds `json:"elapsed_seconds"`
	// RequestsPerSecond counts 200 answers of every kind.
	RequestsPerSecond float64 `json:"requests_per_second"`
	// Errors counts requests that got no 200 (transport errors included).
	Errors int64 `json:"errors"`
	// Verified and VerifyFailures count the checked answers.
	VerifyEvery    int   `json:"verify_every"`
	Verified       int64 `json:"verified"`
	VerifyFailures int64 `json:"verify_failures"`
	// Kinds has one entry per kind of request, in --mix order.
	Kinds        []KindResult `json:"kinds"`
	Interrupted  bool         `json:"interrupted"`
	ErrorSamples []string     `json:"error_samples,omitempty"`
}

// KindResult is one kind of request's share of a read run.
type KindResult struct {
	Kind     string `json:"kind"`
	Requests int64  `json:"requests"`
	// RequestsPerSecond counts this kind's 200 answers over the run's
	// elapsed time: with a mix of kinds, its share of the throughput.
	RequestsPerSecond float64 `json:"requests_per_second"`
	// BytesPerAnswer is the mean size of an answer's body.
	BytesPerAnswer  float64       `json:"bytes_per_answer"`
	Latency         Percentiles   `json:"latency"`
	Status          map[int]int64 `json:"status"`
	TransportErrors int64         `json:"transport_errors"`
	Timeouts        int64         `json:"timeouts"`
	Verified        int64         `json:"verified"`
	VerifyFailures  int64         `json:"verify_failures"`
}

// result merges the clients' tallies of a finished phase.
func (r *reader) result(p *readPhase, cp *log.Checkpoint) *ReadResult {
	elapsed := time.Duration(p.lastDone.Load())
	if elapsed == 0 {
		elapsed = time.Since(p.start)
	}
	res := &ReadResult{URL: targetString(append([]*url.URL{r.cfg.URL}, r.cfg.MoreURLs...)), Concurrency: r.cfg.Concurrency, Mix: mixString(r.cfg.Mix),
		TreeSize: cp.Size, RootHash: cp.Hash, Elapsed: Seconds(elapsed), VerifyEvery: r.cfg.VerifyEvery}
	var ok int64
	for _, e := range r.cfg.Mix {
		kr := KindResult{Kind: string(e.kind), Status: map[int]int64{}}
		var latency []time.Duration
		var bytes int64
		for _, w := range p.workers {
			k := w.kinds[e.kind]
			if k == nil {
				continue
			}
			latency = append(latency, k.latency...)
			for c, n := range k.status {
				kr.Status[c] += n
				kr.Requests += n
			}
			kr.TransportErrors += k.transport
			kr.Timeouts += k.timeouts
			kr.Requests += k.transport
			kr.Verified += k.verified
			kr.VerifyFailures += k.verifyFailed
			bytes += k.bytes
		}
		kr.Latency = summarize(latency)
		if len(latency) > 0 {
			kr.BytesPerAnswer = float64(bytes) / float64(len(latency))
		}
		kr.RequestsPerSecond = float64(kr.Status[http.StatusOK]) / elapsed.Seconds()
		ok += kr.Status[http.StatusOK]
		res.Requests += kr.Requests
		res.Errors += kr.Requests - kr.Status[http.StatusOK]
		res.Verified += kr.Verified
		res.VerifyFailures += kr.VerifyFailures
		res.Kinds = append(res.Kinds, kr)
	}
	res.RequestsPerSecond = float64(ok) / elapsed.Seconds()
	p.mu.Lock()
	res.ErrorSamples = append(res.ErrorSamples, p.samples...)
	p.mu.Unlock()
	return res
}

// WriteText writes the report for people.
func (r *ReadResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "target        %s (concurrency %d, mix %s)\n", r.URL, r.Concurrency, r.Mix)
	fmt.Fprintf(&b, "tree          size %d, root %x\n", r.TreeSize, r.RootHash)
	fmt.Fprintf(&b, "requests      %d in %.2fs: %.0f/s answered 200, %d errors\n", r.Requests, time.Duration(r.Elapsed).Seconds(), r.RequestsPerSecond, r.Errors)
	fmt.Fprintf(&b, "verified      %d answers (one in %d per client), %d failures\n", r.Verified, r.VerifyEvery, r.VerifyFailures)
	fmt.Fprintf(&b, "%-15s %9s %10s %9s %9s %9s %10s  %s\n", "kind", "requests", "req/s", "p50", "p99", "max", "bytes", "status")
	for _, k := range r.Kinds {
		st := formatStatus(k.Status)
		if k.TransportErrors > 0 {
			st += fmt.Sprintf(", transport errors: %d (%d timeouts)", k.TransportErrors, k.Timeouts)
		}
		fmt.Fprintf(&b, "%-15s %9d %10.0f %9s %9s %9s %10.0f  %s\n", k.Kind, k.Requests, k.RequestsPerSecond,
			ms(k.Latency.P50), ms(k.Latency.P99), ms(k.Latency.Max), k.BytesPerAnswer, st)
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

// writeJSONOr writes v as indented JSON when output is "json", else calls
// text.
func writeJSONOr(w io.Writer, output string, v any, text func(io.Writer) error) error {
	if output != "json" {
		return text(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// UnmarshalJSON decodes seconds, as MarshalJSON writes them.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*s = Seconds(f * float64(time.Second))
	return nil
}
