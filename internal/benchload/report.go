package benchload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/mosaiclog/mosaic/internal/tlog"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Report is everything one benchmark run measured, as written to JSON.
type Report struct {
	Command  string     `json:"command"`
	Started  time.Time  `json:"started"`
	Finished time.Time  `json:"finished"`
	Machine  Machine    `json:"machine"`
	Settings Settings   `json:"settings"`
	Writes   []WriteRun `json:"writes"`
	Reads    []ReadRun  `json:"reads"`
}

// Machine says where the figures were taken.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	Commit    string `json:"commit"`
	// LoadAverage is /proc/loadavg when the run started: other work on
	// the machine shows here and in each run's Others CPU.
	LoadAverage string `json:"load_average"`
}

// Settings are the run's parameters.
type Settings struct {
	Stores       []string          `json:"stores"`
	Clients      []int             `json:"clients"`
	Duration     Seconds           `json:"duration_seconds"`
	RekorFlags   []string          `json:"rekor_tiles_flags"`
	RekorBinary  string            `json:"rekor_tiles_binary,omitempty"`
	ReadStores   []string          `json:"read_stores"`
	ReadSize     uint64            `json:"read_log_size"`
	ReadSizes    map[string]uint64 `json:"read_log_sizes,omitempty"`
	ReadKinds    []string          `json:"read_kinds"`
	ReadClients  int               `json:"read_clients"`
	ReadDuration Seconds           `json:"read_duration_seconds"`
	FillFlags    []string          `json:"fill_server_flags"`
}

// WriteRun is one server at one concurrency.
type WriteRun struct {
	Store   string     `json:"store"`
	Clients int        `json:"clients"`
	Load    loadReport `json:"load"`
	Usage   Usage      `json:"usage"`
	Profile string     `json:"profile,omitempty"`
}

// ReadRun is one kind of read against one store.
type ReadRun struct {
	Store   string     `json:"store"`
	Kind    string     `json:"kind"`
	Clients int        `json:"clients"`
	Read    readReport `json:"read"`
	Usage   Usage      `json:"usage"`
	Profile string     `json:"profile,omitempty"`
}

