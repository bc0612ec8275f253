package explorer

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseUint(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		err  string
	}{
		{"0", 0, ""}, {"42", 42, ""}, {"18446744073709551615", 1<<64 - 1, ""}, {" 7 ", 7, ""},
		{"", 0, "missing"}, {"-1", 0, "not a decimal"}, {"+1", 0, "not a decimal"}, {"1e3", 0, "not a decimal"},
		{"0x10", 0, "not a decimal"}, {"01", 0, "leading zero"}, {"18446744073709551616", 0, "out of range"},
		{"123456789012345678901", 0, "too long"}, {"１", 0, "not a decimal"}, {"<script>", 0, "not a decimal"},
	} {
		got, err := parseUint("index", c.in)
		if c.err == "" && (err != nil || got != c.want) {
			t.Errorf("parseUint(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("parseUint(%q) error %v, want one saying %q", c.in, err, c.err)
		}
	}
}

func TestParseSearch(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	for _, c := range []struct {
		query string
		want  searchParams
		err   string
	}{
		{"", searchParams{}, ""},
		{"digest=" + hex64, searchParams{Digest: "sha256:" + hex64}, ""},
		{"digest=SHA256:" + strings.ToUpper(hex64), searchParams{Digest: "sha256:" + hex64}, ""},
		{"digest=sha384:" + strings.Repeat("0", 96), searchParams{Digest: "sha384:" + strings.Repeat("0", 96)}, ""},
		{"fingerprint=sha256:" + hex64 + "&san=a@b&issuer=https://i", searchParams{Fingerprint: "sha256:" + hex64, SAN: "a@b", Issuer: "https://i"}, ""},
		{"san=a&page=AAAA_-", searchParams{SAN: "a", Token: "AAAA_-"}, ""},
		{"digest=sha1:" + strings.Repeat("0", 40), searchParams{}, "unknown algorithm"},
		{"digest=sha256:" + hex64[:63], searchParams{}, "64 hex digits, not 63"},
		{"digest=sha256:" + strings.Repeat("g", 64), searchParams{}, "not hexadecimal"},
		{"fingerprint=sha512:" + strings.Repeat("0", 128), searchParams{}, "unknown algorithm"},
		{"san=a&san=b", searchParams{}, "given 2 times"},
		{"issuer=" + url.QueryEscape("a\nb"), searchParams{}, "control"},
		{"san=%ff", searchParams{}, "UTF-8"},
		{"san=" + strings.Repeat("a", maxTextParam+1), searchParams{}, "over the limit"},
		{"san=a&page=" + url.QueryEscape("<x>"), searchParams{}, "page token"},
		{"san=a&page=" + strings.Repeat("A", maxTokenParam+1), searchParams{}, "page token"},
	} {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseSearch(q)
		if c.err == "" && (err != nil || got != c.want) {
			t.Errorf("parseSearch(%.60q) = %+v, %v; want %+v", c.query, got, err, c.want)
		}
		var pe *paramError
		if c.err != "" && (!errors.As(err, &pe) || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("parseSearch(%.60q) error %v, want a paramError saying %q", c.query, err, c.err)
		}
	}
}

// FuzzParams: no query string makes the parsers panic, and what they
// accept is canonical (parsing it again gives the same).
func FuzzParams(f *testing.F) {
	for _, s := range []string{"digest=sha256:00", "san=a&issuer=b", "page=x&san=%ff", "0", "01", "18446744073709551616"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if n, err := parseUint("size", raw); err == nil {
			if m, err := parseUint("size", strings.TrimSpace(raw)); err != nil || m != n {
				t.Fatalf("parseUint not stable on %q", raw)
			}
		}
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := parseSearch(q)
		if err != nil {
			var pe *paramError
			if !errors.As(err, &pe) {
				t.Fatalf("parseSearch(%q): error %T", raw, err)
			}
			return
		}
		v := p.query()
		if p.Token != "" {
			v.Set("page", p.Token)
		}
		again, err := parseSearch(v)
		if err != nil || again != p {
			t.Fatalf("parseSearch(%q) = %+v, but its own query gives %+v, %v", raw, p, again, err)
		}
	})
}

func TestRateChart(t *testing.T) {
	s := newRateSampler()
	now := mustTime(t, "2026-01-01T12:00:00Z")
	s.add(now.Add(-90*time.Minute), 0)                 // older than the window: the base of the next
	s.add(now.Add(-30*time.Minute), 100)               // replaced by the next, within a second
	s.add(now.Add(-30*time.Minute+time.Second/2), 200) // 200 added, counted 30 minutes ago
	s.add(now.Add(-time.Minute), 250)
	c := s.chart(now)
	if c.Total != 250 || c.Peak != 200 || len(c.Bars) != rateBuckets {
		t.Fatalf("chart: total %d peak %d bars %d", c.Total, c.Peak, len(c.Bars))
	}
	if c.Bars[59].Count != 50 || c.Bars[30].Count != 200 || c.Bars[30].H != chartHeight-2 {
		t.Errorf("bars: %+v %+v", c.Bars[59], c.Bars[30])
	}
	s.add(now.Add(-2*time.Minute), 10) // shrinking or going back in time is ignored
	if c2 := s.chart(now); c2.Total != 250 {
		t.Errorf("a backwards sample changed the chart: %d", c2.Total)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
