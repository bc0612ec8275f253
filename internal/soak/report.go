package soak

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is a whole soak: one StoreReport per store, in the order run.
type Report struct {
	// Duration is the load's length per store.
	Duration Seconds        `json:"duration_seconds"`
	Stores   []*StoreReport `json:"stores"`
}

// Failures lists every broken guarantee of every store; empty means the
// soak passed.
func (r *Report) Failures() []string {
	var out []string
	for _, s := range r.Stores {
		for _, f := range s.Failures() {
			out = append(out, s.Store+": "+f)
		}
	}
	return out
}

// StoreReport is what one store's soak measured. Counts are of requests the
// soak's own clients sent, except ServerErrors, which mosaicd's metrics
// report.
type StoreReport struct {
	Store string `json:"store"`
	URL   string `json:"url"`
	// Elapsed is how long the load ran (shorter than the configured
	// duration when the server died or the soak was interrupted).
	Elapsed     Seconds `json:"elapsed_seconds"`
	Interrupted bool    `json:"interrupted,omitempty"`

	Adds         AddStats          `json:"adds"`
	ReadBack     ReadBack          `json:"read_back"`
	Malformed    MalformedStats    `json:"malformed"`
	Slow         HoldStats         `json:"slow_clients"`
	NeverReading HoldStats         `json:"never_reading_clients"`
	Process      ProcessStats      `json:"process"`
	ClientErrors map[string]int64  `json:"client_5xx_by_route"`
	ServerErrors map[string]int64  `json:"server_5xx_by_route,omitempty"`
	Samples      map[string]string `json:"samples,omitempty"`

	// ServerExit is how mosaicd ended: "exit status 0" after the soak's
	// SIGTERM, or what killed it early.
	ServerExit string `json:"server_exit,omitempty"`
	// ServerDied is set when mosaicd exited before the soak stopped it.
	ServerDied bool `json:"server_died,omitempty"`
}

// AddStats counts valid submissions: fresh entries and resubmissions of
// entries already acknowledged.
type AddStats struct {
	// Sent counts fresh entries that got a final answer or gave up.
	Sent int64 `json:"sent"`
	// Acknowledged counts fresh entries answered 201.
	Acknowledged int64 `json:"acknowledged"`
	// Status counts each final HTTP status of fresh entries.
	Status map[int]int64 `json:"status"`
	// RetriedAttempts counts 503/504 answers that were retried.
	RetriedAttempts int64 `json:"retried_attempts"`
	TransportErrors int64 `json:"transport_errors"`
	// AckMismatch counts 201 answers whose logged entry is not the one
	// sent, or whose index already acknowledged another entry.
	AckMismatch int64 `json:"ack_mismatch"`
	// Resubmitted counts resubmissions of acknowledged entries; SameIndex
	// those answered with the original index, OtherIndex those answered
	// with another (a broken dedup), Unresolved those with no 201/409.
	Resubmitted int64 `json:"resubmitted"`
	SameIndex   int64 `json:"resubmit_same_index"`
	OtherIndex  int64 `json:"resubmit_other_index"`
	Unresolved  int64 `json:"resubmit_unresolved"`
	// Latency is the add→proof latency of acknowledged fresh entries.
	LatencyP50 Seconds `json:"latency_p50_seconds"`
	LatencyP99 Seconds `json:"latency_p99_seconds"`
	LatencyMax Seconds `json:"latency_max_seconds"`
}

