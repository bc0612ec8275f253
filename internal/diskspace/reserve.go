package diskspace

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Reserve is the space a Watcher keeps free: the larger of an absolute
// size and a share of the filesystem.
type Reserve struct {
	// Size is in bytes.
	Size uint64
	// Percent is a share of the filesystem's size, 0 to 100.
	Percent float64
}

// DefaultReserve keeps max(64 MiB, 1%) free. 64 MiB covers what is in flight
// when writes stop: a Tessera batch (at most --batch-max-size entries), a
// Badger memtable flush (4 MiB each for the dedup map and the index) and
// a Badger compaction, which writes its output tables before it deletes
// their inputs (about 30 MiB at Badger's default level sizes).
var DefaultReserve = Reserve{Size: 64 << 20, Percent: 1}

// Bytes is the reserve on a filesystem of size bytes.
func (r Reserve) Bytes(size uint64) uint64 {
	return max(r.Size, uint64(float64(size)*r.Percent/100))
}

func (r Reserve) String() string {
	switch {
	case r == DefaultReserve:
		return "max(64MiB, 1%)"
	case r.Percent == 0:
		return FormatBytes(r.Size)
	case r.Size == 0:
		return strconv.FormatFloat(r.Percent, 'f', -1, 64) + "%"
	}
	return fmt.Sprintf("max(%s, %s%%)", FormatBytes(r.Size), strconv.FormatFloat(r.Percent, 'f', -1, 64))
}

var units = []struct {
	suffix string
	scale  float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// ParseReserve reads a --disk-reserve value: a size ("64MiB", "500MB",
// "1G", "1048576"), a share of the filesystem ("2%"), or "" for
// DefaultReserve.
func ParseReserve(s string) (Reserve, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultReserve, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v <= 0 || v >= 100 || math.IsNaN(v) {
			return Reserve{}, fmt.Errorf("disk reserve %q: want a share above 0%% and below 100%%", s)
		}
		return Reserve{Percent: v}, nil
	}
	num, scale := s, 1.0
	for _, u := range units {
		if n, ok := strings.CutSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)); ok {
			num, scale = strings.TrimSpace(s[:len(n)]), u.scale
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) || v*scale >= math.MaxInt64 {
		return Reserve{}, fmt.Errorf("disk reserve %q: want a size such as 64MiB, 500MB or 1GiB, or a share such as 2%%", s)
	}
	return Reserve{Size: uint64(v * scale)}, nil
}

// FormatBytes writes n in binary units, as operators read df -h.
func FormatBytes(n uint64) string {
	const unit = 1 << 10
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
