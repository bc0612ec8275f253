package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Past --max-inflight-adds adds in progress, one more is refused at once
// with 503, Retry-After and a message naming the limit, its value and its
// flag, on either store (Tessera's POSIX driver has no pushback of its
// own); the adds in progress are proven once the store moves again.
func TestPushbackInflight(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		const limit, beyond = 4, 3
		l := mosaictest.NewLog(t, mosaictest.Options{Store: store, MaxInflightAdds: limit})
		signer := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
		release := stallStore(t, store, l)

		held := make(chan int, limit)
		for i := range limit {
			body := signer.Request(t, fmt.Appendf(nil, "held %d", i))
			go func() {
				resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
				if err != nil {
					held <- 0
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				held <- resp.StatusCode
			}()
		}
		waitFor(t, func() bool { return metricValue(t, l.Registry, "mosaic_log_inflight_adds", "") == limit })

		// A refusal must not queue: a client that waited past the limit would
		// make the bound pointless.
		client := &http.Client{Timeout: 5 * time.Second}
		for i := range beyond {
			start := time.Now()
			resp, err := client.Post(l.URL+"/api/v2/log/entries", "application/json",
				bytes.NewReader(signer.Request(t, fmt.Appendf(nil, "beyond %d", i))))
			if err != nil {
				t.Fatalf("add beyond the limit: %v after %s (it waited instead of being refused)", err, time.Since(start).Round(time.Millisecond))
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
				t.Fatalf("add beyond the limit: %d, Retry-After %q: %s; want 503 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"), b)
			}
			if took > time.Second {
				t.Errorf("refusal took %s; want it at once", took.Round(time.Millisecond))
			}
			e := errorBody(t, b)
			for _, want := range []string{"at capacity", "4 adds are in progress", "--max-inflight-adds"} {
				if e.Code != 14 || !strings.Contains(e.Message, want) {
					t.Errorf("refusal %+v: want code 14 and a message with %q", e, want)
				}
			}
		}
		if got := metricValue(t, l.Registry, "mosaic_log_pushbacks_total", "inflight_limit"); got != beyond {
			t.Errorf("mosaic_log_pushbacks_total{reason=inflight_limit} = %v, want %d", got, beyond)
		}
		if got := metricValue(t, l.Registry, "mosaic_log_inflight_adds_limit", ""); got != limit {
			t.Errorf("mosaic_log_inflight_adds_limit = %v, want %d", got, limit)
		}

		release()
		for range limit {
			if status := <-held; status != http.StatusCreated {
				t.Errorf("held add answered %d once the store moved, want 201", status)
			}
		}
		waitFor(t, func() bool { return metricValue(t, l.Registry, "mosaic_log_inflight_adds", "") == 0 })
		resp, b := post(t, l.URL, signer.Request(t, []byte("after the stall")))
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("add after the stall: %d %s", resp.StatusCode, b)
		}
	})
}

// stallStore stops l's store from sequencing or integrating until the
// returned func is called: the PostgreSQL integration row lock, or the
// POSIX tree-state lock Tessera takes to sequence (held by another process,
// since fcntl locks do not exclude their own process).
func stallStore(t *testing.T, store string, l *mosaictest.Log) (release func()) {
	t.Helper()
	if store == "postgres" {
		tx := stallIntegration(t, l.DatabaseURL)
		return func() {
			if err := tx.Rollback(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return holdLock(t, filepath.Join(l.Dir, ".state", "treeState.lock"))
}

// holdLock runs this test binary as a helper process that holds an fcntl
// write lock on path until release is called.
func holdLock(t *testing.T, path string) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldLockHelper$")
	cmd.Env = append(os.Environ(), "MOSAIC_HOLD_LOCK="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once bool
	release = func() {
		if once {
			return
		}
		once = true
		stdin.Close()
		_ = cmd.Wait()
	}
	t.Cleanup(release)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("lock helper: %q, %v", line, err)
	}
	return release
}

// TestHoldLockHelper is holdLock's helper process, not a test: it locks
// $MOSAIC_HOLD_LOCK, says so on stdout and holds the lock until stdin closes.
func TestHoldLockHelper(t *testing.T) {
	path := os.Getenv("MOSAIC_HOLD_LOCK")
	if path == "" {
		t.Skip("helper process for holdLock")
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &lk); err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// metricValue reads a gauge or counter from reg; label, if not empty, is
// the value of the metric's only label.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetValue() == label }) {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
		return 0
	}
	t.Fatalf("%s is not registered", name)
	return 0
}
