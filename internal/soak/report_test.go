package soak

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func cleanStore(name string) *StoreReport {
	return &StoreReport{
		Store: name, Elapsed: Seconds(time.Minute),
		Adds:     AddStats{Sent: 10, Acknowledged: 10, Status: map[int]int64{201: 10}, Resubmitted: 2, SameIndex: 2},
		ReadBack: ReadBack{LogSize: 10, Verified: 10, Audit: "ok"},
		Malformed: MalformedStats{Sent: 3, Refused: 3, Cases: map[string]*CaseStats{
			"tile: bad": {Route: "GET /api/v2/tile/*", Sent: 3, Status: map[int]int64{400: 3}}}},
		ServerExit: "exit status 0",
	}
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(*StoreReport)
		want   string // "" for none
	}{
		{"clean", func(*StoreReport) {}, ""},
		{"lost", func(s *StoreReport) { s.ReadBack.Lost, s.ReadBack.Verified = 1, 9 }, "1 acknowledged entries lost"},
		{"proof", func(s *StoreReport) { s.ReadBack.ProofFailures = 2 }, "2 inclusion proofs failed"},
		{"malformed 5xx", func(s *StoreReport) { s.Malformed.ServerErrors = 1 }, "1 malformed requests answered 5xx"},
		{"not JSON", func(s *StoreReport) { s.Malformed.Wrong = 1 }, "answered wrongly"},
		{"other index", func(s *StoreReport) { s.Adds.OtherIndex = 1 }, "resubmissions answered with another index"},
		{"mismatch", func(s *StoreReport) { s.Adds.AckMismatch = 1 }, "201 answers for another entry"},
		{"duplicates", func(s *StoreReport) { s.ReadBack.Duplicates = 1 }, "logged more than once"},
		{"audit", func(s *StoreReport) { s.ReadBack.Audit = "tile 0/0: hash 3 differs" }, "audit: tile 0/0"},
		{"read-back", func(s *StoreReport) { s.ReadBack = ReadBack{Error: "no checkpoint"} }, "read-back failed: no checkpoint"},
		{"nothing acked", func(s *StoreReport) { s.Adds.Acknowledged = 0 }, "proved nothing"},
		{"died", func(s *StoreReport) { s.ServerDied, s.ServerExit = true, "signal: killed" }, "mosaicd died during the soak: signal: killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := cleanStore("posix")
			tc.break_(s)
			r := &Report{Stores: []*StoreReport{s, cleanStore("postgres")}}
			f := strings.Join(r.Failures(), "\n")
			if tc.want == "" && f != "" || tc.want != "" && !strings.Contains(f, "posix: ") || !strings.Contains(f, tc.want) {
				t.Errorf("failures %q, want %q", f, tc.want)
			}
		})
	}
}

func TestWriteMarkdown(t *testing.T) {
	r := &Report{Duration: Seconds(time.Minute), Stores: []*StoreReport{cleanStore("posix"), cleanStore("postgres")}}
	r.Stores[1].ClientErrors = map[string]int64{"POST /api/v2/log/entries": 2}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| | posix | postgres |",
		"| entries acknowledged (201) | 10 | 10 |",
		"| 5xx by route (soak clients) | none | POST /api/v2/log/entries: 2 |",
		"| tile: bad | 3×400 | 3×400 |",
		"No acknowledged entry lost",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	r.Stores[0].ReadBack.Lost = 1
	b.Reset()
	_ = r.WriteMarkdown(&b)
	if !strings.Contains(b.String(), "FAILED:\n- posix: 1 acknowledged entries lost") {
		t.Errorf("failures not listed:\n%s", b.String())
	}
}

func TestWriteJSON(t *testing.T) {
	r := &Report{Duration: Seconds(90 * time.Second), Stores: []*StoreReport{cleanStore("posix")}}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Duration float64 `json:"duration_seconds"`
		Stores   []struct {
			Adds     struct{ Acknowledged int64 } `json:"adds"`
			ReadBack struct{ Verified int64 }     `json:"read_back"`
		} `json:"stores"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Duration != 90 || got.Stores[0].Adds.Acknowledged != 10 || got.Stores[0].ReadBack.Verified != 10 {
		t.Errorf("JSON %s", b.String())
	}
}
