package benchload

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// startProfile records the server's CPU profile with perf (mosaicd serves
// no pprof endpoint, and perf sees the kernel's share too) until the
// returned function is called, which writes the top of the report, self
// and inclusive, to ProfileDir/name.txt and returns that path ("" when
// profiling is off or failed; the failure is reported as progress).
// rekor-tiles is not profiled.
func (c *Config) startProfile(srv *server, name string) func() string {
	if !c.Profile || srv.store == StoreRekor {
		return func() string { return "" }
	}
	data := filepath.Join(os.TempDir(), "mosaic-bench-"+name+".perf.data")
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", fmt.Sprint(srv.proc.pid()), "-o", data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(c.progress(), "bench-load: no profile (perf: %v)\n", err)
		return func() string { return "" }
	}
	return func() string {
		defer os.Remove(data)
		_ = cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil && !strings.Contains(err.Error(), "interrupt") {
			fmt.Fprintf(c.progress(), "bench-load: perf record: %v: %s\n", err, bytes.TrimSpace(stderr.Bytes()))
		}
		var out bytes.Buffer
		fmt.Fprintf(&out, "# %s: perf record -F 499 -g of the server (pid %d) during the run\n", name, srv.proc.pid())
		for _, view := range []struct{ title, flag string }{{"self", "--no-children"}, {"inclusive", "--children"}} {
			rep, err := exec.Command("perf", "report", "-i", data, "--stdio", view.flag, "--sort", "symbol",
				"-g", "none", "--percent-limit", "0.5").Output()
			if err != nil {
				fmt.Fprintf(c.progress(), "bench-load: perf report: %v\n", err)
				return ""
			}
			fmt.Fprintf(&out, "\n## %s\n", view.title)
			n := 0
			for line := range strings.Lines(string(rep)) {
				if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
					continue
				}
				// perf pads every line to the terminal's width and ends
				// it with empty columns.
				out.WriteString(strings.TrimRight(line, " -\n") + "\n")
				if n++; n == 45 {
					break
				}
			}
		}
		if err := os.MkdirAll(c.ProfileDir, 0o755); err != nil {
			fmt.Fprintf(c.progress(), "bench-load: %v\n", err)
			return ""
		}
		path := filepath.Join(c.ProfileDir, name+".txt")
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			fmt.Fprintf(c.progress(), "bench-load: %v\n", err)
			return ""
		}
		return path
	}
}
