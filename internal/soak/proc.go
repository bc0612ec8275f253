package soak

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procSample is one reading of a process's resources.
type procSample struct {
	rss, hwm int64 // bytes: VmRSS, VmHWM
	fds      int
	// conns counts the process's TCP connections on its listening port
	// (not the listener itself).
	conns int
}

// sampler reads a process's resources from /proc every second. Linux only;
// elsewhere, or with no PID, every figure stays zero.
type sampler struct {
	pid  int
	port string // the listening port, as hex in /proc/net/tcp

	mu     sync.Mutex // guards last and st
	last   procSample
	st     ProcessStats
	stopCh chan struct{}
	done   chan struct{}
}

func newSampler(pid int, port string) *sampler {
	p := &sampler{pid: pid, stopCh: make(chan struct{}), done: make(chan struct{})}
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		p.port = fmt.Sprintf("%04X", n)
	}
	return p
}

// start samples every second until stop.
func (p *sampler) start() {
	if p.pid == 0 {
		close(p.done)
		return
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			_, _ = p.sampleNow()
			select {
			case <-p.stopCh:
				return
			case <-t.C:
			}
		}
	}()
}

// stop ends sampling; it may be called more than once.
func (p *sampler) stop() {
	p.mu.Lock()
	select {
	case <-p.stopCh:
	default:
		close(p.stopCh)
	}
	p.mu.Unlock()
	<-p.done
}

func (p *sampler) latest() procSample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// stats takes a last sample, as the figures after the load, and returns
// the peaks and it.
func (p *sampler) stats() ProcessStats {
	last, err := p.sampleNow()
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	if err == nil {
		st.RSSEnd, st.FDsEnd, st.ConnsEnd = last.rss, last.fds, last.conns
	}
	return st
}

// sampleNow reads the process's resources and folds them into the peaks.
func (p *sampler) sampleNow() (procSample, error) {
	if p.pid == 0 {
		return procSample{}, fmt.Errorf("no process to sample")
	}
	s, err := readProc(fmt.Sprintf("/proc/%d", p.pid), p.port)
	if err != nil {
		return s, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = s
	p.st.Samples++
	p.st.RSSPeak = max(p.st.RSSPeak, s.hwm, s.rss)
	p.st.FDsPeak = max(p.st.FDsPeak, s.fds)
	p.st.ConnsPeak = max(p.st.ConnsPeak, s.conns)
	return s, nil
}

// readProc reads one sample from a /proc/PID directory.
func readProc(dir, port string) (procSample, error) {
	var s procSample
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return s, err
	}
	s.rss, s.hwm = statusKB(status, "VmRSS:"), statusKB(status, "VmHWM:")
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	sockets := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if inode, ok := strings.CutPrefix(target, "socket:["); err == nil && ok {
			sockets[strings.TrimSuffix(inode, "]")] = true
		}
	}
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		s.conns += countConns(filepath.Join(dir, f), port, sockets)
	}
	return s, nil
}

// statusKB reads a "Name:   123 kB" line of /proc/PID/status, in bytes.
func statusKB(status []byte, name string) int64 {
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// tcpListen is the LISTEN state in /proc/net/tcp.
const tcpListen = "0A"

// countConns counts the rows of a /proc/net/tcp file that are connections
// (not the listener) on local port, owned by one of sockets (inodes).
func countConns(path, port string, sockets map[string]bool) int {
	f, err := os.Open(path)
	if err != nil || port == "" {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		_, lport, _ := strings.Cut(f[1], ":")
		if lport == port && f[3] != tcpListen && sockets[f[9]] {
			n++
		}
	}
	return n
}
