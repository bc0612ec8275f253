package soak

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestReadProc(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("status", "Name:\tmosaicd\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n")
	// Port 3000 is 0BB8: a listener, two connections of the process, one
	// of another process (inode 999), one on another port.
	write("net/tcp", `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0 100 0 0 10 0
   1: 0100007F:0BB8 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 101 1 0 20 4 30 10 -1
   2: 0100007F:0BB8 0100007F:D432 01 00000000:00000000 00:00000000 00000000     0        0 102 1 0 20 4 30 10 -1
   3: 0100007F:0BB8 0100007F:D433 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0 20 4 30 10 -1
   4: 0100007F:1538 0100007F:D434 01 00000000:00000000 00:00000000 00000000     0        0 103 1 0 20 4 30 10 -1
`)
	write("net/tcp6", "  sl  local_address remote_address st\n")
	if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for fd, target := range map[string]string{"0": "/dev/null", "3": "socket:[100]", "4": "socket:[101]", "5": "socket:[102]", "6": "socket:[103]"} {
		if err := os.Symlink(target, filepath.Join(dir, "fd", fd)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := readProc(dir, "0BB8")
	if err != nil {
		t.Fatal(err)
	}
	if s != (procSample{rss: 1 << 20, hwm: 2 << 20, fds: 5, conns: 2}) {
		t.Errorf("got %+v", s)
	}
}

func TestSamplerSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	p := newSampler(os.Getpid(), "1")
	p.start()
	p.stop()
	p.stop()
	st := p.stats()
	if st.Samples < 2 || st.RSSPeak == 0 || st.FDsPeak == 0 || st.RSSEnd == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestParseServerErrors(t *testing.T) {
	metrics := `# HELP mosaic_http_requests_total HTTP requests by route, method and status code.
mosaic_http_requests_total{code="201",method="POST",route="/api/v2/log/entries"} 100
mosaic_http_requests_total{code="503",method="POST",route="/api/v2/log/entries"} 3
mosaic_http_requests_total{code="504",method="POST",route="/api/v2/log/entries"} 2
mosaic_http_requests_total{code="500",method="GET",route="/api/v2/tile/*"} 1
mosaic_http_requests_total{code="503",method="GET",route="/readyz"} 0
mosaic_http_request_duration_seconds_count{method="GET",route="/readyz"} 5
`
	got := parseServerErrors([]byte(metrics))
	want := map[string]int64{"POST /api/v2/log/entries": 5, "GET /api/v2/tile/*": 1}
	if len(got) != len(want) || got["POST /api/v2/log/entries"] != 5 || got["GET /api/v2/tile/*"] != 1 {
		t.Errorf("got %v, want %v", got, want)
	}
	if d := subtract(got, map[string]int64{"POST /api/v2/log/entries": 5}); len(d) != 1 || d["GET /api/v2/tile/*"] != 1 {
		t.Errorf("subtract = %v", d)
	}
}

func TestJudge(t *testing.T) {
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	errBody := []byte(`{"code":3,"message":"bad","details":[]}`)
	plain := &malformedCase{name: "x"}
	search := &malformedCase{name: "y", allow2xx: true}
	for _, tc := range []struct {
		c    *malformedCase
		res  answer
		want malformedVerdict
	}{
		{plain, answer{400, jsonHeader, errBody}, verdictRefused},
		{plain, answer{404, jsonHeader, errBody}, verdictRefused},
		{plain, answer{400, http.Header{"Content-Type": {"text/plain"}}, []byte("bad")}, verdictWrong},
		{plain, answer{400, jsonHeader, []byte(`{"error":"bad"}`)}, verdictWrong},
		{plain, answer{500, jsonHeader, errBody}, verdictServerErr},
		{plain, answer{503, jsonHeader, errBody}, verdictServerErr},
		{plain, answer{200, jsonHeader, []byte(`{"results":[]}`)}, verdictWrong},
		{plain, answer{201, jsonHeader, []byte(`{}`)}, verdictWrong},
		{search, answer{200, jsonHeader, []byte(`{"results":[]}`)}, verdictTolerated},
		{search, answer{200, jsonHeader, []byte(`{"results":[{"logIndex":0}]}`)}, verdictWrong},
		{search, answer{400, jsonHeader, errBody}, verdictRefused},
	} {
		if got := judge(tc.c, &tc.res); got != tc.want {
			t.Errorf("judge(%s, %d %s) = %d, want %d", tc.c.name, tc.res.status, tc.res.body, got, tc.want)
		}
	}
}

func TestMalformedRoutes(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range malformedCases {
		if seen[c.name] {
			t.Errorf("case %q twice", c.name)
		}
		seen[c.name] = true
	}
	for path, want := range map[string]string{
		"/api/v2/tile/0/000.p/0":                "GET /api/v2/tile/*",
		"/api/v2/log/entries/-1":                "GET /api/v2/log/entries/{index}",
		"/api/v2/log/proof/inclusion?index=-1":  "GET /api/v2/log/proof/inclusion",
		"/api/v2/log/proof/consistency?first=1": "GET /api/v2/log/proof/consistency",
	} {
		c := malformedCase{method: "GET", path: path}
		if got := c.route(); got != want {
			t.Errorf("route(%s) = %s, want %s", path, got, want)
		}
	}
}
