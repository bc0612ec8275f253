package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Both references answer the files of the directory under /api/v2/ and
// nothing outside it.
func TestFilesHandler(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	if err := os.MkdirAll(filepath.Join(dir, "tile", "0"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"data/checkpoint": "cp\n", "data/tile/0/000": "tile", "secret": "no"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, memory := range []bool{false, true} {
		srv := httptest.NewServer(filesHandler(dir, memory))
		for _, tc := range []struct {
			path   string
			status int
			body   string
		}{
			{"/api/v2/checkpoint", 200, "cp\n"},
			{"/api/v2/tile/0/000", 200, "tile"},
			{"/api/v2/tile/0/000", 200, "tile"}, // from memory the second time
			{"/api/v2/tile/0/001", 404, ""},
			{"/api/v2/../secret", 404, ""},
			{"/api/v2/%2e%2e/secret", 404, ""},
			{"/healthz", 200, "ok\n"},
		} {
			res, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status || (tc.body != "" && !bytes.Equal(body, []byte(tc.body))) {
				t.Errorf("memory=%v GET %s: %d %q, want %d %q", memory, tc.path, res.StatusCode, body, tc.status, tc.body)
			}
		}
		srv.Close()
	}
}

func TestServeFilesFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "--dir is required"},
		{[]string{"--dir", t.TempDir()}, 1, "not a tlog-tiles directory"},
		{[]string{"--dir", "x", "extra"}, 2, "takes no arguments"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
	} {
		var stderr bytes.Buffer
		if code := runServeFiles(tc.args, io.Discard, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%q: exit %d, %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}
