package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/mosaiclog/mosaic/internal/diskspace"
)

// defaultGOGC is --gogc's default: the add path allocates a few KiB per
// request that die young, and at the Go default of 100 garbage collection
// took 13-19 % of the server's CPU at saturation; a larger heap target
// halves how often it runs, and the memory limit bounds what that costs.
const defaultGOGC = 200

// gcConfig is --gogc and --memory-limit.
type gcConfig struct {
	gogc        int
	memoryLimit string
	// limit is memoryLimit resolved by resolve: bytes, math.MaxInt64 for
	// none.
	limit int64
}

func gcFlags(fs *flag.FlagSet, c *gcConfig) {
	gogc := defaultGOGC
	// The Go runtime's own variable, when set, is the default.
	if v := os.Getenv("GOGC"); strings.EqualFold(v, "off") {
		gogc = -1
	} else if n, err := strconv.Atoi(v); err == nil {
		gogc = n
	}
	fs.IntVar(&c.gogc, "gogc", gogc, "garbage collector target: heap growth in percent between collections, as GOGC (-1: collect only "+
		"near --memory-limit); default 200, or the GOGC environment variable when set")
	limit := "auto"
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		limit = v
	}
	fs.StringVar(&c.memoryLimit, "memory-limit", limit, "soft memory limit the garbage collector keeps the process under: a size (768MiB, 2GB), "+
		"a share of the memory available (60%), off, or auto: 90% of the cgroup's memory.max in a container with a limit, "+
		"else 50% of physical memory (leaving the rest to PostgreSQL and the page cache); GOMEMLIMIT, when set, is the default")
}

// rangeCheck refuses a --gogc the runtime would take but nobody means.
func (c *gcConfig) rangeCheck() rangeCheck {
	r := intIn("gogc", c.gogc, 25, 10000)
	r.ok = r.ok || c.gogc == -1
	r.rng = "-1 (off) or 25 to 10000"
	return r
}

// memoryLimitBytes resolves --memory-limit against the memory available
// (avail, 0 if unknown); math.MaxInt64 means no limit. A GOMEMLIMIT-style
// value ("512MiB") is read as a size.
func (c *gcConfig) memoryLimitBytes(avail availableMemory) (int64, error) {
	v := strings.TrimSpace(c.memoryLimit)
	switch strings.ToLower(v) {
	case "off", "none", "max":
		return math.MaxInt64, nil
	case "auto", "":
		switch {
		case avail.cgroup > 0:
			return int64(avail.cgroup / 10 * 9), nil
		case avail.physical > 0:
			return int64(avail.physical / 2), nil
		}
		return math.MaxInt64, nil
	}
	r, err := diskspace.ParseReserve(v)
	if err != nil {
		return 0, fmt.Errorf("--memory-limit %q: want a size such as 768MiB or 2GB, a share such as 60%%, auto or off", v)
	}
	if r.Percent > 0 {
		total := avail.total()
		if total == 0 {
			return 0, fmt.Errorf("--memory-limit %q: the machine's memory is unknown here; give a size", v)
		}
		return int64(float64(total) * r.Percent / 100), nil
	}
	if r.Size < 64<<20 {
		return 0, fmt.Errorf("--memory-limit %q is below 64 MiB, too little to serve in", v)
	}
	return int64(min(r.Size, math.MaxInt64)), nil
}

// resolve reads the machine's memory and resolves --memory-limit.
func (c *gcConfig) resolve() error {
	limit, err := c.memoryLimitBytes(readAvailableMemory())
	if err != nil {
		return usageError{err}
	}
	c.limit = limit
	return nil
}

// apply sets the garbage collector's target and soft memory limit (as
// resolved) for the whole process, and logs what it set.
func (c *gcConfig) apply(logger *slog.Logger) {
	debug.SetGCPercent(c.gogc)
	debug.SetMemoryLimit(c.limit)
	limit := "off"
	if c.limit != math.MaxInt64 {
		limit = diskspace.FormatBytes(uint64(c.limit))
	}
	logger.Info("garbage collector", "gogc", c.gogc, "memory_limit", limit)
}

// availableMemory is what the process may use: the cgroup's limit (0: none
// or unknown) and the machine's physical memory (0: unknown).
type availableMemory struct {
	cgroup, physical uint64
}

func (a availableMemory) total() uint64 {
	if a.cgroup > 0 && (a.physical == 0 || a.cgroup < a.physical) {
		return a.cgroup
	}
	return a.physical
}

func readAvailableMemory() availableMemory {
	var a availableMemory
	// cgroup v2, then v1; "max" or an absurd v1 value means no limit.
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v < 1<<60 {
				a.cgroup = v
			}
			break
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		a.physical, _ = memTotal(b)
	}
	if a.physical > 0 && a.cgroup >= a.physical {
		a.cgroup = 0 // a limit above the machine is no limit
	}
	return a
}

// memTotal reads MemTotal from /proc/meminfo's contents, in bytes.
func memTotal(meminfo []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
				return kb << 10, nil
			}
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}