// ReadBack is the log read back after the load: every acknowledged index
// checked against a checkpoint whose signature was verified.
type ReadBack struct {
	// Error is why the read-back could not finish ("" when it did).
	Error string `json:"error,omitempty"`
	// LogSize is the verified checkpoint's size.
	LogSize uint64 `json:"log_size"`
	// Verified counts acknowledged entries found at their index with an
	// inclusion proof that verifies.
	Verified int64 `json:"verified"`
	// Lost counts acknowledged entries not in the log at their index:
	// Beyond the checkpoint's size, or WrongLeaf (another entry there).
	Lost      int64 `json:"lost"`
	Beyond    int64 `json:"beyond_size"`
	WrongLeaf int64 `json:"wrong_leaf"`
	// ProofFailures counts inclusion proofs that could not be built or do
	// not verify.
	ProofFailures int64 `json:"proof_failures"`
	// Duplicates counts leaves held at more than one index.
	Duplicates int64 `json:"duplicate_leaves"`
	// Audit is "ok" when the whole tree re-derived from its entry bundles
	// matches every tile and the checkpoint, else the audit's error.
	Audit string `json:"audit"`
}

// MalformedStats counts malformed requests by case.
type MalformedStats struct {
	Sent int64 `json:"sent"`
	// Refused counts 4xx answers with a JSON error body: the right answer.
	Refused int64 `json:"refused_4xx_json"`
	// Tolerated counts 2xx answers where a 2xx is right (an injection
	// string in a well-formed search that matches nothing).
	Tolerated int64 `json:"tolerated_2xx"`
	// ServerErrors counts 5xx answers: each is a defect.
	ServerErrors int64 `json:"server_errors_5xx"`
	// Wrong counts other wrong answers: a 4xx without a JSON error body,
	// an accepted malformed request, a search injection that matched.
	Wrong int64 `json:"wrong_answers"`
	// Unanswered counts requests that got no HTTP answer (the server
	// closed the connection while an oversize body was being sent).
	Unanswered int64                 `json:"unanswered"`
	Cases      map[string]*CaseStats `json:"cases"`
}

// CaseStats is one malformed case's answers.
type CaseStats struct {
	Route      string        `json:"route"`
	Sent       int64         `json:"sent"`
	Status     map[int]int64 `json:"status"`
	Unanswered int64         `json:"unanswered"`
	Wrong      int64         `json:"wrong"`
}

// HoldStats describes attack connections that try to hold the server's
// resources: how many were opened and how each ended.
type HoldStats struct {
	Started int64 `json:"started"`
	// Status counts the HTTP answers the server sent before closing (slow
	// clients read their answer; never-reading clients get none).
	Status map[int]int64 `json:"status,omitempty"`
	// ClosedByServer counts connections the server closed or reset.
	ClosedByServer int64 `json:"closed_by_server"`
	// HeldToLimit counts connections the soak closed itself, after its
	// hold limit or at the end of the load, still open on the server.
	HeldToLimit int64 `json:"held_to_limit"`
	// Longest is the longest a connection stayed open.
	Longest Seconds `json:"longest_seconds"`
	// PeakOpen is the most held at once.
	PeakOpen int64 `json:"peak_open"`
}

// ProcessStats are mosaicd's resources, sampled from /proc every second.
type ProcessStats struct {
	Samples int `json:"samples"`
	// RSSPeak is VmHWM, the kernel's high-water mark of resident memory.
	RSSPeak int64 `json:"rss_peak_bytes"`
	// RSSEnd, FDsEnd and ConnsEnd are sampled after the load stopped and
	// its connections closed: what the server kept.
	RSSEnd  int64 `json:"rss_end_bytes"`
	FDsPeak int   `json:"fds_peak"`
	FDsEnd  int   `json:"fds_end"`
	// Conns counts TCP connections mosaicd holds on its listening port.
	ConnsPeak int `json:"conns_peak"`
	ConnsEnd  int `json:"conns_end"`
}

