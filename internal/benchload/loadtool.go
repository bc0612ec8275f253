package benchload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// cpuSample is the CPU used so far by the server, its database and the
// whole machine.
type cpuSample struct {
	at      time.Time
	server  time.Duration
	db      map[int]time.Duration
	machine time.Duration
}

func (s *server) sample() cpuSample {
	c := cpuSample{at: time.Now()}
	c.server, _ = cpuTime(s.proc.pid())
	if s.dbCPU != nil {
		c.db = s.dbCPU()
	}
	c.machine, _ = machineBusy()
	return c
}

// Usage is the CPU spent while one measured phase ran.
type Usage struct {
	// Wall is the measured phase's length as seen from outside.
	Wall Seconds `json:"wall_seconds"`
	// Server and Database are the server's and (PostgreSQL) its
	// database processes' user+system CPU; LoadTool the load tool's;
	// Others everything else the machine ran (other sessions, kernel
	// threads), which a quiet machine keeps near zero.
	Server   Seconds `json:"server_cpu_seconds"`
	Database Seconds `json:"database_cpu_seconds"`
	LoadTool Seconds `json:"load_tool_cpu_seconds"`
	Others   Seconds `json:"others_cpu_seconds"`
	// RSS and RSSPeak are the server's resident memory after the phase
	// and its peak since it started, in bytes.
	RSS     int64 `json:"server_rss_bytes"`
	RSSPeak int64 `json:"server_rss_peak_bytes"`
}

// loadRun is one invocation of the load tool against a server.
type loadRun struct {
	args []string
	// phaseMarker starts the measured phase: the server's CPU is sampled
	// when a progress line contains it (the end of the warm-up), else when
	// the tool starts.
	phaseMarker string
}

// runLoadTool runs the load tool with args (plus --output json) against
// srv, passing its progress on, and decodes its JSON report into out. It
// returns the CPU used during the measured phase.
func runLoadTool(ctx context.Context, cfg *Config, srv *server, lr loadRun, out any) (*Usage, error) {
	cmd := exec.CommandContext(ctx, cfg.LoadTool, append(lr.args, "--output", "json")...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	start := srv.sample()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.LoadTool, err)
	}
	var (
		mu      sync.Mutex
		phase   = start
		loadAt  time.Duration // the load tool's CPU at the phase start
		tail    []string
		scanned = make(chan struct{})
	)
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if lr.phaseMarker != "" && strings.Contains(line, lr.phaseMarker) {
				s := srv.sample()
				l, _ := cpuTime(cmd.Process.Pid)
				mu.Lock()
				phase, loadAt = s, l
				mu.Unlock()
			}
			fmt.Fprintf(cfg.progress(), "  %s\n", line)
			tail = append(tail, line)
			if len(tail) > 10 {
				tail = tail[1:]
			}
		}
	}()
	<-scanned
	waitErr := cmd.Wait()
	end := srv.sample()
	loadTotal := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		if waitErr != nil {
			return nil, fmt.Errorf("%s %s: %w:\n%s", cfg.LoadTool, strings.Join(lr.args, " "), waitErr, strings.Join(tail, "\n"))
		}
		return nil, fmt.Errorf("decoding the load tool's report: %w", err)
	}
	// A non-zero exit with a report means some requests failed; the
	// report says which, and the table shows them.
	mu.Lock()
	defer mu.Unlock()
	u := &Usage{
		Wall:     Seconds(end.at.Sub(phase.at)),
		Server:   Seconds(end.server - phase.server),
		Database: Seconds(groupDelta(phase.db, end.db)),
		LoadTool: Seconds(loadTotal - loadAt),
	}
	u.Others = Seconds(max(end.machine-phase.machine-time.Duration(u.Server)-time.Duration(u.Database)-time.Duration(u.LoadTool), 0))
	u.RSS, u.RSSPeak = memory(srv.proc.pid())
	return u, nil
}

// Seconds is a duration that encodes as fractional seconds in JSON.
type Seconds time.Duration

// MarshalJSON encodes s as seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", time.Duration(s).Seconds())), nil
}

// UnmarshalJSON decodes seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*s = Seconds(f * float64(time.Second))
	return nil
}

func (s Seconds) seconds() float64 { return time.Duration(s).Seconds() }

// discard is for progress nobody reads.
var discard io.Writer = io.Discard
