package diskspace

import "testing"

func TestParseReserve(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Reserve
	}{
		{"", DefaultReserve},
		{"64MiB", Reserve{Size: 64 << 20}},
		{"64mib", Reserve{Size: 64 << 20}},
		{"1 GiB", Reserve{Size: 1 << 30}},
		{"500MB", Reserve{Size: 500e6}},
		{"2G", Reserve{Size: 2 << 30}},
		{"1048576", Reserve{Size: 1 << 20}},
		{"4096B", Reserve{Size: 4096}},
		{"2%", Reserve{Percent: 2}},
		{"0.5 %", Reserve{Percent: 0.5}},
	} {
		got, err := ParseReserve(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseReserve(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"0", "-1MiB", "0%", "100%", "150%", "lots", "MiB", "1.5.2G", "NaN", "1e30TiB"} {
		if r, err := ParseReserve(bad); err == nil {
			t.Errorf("ParseReserve(%q) = %+v, want an error", bad, r)
		}
	}
}

func TestReserveBytes(t *testing.T) {
	for _, tc := range []struct {
		r          Reserve
		size, want uint64
	}{
		{DefaultReserve, 1 << 30, 64 << 20},            // 1% of 1 GiB is less than 64 MiB
		{DefaultReserve, 100 << 30, (100 << 30) / 100}, // 1% of 100 GiB is more
		{Reserve{Size: 8 << 20}, 1 << 40, 8 << 20},
		{Reserve{Percent: 2}, 1000, 20},
	} {
		if got := tc.r.Bytes(tc.size); got != tc.want {
			t.Errorf("%v.Bytes(%d) = %d, want %d", tc.r, tc.size, got, tc.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1 << 10: "1.0 KiB", 3932160: "3.8 MiB", 64 << 30: "64.0 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// A nil Watcher (a store not on local disk) always has room.
func TestNilWatcher(t *testing.T) {
	var w *Watcher
	if w.Check() != nil || w.Measure() != nil || w.Status().Full {
		t.Error("a nil Watcher reports a full disk")
	}
}
