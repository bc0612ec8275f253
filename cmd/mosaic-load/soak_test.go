package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSoakUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"soak", "--output", "xml"},
		{"soak", "--stores", "posix,s3"},
		{"soak", "--key-type", "rsa"},
		{"soak", "extra"},
		{"soak", "--duration", "soon"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 || stdout.Len() != 0 {
			t.Errorf("run(%q) = %d (stdout %q); want 2 and no report\n%s", args, code, stdout.String(), stderr.String())
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"soak", "-h"}, &bytes.Buffer{}, &stderr); code != 0 || !strings.Contains(stderr.String(), "never-reading-clients") {
		t.Errorf("soak -h: %d\n%s", code, stderr.String())
	}
}

// TestSoakBuiltMosaicd runs `mosaic-load soak` for 3 s against a freshly
// built mosaicd on the POSIX store: the process start, keygen, /proc
// sampling, read-back and shutdown as make soak runs them.
func TestSoakBuiltMosaicd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mosaicd and soaks it for 3 s")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../mosaicd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mosaicd: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"soak", "--mosaicd", filepath.Join(bin, "mosaicd"), "--stores", "posix", "--duration", "3s",
		"--adders", "4", "--malformed-rate", "50", "--slow-clients", "2", "--slow-interval", "500ms",
		"--never-reading-clients", "2", "--never-reading-hold", "2s", "--progress", "1s", "--output", "json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("soak exited %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	var rep struct {
		Stores []struct {
			Store string `json:"store"`
			Adds  struct {
				Acknowledged int64 `json:"acknowledged"`
			} `json:"adds"`
			ReadBack struct {
				Verified int64 `json:"verified"`
			} `json:"read_back"`
			Process struct {
				RSSPeak int64 `json:"rss_peak_bytes"`
			} `json:"process"`
			ServerExit string `json:"server_exit"`
		} `json:"stores"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if len(rep.Stores) != 1 {
		t.Fatalf("report %s", stdout.String())
	}
	s := rep.Stores[0]
	if s.Store != "posix" || s.Adds.Acknowledged == 0 || s.ReadBack.Verified != s.Adds.Acknowledged ||
		s.Process.RSSPeak == 0 || s.ServerExit != "exit status 0" {
		t.Errorf("report %+v", s)
	}
	if !strings.Contains(stderr.String(), "soak posix:") {
		t.Errorf("no progress:\n%s", stderr.String())
	}
}
