package main

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	const gib = 1 << 30
	host := availableMemory{physical: 24 * gib}
	box := availableMemory{cgroup: 2 * gib, physical: 24 * gib}
	for _, c := range []struct {
		flag  string
		avail availableMemory
		want  int64
		err   string
	}{
		{"auto", host, 12 * gib, ""},
		{"auto", box, 2 * gib / 10 * 9, ""},
		{"auto", availableMemory{}, math.MaxInt64, ""},
		{"off", box, math.MaxInt64, ""},
		{"768MiB", box, 768 << 20, ""},
		{"2GB", host, 2e9, ""},
		{"1073741824", host, gib, ""},
		{"50%", box, gib, ""},
		{"25%", host, 6 * gib, ""},
		{"60%", availableMemory{}, 0, "memory is unknown"},
		{"1MiB", host, 0, "below 64 MiB"},
		{"lots", host, 0, "want a size"},
		{"-5GB", host, 0, "want a size"},
	} {
		g := gcConfig{memoryLimit: c.flag}
		got, err := g.memoryLimitBytes(c.avail)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %d, %v; want an error saying %q", c.flag, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%q with %+v: %d, %v; want %d", c.flag, c.avail, got, err, c.want)
		}
	}
}

func TestMemTotal(t *testing.T) {
	got, err := memTotal([]byte("MemFree:  1 kB\nMemTotal:       24684096 kB\nSwapTotal: 0 kB\n"))
	if err != nil || got != 24684096<<10 {
		t.Errorf("memTotal = %d, %v", got, err)
	}
	if _, err := memTotal([]byte("MemTotal: lots\n")); err == nil {
		t.Error("a MemTotal without kB was read")
	}
}

// TestGCFlags: defaults, the environment (MOSAIC_ and the Go runtime's
// own variables), ranges, and the settings reaching the runtime.
func TestGCFlags(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	c, err := parseServeFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.gc.gogc != defaultGOGC || c.gc.memoryLimit != "auto" {
		t.Errorf("defaults: --gogc %d --memory-limit %q", c.gc.gogc, c.gc.memoryLimit)
	}
	t.Setenv("GOGC", "off")
	t.Setenv("GOMEMLIMIT", "900MiB")
	if c, err = parseServeFlags(nil, io.Discard); err != nil || c.gc.gogc != -1 || c.gc.limit != 900<<20 {
		t.Errorf("GOGC=off GOMEMLIMIT=900MiB: %+v, %v", c.gc, err)
	}
	t.Setenv("MOSAIC_GOGC", "400")
	t.Setenv("MOSAIC_MEMORY_LIMIT", "off")
	if c, err = parseServeFlags(nil, io.Discard); err != nil || c.gc.gogc != 400 || c.gc.limit != math.MaxInt64 {
		t.Errorf("MOSAIC_GOGC=400 MOSAIC_MEMORY_LIMIT=off: %+v, %v", c.gc, err)
	}
	if c, err = parseServeFlags([]string{"--gogc", "300", "--memory-limit", "512MiB"}, io.Discard); err != nil || c.gc.gogc != 300 || c.gc.limit != 512<<20 {
		t.Errorf("flags over the environment: %+v, %v", c.gc, err)
	}
	for _, bad := range [][]string{{"--gogc", "10"}, {"--gogc", "-2"}, {"--memory-limit", "lots"}} {
		if _, err := parseServeFlags(bad, io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}

	prevGC, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	defer func() { debug.SetGCPercent(prevGC); debug.SetMemoryLimit(prevLimit) }()
	c.gc.apply(slog.New(slog.DiscardHandler))
	if gc, limit := debug.SetGCPercent(prevGC), debug.SetMemoryLimit(-1); gc != 300 || limit != 512<<20 {
		t.Errorf("runtime has GOGC %d and memory limit %d, want 300 and %d", gc, limit, 512<<20)
	}
}
