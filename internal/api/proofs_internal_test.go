package api

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestParseProofQueries(t *testing.T) {
	inclusion := []struct {
		raw     string
		want    inclusionQuery
		message string // of the error, when not empty
	}{
		{raw: "index=0", want: inclusionQuery{index: 0}},
		{raw: "index=5&treeSize=6", want: inclusionQuery{index: 5, size: 6}},
		{raw: "treeSize=6&index=5", want: inclusionQuery{index: 5, size: 6}},
		{raw: "index=9223372036854775806&treeSize=9223372036854775807", want: inclusionQuery{index: math.MaxInt64 - 1, size: math.MaxInt64}},
		{raw: "", message: "query parameter index is missing"},
		{raw: "treeSize=3", message: "query parameter index is missing"},
		{raw: "index", message: "index is empty"},
		{raw: "index=", message: "index is empty"},
		{raw: "index=-0", message: `index "-0" is negative`},
		{raw: "index=--1", message: `index "--1" is not a decimal integer`},
		{raw: "index=-", message: `index "-" is not a decimal integer`},
		{raw: "index=+1", message: `index " 1" is not a decimal integer`},
		{raw: "index=%2B1", message: `index "+1" is not a decimal integer`},
		{raw: "index=0x10", message: `index "0x10" is not a decimal integer`},
		{raw: "index=%D9%A3", message: `index "٣" is not a decimal integer`},
		{raw: "index=00", message: `index "00" has a leading zero; write it as 0`},
		{raw: "index=9223372036854775808", message: `index "9223372036854775808" is out of range (at most 9223372036854775807)`},
		{raw: "index=" + strings.Repeat("9", 100), message: "..."},
		{raw: "index=1&index=1", message: `query parameter index is given 2 times ("1", "1")`},
		{raw: "index=1&index=2&index=3&index=4", message: `given 4 times ("1", "2", "3", ...)`},
		{raw: "index=1&Index=2", message: `unknown query parameter "Index"`},
		{raw: "index=1&first=2", message: `unknown query parameter "first"`},
		{raw: "index=1&=2", message: `unknown query parameter ""`},
		{raw: "index=1;treeSize=2", message: "malformed query"},
		{raw: "index=%", message: "malformed query"},
		{raw: "index=3&treeSize=3", message: "index 3 is not below treeSize 3"},
		{raw: "index=0&treeSize=0", message: "index 0 is not below treeSize 0"},
	}
	for _, tc := range inclusion {
		q, err := parseInclusionQuery(tc.raw)
		switch {
		case tc.message == "" && (err != nil || q != tc.want):
			t.Errorf("parseInclusionQuery(%q) = %+v, %v; want %+v", tc.raw, q, err, tc.want)
		case tc.message != "" && (err == nil || !strings.Contains(err.Error(), tc.message)):
			t.Errorf("parseInclusionQuery(%q) = %+v, %v; want an error containing %q", tc.raw, q, err, tc.message)
		}
	}
	consistency := []struct {
		raw     string
		want    consistencyQuery
		message string
	}{
		{raw: "first=1&second=1", want: consistencyQuery{1, 1}},
		{raw: "second=9&first=3", want: consistencyQuery{3, 9}},
		{raw: "first=1", message: "query parameter second is missing"},
		{raw: "second=1", message: "query parameter first is missing"},
		{raw: "first=0&second=1", message: "first is 0"},
		{raw: "first=2&second=1", message: "first 2 and second 1 are reversed"},
		{raw: "first=1&second=x", message: `second "x" is not a decimal integer`},
		{raw: "first=1&second=2&treeSize=3", message: `unknown query parameter "treeSize"`},
		{raw: "first=1&first=1&second=2", message: "query parameter first is given 2 times"},
	}
	for _, tc := range consistency {
		q, err := parseConsistencyQuery(tc.raw)
		switch {
		case tc.message == "" && (err != nil || q != tc.want):
			t.Errorf("parseConsistencyQuery(%q) = %+v, %v; want %+v", tc.raw, q, err, tc.want)
		case tc.message != "" && (err == nil || !strings.Contains(err.Error(), tc.message)):
			t.Errorf("parseConsistencyQuery(%q) = %+v, %v; want an error containing %q", tc.raw, q, err, tc.message)
		}
	}
	// Error messages quote at most a bounded part of what was sent.
	_, err := parseInclusionQuery("index=" + strings.Repeat("x", 100000))
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("a 100 kB value gave a %d-byte message", len(err.Error()))
	}
}

// FuzzParseProofQuery checks that the query parsers never panic, and that
// whatever they accept is canonical and in range: the query holds exactly
// the accepted parameters, once each, spelled as the values format.
func FuzzParseProofQuery(f *testing.F) {
	for _, seed := range []string{"index=0", "index=5&treeSize=6", "first=1&second=2", "index=01", "index=-1",
		"index=1&index=1", "first=2&second=1", "index=9223372036854775808", "index=%zz", "index=1;x=2", "", "&&", "index"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if q, err := parseInclusionQuery(raw); err == nil {
			want := url.Values{"index": {strconv.FormatUint(q.index, 10)}}
			if q.size != 0 {
				want.Set("treeSize", strconv.FormatUint(q.size, 10))
			}
			checkCanonical(t, raw, want)
			if q.size != 0 && q.index >= q.size || q.size > math.MaxInt64 || q.index > math.MaxInt64 {
				t.Fatalf("accepted %q as %+v", raw, q)
			}
		}
		if q, err := parseConsistencyQuery(raw); err == nil {
			checkCanonical(t, raw, url.Values{"first": {strconv.FormatUint(q.first, 10)}, "second": {strconv.FormatUint(q.second, 10)}})
			if q.first == 0 || q.first > q.second || q.second > math.MaxInt64 {
				t.Fatalf("accepted %q as %+v", raw, q)
			}
		}
	})
}

func checkCanonical(t *testing.T, raw string, want url.Values) {
	t.Helper()
	got, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("accepted %q, which does not parse: %v", raw, err)
	}
	if len(got) != len(want) {
		t.Fatalf("accepted %q with parameters %v, want exactly %v", raw, got, want)
	}
	for k, v := range want {
		if len(got[k]) != 1 || got[k][0] != v[0] {
			t.Fatalf("accepted %q: %s is %q, which formats as %q", raw, k, got[k], v[0])
		}
	}
}