func newReport(cfg *Config) *Report {
	r := &Report{Started: time.Now().UTC(), Machine: machine(), Settings: Settings{
		Stores: cfg.Stores, Clients: cfg.Clients, Duration: Seconds(cfg.Duration), RekorFlags: RekorTunedFlags,
		RekorBinary: cfg.Rekor, ReadStores: cfg.ReadStores, ReadSize: cfg.ReadSize, ReadSizes: cfg.ReadSizes, ReadKinds: cfg.ReadKinds,
		ReadClients: cfg.ReadClients, ReadDuration: Seconds(cfg.ReadDuration), FillFlags: fillServerFlags,
	}}
	return r
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		m.LoadAverage = strings.Join(f[:min(3, len(f))], " ")
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=7").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// ReadReport reads a report WriteJSON wrote, to render its tables again.
func ReadReport(r io.Reader) (*Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("reading a bench-load report: %w", err)
	}
	return &rep, nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// entries is the number of measured 201 answers.
func (l *loadReport) ok() int64 { return l.Status[201] }

// errors counts measured requests that did not end in 201.
func (l *loadReport) errors() int64 { return l.Entries - l.ok() }

func (w *WriteRun) summary() string {
	return fmt.Sprintf("%s at %d clients: %.0f entries/s, p50 %s p99 %s, %d errors, server CPU %s/entry",
		w.Store, w.Clients, w.Load.EntriesPerSecond, msec(w.Load.Latency.P50), msec(w.Load.Latency.P99), w.Load.errors(), w.cpuPerEntry())
}

// cpuPerEntry is the server's CPU (with its database's) per measured 201.
func (w *WriteRun) cpuPerEntry() string {
	if w.Load.ok() == 0 {
		return "–"
	}
	cpu := w.Usage.Server.seconds() + w.Usage.Database.seconds()
	return fmt.Sprintf("%.2f ms", cpu/float64(w.Load.ok())*1000)
}

func (r *ReadRun) summary() string {
	return fmt.Sprintf("read %s on %s: %.0f/s, p50 %s p99 %s, %d errors, %d verified (%d failed)", r.Kind, r.Store,
		r.Read.RequestsPerSecond, msec(r.latency().P50), msec(r.latency().P99), r.Read.Errors, r.Read.Verified, r.Read.VerifyFailures)
}

func (r *ReadRun) latency() percentiles {
	if len(r.Read.Kinds) == 0 {
		return percentiles{}
	}
	return r.Read.Kinds[0].Latency
}

// msec formats a latency for the tables.
func msec(s Seconds) string {
	v := s.seconds() * 1000
	switch {
	case v == 0:
		return "–"
	case v < 10:
		return fmt.Sprintf("%.1f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.2f s", v/1000)
	}
}

// Markers delimit the generated section of docs/benchmarks.md.
const (
	BeginMarker = "<!-- bench-load:begin (generated by make bench-load; edits between the markers are replaced) -->"
	EndMarker   = "<!-- bench-load:end -->"
)

// ReplaceSection returns doc with the text between the markers replaced by
// section, or section appended (with the markers) when doc has none.
func ReplaceSection(doc, section string) (string, error) {
	block := BeginMarker + "\n" + strings.TrimRight(section, "\n") + "\n" + EndMarker
	b, e := strings.Index(doc, BeginMarker), strings.Index(doc, EndMarker)
	switch {
	case b < 0 && e < 0:
		return strings.TrimRight(doc, "\n") + "\n\n" + block + "\n", nil
	case b < 0 || e < b:
		return "", fmt.Errorf("the markers of the generated section are out of order or one is missing (%q … %q)", BeginMarker, EndMarker)
	case strings.Count(doc, BeginMarker) > 1 || strings.Count(doc, EndMarker) > 1:
		return "", fmt.Errorf("the generated section's markers appear more than once")
	}
	return doc[:b] + block + doc[e+len(EndMarker):], nil
}

// Markdown writes the generated section: how it was run, the write table
// with ratios against rekor-tiles, the read table and the targets.
func (r *Report) Markdown(w io.Writer) error {
	var b bytes.Buffer
	m := r.Machine
	fmt.Fprintf(&b, "### Generated by `make bench-load` (%s)\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Command: `%s`. Machine: %d CPUs (`nproc`), %s, Linux %s; %s; commit %s; load average %s when it started. ",
		r.Command, m.CPUs, m.CPUModel, m.Kernel, m.GoVersion, m.Commit, m.LoadAverage)
	fmt.Fprintf(&b, "Server and load tool (`mosaic-load`, one process) share the machine; every write run is a fresh log, "+
		"%s closed loop after a warm-up of max(50, 2 × clients) entries, each 201 parsed and its proof and checkpoint "+
		"signature verified; servers alternate at each client count. rekor-tiles is its POSIX server `%s`. "+
		"CPU is user+system from `/proc/PID/stat` over the measured phase (PostgreSQL's processes included for that store); "+
		"“others” is the CPU the rest of the machine used meanwhile, as a share of all CPUs (other sessions: a quiet machine keeps it near 0). "+
		"Full figures: [bench/bench-load.json](bench/bench-load.json).\n\n",
		r.Settings.Duration.String(), strings.Join(r.Settings.RekorFlags, " "))
	r.writeTable(&b)
	r.readTable(&b)
	_, err := w.Write(b.Bytes())
	return err
}

func (s Seconds) String() string { return time.Duration(s).String() }

func (r *Report) writeTable(b *bytes.Buffer) {
	if len(r.Writes) == 0 {
		return
	}
	fmt.Fprintf(b, "A 503 (`--max-inflight-adds`, default %d, refusing adds beyond it with Retry-After) is retried by the load "+
		"tool; “+N × 503” counts the entries whose last answer was still a 503 when the run's time was up (waiting to retry), "+
		"not failures. Latency is of 201 answers, the attempt that succeeded.\n\n", tlog.DefaultMaxInflightAdds)
	fmt.Fprintf(b, "| clients | server | entries/s | × rekor-tiles | p50 | p99 | errors | server CPU / entry | RSS peak | others |\n")
	fmt.Fprintf(b, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	rekor := map[int]float64{}
	for _, w := range r.Writes {
		if w.Store == StoreRekor {
			rekor[w.Clients] = w.Load.EntriesPerSecond
		}
	}
	for _, w := range r.Writes {
		ratio := "–"
		if base := rekor[w.Clients]; base > 0 && w.Store != StoreRekor {
			ratio = fmt.Sprintf("%.1f×", w.Load.EntriesPerSecond/base)
		}
		name := "mosaicd, embedded"
		switch w.Store {
		case StorePostgres:
			name = "mosaicd, PostgreSQL"
		case StoreRekor:
			name = "rekor-tiles (tuned)"
		}
		errs := fmt.Sprint(w.Load.errors() - w.Load.Status[503])
		if n := w.Load.Status[503]; n > 0 {
			errs += fmt.Sprintf(" (+%d × 503)", n)
		}
		fmt.Fprintf(b, "| %d | %s | %.0f | %s | %s | %s | %s | %s | %.0f MiB | %s |\n", w.Clients, name, w.Load.EntriesPerSecond,
			ratio, msec(w.Load.Latency.P50), msec(w.Load.Latency.P99), errs, w.cpuPerEntry(),
			float64(w.Usage.RSSPeak)/(1<<20), othersShare(w.Usage, r.Machine.CPUs))
	}
	b.WriteString("\n")
}

func (r *Report) readTable(b *bytes.Buffer) {
	if len(r.Reads) == 0 {
		return
	}
	fmt.Fprintf(b, "Reads: a log of %s entries filled once through the write API (cached outside the clone), served by mosaicd with "+
		"default flags; one run per kind, %d clients, %s after a 2 s warm-up; one answer in 100 per client verified against the "+
		"signed checkpoint (tiles proven through their parents, bundles hashed into their tile, proofs against hashes and roots "+
		"from proven tiles). The stores files and memory are not Mosaic but references on the same machine: the embedded "+
		"store's log served by `mosaic-load serve-files`, as static files by Go's net/http FileServer and from memory by a "+
		"bare net/http handler.\n\n", r.sizes(), r.Settings.ReadClients, r.Settings.ReadDuration.String())
	fmt.Fprintf(b, "| request | store | req/s | p50 | p99 | errors | verified (failed) | bytes/answer | server CPU / req | others |\n")
	fmt.Fprintf(b, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, rr := range r.Reads {
		cpu := "–"
		if ok := rr.Read.Requests - rr.Read.Errors; ok > 0 {
			cpu = fmt.Sprintf("%.0f µs", (rr.Usage.Server.seconds()+rr.Usage.Database.seconds())/float64(ok)*1e6)
		}
		bytesPer := 0.0
		if len(rr.Read.Kinds) > 0 {
			bytesPer = rr.Read.Kinds[0].BytesPerAnswer
		}
		fmt.Fprintf(b, "| %s | %s | %.0f | %s | %s | %d | %d (%d) | %.0f | %s | %s |\n", rr.Kind, rr.Store, rr.Read.RequestsPerSecond,
			msec(rr.latency().P50), msec(rr.latency().P99), rr.Read.Errors, rr.Read.Verified, rr.Read.VerifyFailures, bytesPer, cpu,
			othersShare(rr.Usage, r.Machine.CPUs))
	}
	b.WriteString("\n")
}

// sizes names the read logs' sizes.
func (r *Report) sizes() string {
	var s []string
	for _, st := range r.Settings.ReadStores {
		if logStore(st) != st {
			continue // a reference, on the embedded store's log
		}
		n := r.Settings.ReadSize
		if m, ok := r.Settings.ReadSizes[st]; ok {
			n = m
		}
		s = append(s, fmt.Sprintf("%d (%s)", n, st))
	}
	return strings.Join(s, ", ")
}

// othersShare is the CPU others used as a share of the machine.
func othersShare(u Usage, cpus int) string {
	if u.Wall <= 0 || cpus == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f %%", u.Others.seconds()/(u.Wall.seconds()*float64(cpus))*100)
}