// Failures lists the guarantees this store broke.
func (s *StoreReport) Failures() []string {
	var out []string
	add := func(n int64, what string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, what))
		}
	}
	rb := s.ReadBack
	if rb.Error != "" {
		out = append(out, "read-back failed: "+rb.Error)
	}
	add(rb.Lost, "acknowledged entries lost")
	add(rb.ProofFailures, "inclusion proofs failed")
	add(rb.Duplicates, "leaves logged more than once")
	if rb.Error == "" && rb.Audit != "ok" {
		out = append(out, "audit: "+rb.Audit)
	}
	add(s.Adds.AckMismatch, "201 answers for another entry than the one sent")
	add(s.Adds.OtherIndex, "resubmissions answered with another index")
	add(s.Malformed.ServerErrors, "malformed requests answered 5xx")
	add(s.Malformed.Wrong, "malformed requests answered wrongly (not 4xx JSON)")
	if s.Adds.Acknowledged == 0 {
		out = append(out, "no entry was acknowledged: the load proved nothing")
	}
	if s.ServerDied {
		out = append(out, "mosaicd died during the soak: "+s.ServerExit)
	}
	return out
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes r as Markdown tables, one column per store, ready to
// paste into docs/, followed by the failures (or a line saying there were
// none).
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Soak: %s of mixed load per store on a fresh mosaicd.\n\n", time.Duration(r.Duration))
	writeTable(&b, r.Stores, summaryRows)
	b.WriteString("\nMalformed requests by case (answers by HTTP status):\n\n")
	writeTable(&b, r.Stores, caseRows(r.Stores))
	for _, s := range r.Stores {
		if s.Interrupted {
			fmt.Fprintf(&b, "\n%s was interrupted before its duration was up; its figures cover what ran.\n", s.Store)
		}
	}
	if f := r.Failures(); len(f) > 0 {
		b.WriteString("\nFAILED:\n")
		for _, s := range f {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	} else {
		b.WriteString("\nNo acknowledged entry lost, every proof verified, no malformed request answered 5xx.\n")
	}
	for _, s := range r.Stores {
		for _, k := range slices.Sorted(maps.Keys(s.Samples)) {
			fmt.Fprintf(&b, "\n%s sample, %s: %s", s.Store, k, s.Samples[k])
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type row struct {
	name  string
	value func(*StoreReport) string
}

func writeTable(b *strings.Builder, stores []*StoreReport, rows []row) {
	b.WriteString("| |")
	for _, s := range stores {
		b.WriteString(" " + s.Store + " |")
	}
	b.WriteString("\n|---|")
	for range stores {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + r.name + " |")
		for _, s := range stores {
			b.WriteString(" " + strings.ReplaceAll(r.value(s), "|", `\|`) + " |")
		}
		b.WriteString("\n")
	}
}

var summaryRows = []row{
	{"load ran", func(s *StoreReport) string { return fmt.Sprintf("%.0f s", time.Duration(s.Elapsed).Seconds()) }},
	{"entries acknowledged (201)", func(s *StoreReport) string { return itoa(s.Adds.Acknowledged) }},
	{"verified after the load (leaf + inclusion proof)", func(s *StoreReport) string { return itoa(s.ReadBack.Verified) }},
	{"lost", func(s *StoreReport) string { return itoa(s.ReadBack.Lost) }},
	{"proof failures", func(s *StoreReport) string { return itoa(s.ReadBack.ProofFailures) }},
	{"log size / duplicate leaves", func(s *StoreReport) string {
		return fmt.Sprintf("%d / %d", s.ReadBack.LogSize, s.ReadBack.Duplicates)
	}},
	{"audit (tree re-derived from bundles)", func(s *StoreReport) string { return s.ReadBack.Audit }},
	{"fresh adds: final status", func(s *StoreReport) string { return formatStatus(s.Adds.Status) }},
	{"fresh adds: 503/504 retried, transport errors", func(s *StoreReport) string {
		return fmt.Sprintf("%d, %d", s.Adds.RetriedAttempts, s.Adds.TransportErrors)
	}},
	{"add→proof p50 / p99 / max", func(s *StoreReport) string {
		return fmt.Sprintf("%s / %s / %s", ms(s.Adds.LatencyP50), ms(s.Adds.LatencyP99), ms(s.Adds.LatencyMax))
	}},
	{"resubmissions: same index / other / unresolved", func(s *StoreReport) string {
		return fmt.Sprintf("%d / %d / %d", s.Adds.SameIndex, s.Adds.OtherIndex, s.Adds.Unresolved)
	}},
	{"malformed: sent / 4xx JSON / 2xx tolerated", func(s *StoreReport) string {
		m := s.Malformed
		return fmt.Sprintf("%d / %d / %d", m.Sent, m.Refused, m.Tolerated)
	}},
	{"malformed: 5xx / wrong / unanswered", func(s *StoreReport) string {
		m := s.Malformed
		return fmt.Sprintf("%d / %d / %d", m.ServerErrors, m.Wrong, m.Unanswered)
	}},
	{"5xx by route (soak clients)", func(s *StoreReport) string { return formatRoutes(s.ClientErrors) }},
	{"5xx by route (mosaicd metrics)", func(s *StoreReport) string { return formatRoutes(s.ServerErrors) }},
	{"slow clients: opened / peak open", func(s *StoreReport) string { return holdCounts(s.Slow) }},
	{"slow clients: answers / closed by server / held to limit", func(s *StoreReport) string { return holdEnds(s.Slow) }},
	{"slow clients: longest held", func(s *StoreReport) string { return secs(s.Slow.Longest) }},
	{"never-reading clients: opened / peak open", func(s *StoreReport) string { return holdCounts(s.NeverReading) }},
	{"never-reading clients: closed by server / held to limit", func(s *StoreReport) string {
		return fmt.Sprintf("%d / %d", s.NeverReading.ClosedByServer, s.NeverReading.HeldToLimit)
	}},
	{"never-reading clients: longest held", func(s *StoreReport) string { return secs(s.NeverReading.Longest) }},
	{"mosaicd RSS peak (VmHWM) / after load", func(s *StoreReport) string {
		return fmt.Sprintf("%s / %s", mib(s.Process.RSSPeak), mib(s.Process.RSSEnd))
	}},
	{"mosaicd open fds peak / after load", func(s *StoreReport) string {
		return fmt.Sprintf("%d / %d", s.Process.FDsPeak, s.Process.FDsEnd)
	}},
	{"mosaicd client connections peak / after load", func(s *StoreReport) string {
		return fmt.Sprintf("%d / %d", s.Process.ConnsPeak, s.Process.ConnsEnd)
	}},
	{"mosaicd exit", func(s *StoreReport) string { return s.ServerExit }},
}

// caseRows has one row per malformed case seen by any store.
func caseRows(stores []*StoreReport) []row {
	names := map[string]bool{}
	for _, s := range stores {
		for n := range s.Malformed.Cases {
			names[n] = true
		}
	}
	var rows []row
	for _, n := range slices.Sorted(maps.Keys(names)) {
		rows = append(rows, row{n, func(s *StoreReport) string {
			c := s.Malformed.Cases[n]
			if c == nil {
				return "-"
			}
			v := formatStatus(c.Status)
			if c.Unanswered > 0 {
				v += fmt.Sprintf(", no answer: %d", c.Unanswered)
			}
			if c.Wrong > 0 {
				v += fmt.Sprintf(", WRONG: %d", c.Wrong)
			}
			return v
		}})
	}
	return rows
}

func holdCounts(h HoldStats) string { return fmt.Sprintf("%d / %d", h.Started, h.PeakOpen) }

func holdEnds(h HoldStats) string {
	return fmt.Sprintf("%s / %d / %d", formatStatus(h.Status), h.ClosedByServer, h.HeldToLimit)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func formatStatus(m map[int]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d×%d", m[c], c))
	}
	return strings.Join(parts, ", ")
}

func formatRoutes(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", r, m[r]))
	}
	return strings.Join(parts, ", ")
}

func ms(s Seconds) string {
	return fmt.Sprintf("%.0f ms", float64(time.Duration(s))/float64(time.Millisecond))
}

func secs(s Seconds) string { return fmt.Sprintf("%.1f s", time.Duration(s).Seconds()) }

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// Seconds is a duration that encodes as fractional seconds in JSON.
type Seconds time.Duration

// MarshalJSON encodes s as seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(s).Seconds(), 'f', 3, 64)), nil
}
