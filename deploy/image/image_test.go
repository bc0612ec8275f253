package main

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the image twice (the second build mostly from Go's
// cache), requires the same digest, writes and reads back the tarball,
// checks the configuration and the layer, and runs the binaries found in
// the layer.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mosaicd")
	}
	ctx := context.Background()
	epoch := time.Unix(1767225600, 0) // fixed, as SOURCE_DATE_EPOCH would be
	build := func() *Image {
		img, err := Build(ctx, Options{Source: "../..", Arch: runtime.GOARCH, Epoch: epoch, Work: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	a, b := build(), build()
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("two builds of one tree differ: %s and %s", da, db)
	}

	// Through the tarball, as docker load or skopeo would read it: the
	// manifest is rewritten in Docker's format there, the config is not.
	path := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(path, name.MustParseReference("mosaicd:test"), a); err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := a.ConfigName()
	if cl, _ := loaded.ConfigName(); cl != ca {
		t.Errorf("config read back from the tarball %s, built %s", cl, ca)
	}
	// Through an OCI layout, which keeps the manifest and its digest.
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(a); err != nil {
		t.Fatal(err)
	}
	img, err := p.Image(da)
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, loaded, a)
	checkConfig(t, img, a)
	files := checkLayer(t, img)
	runBinaries(t, files, a)
}

func checkConfig(t *testing.T, img v1.Image, built *Image) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if strings.Join(c.Entrypoint, " ") != "/mosaicd" || strings.Join(c.Cmd, " ") != "serve" {
		t.Errorf("entrypoint %q cmd %q, want [/mosaicd] [serve]", c.Entrypoint, c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root)", c.User)
	}
	if _, ok := c.ExposedPorts["3000/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("exposed ports %v, want 3000/tcp", c.ExposedPorts)
	}
	if !contains(c.Env, "MOSAIC_LISTEN=:3000") {
		t.Errorf("env %q lacks MOSAIC_LISTEN=:3000", c.Env)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !cf.Created.Time.Equal(time.Unix(1767225600, 0)) {
		t.Errorf("os %s arch %s created %s", cf.OS, cf.Architecture, cf.Created)
	}
	want := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/mosaiclog/mosaic",
		"org.opencontainers.image.version":  built.Version,
		"org.opencontainers.image.revision": built.Revision,
	}
	for k, v := range want {
		if c.Labels[k] != v || v == "" {
			t.Errorf("label %s = %q, want %q (not empty)", k, c.Labels[k], v)
		}
	}
}

// checkLayer requires exactly the expected files, no shell among them,
// and returns the regular files' contents.
func checkLayer(t *testing.T, img v1.Image) map[string][]byte {
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string][]byte{}
	modes := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		modes[h.Name] = h.Mode
		if h.Typeflag == tar.TypeReg {
			if files[h.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, sh := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
		if _, ok := modes[sh]; ok {
			t.Errorf("the image holds a shell, %s", sh)
		}
	}
	want := map[string]int64{"data/": 0o755, "etc/": 0o755, "etc/group": 0o644, "etc/passwd": 0o644, "etc/ssl/": 0o755,
		"etc/ssl/certs/": 0o755, "etc/ssl/certs/ca-certificates.crt": 0o644, "install-keys": 0o755, "mosaicd": 0o755, "tmp/": 0o1777}
	for p, m := range want {
		if got, ok := modes[p]; !ok || got != m {
			t.Errorf("%s: mode %o present %v, want %o", p, got, ok, m)
		}
	}
	for p := range modes {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected %s in the layer", p)
		}
	}
	if n := strings.Count(string(files["etc/ssl/certs/ca-certificates.crt"]), "BEGIN CERTIFICATE"); n < 100 {
		t.Errorf("CA bundle holds %d certificates", n)
	}
	return files
}

func runBinaries(t *testing.T, files map[string][]byte, built *Image) {
	dir := t.TempDir()
	for _, n := range []string{"mosaicd", "install-keys"} {
		if err := os.WriteFile(filepath.Join(dir, n), files[n], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(filepath.Join(dir, "mosaicd"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("mosaicd version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "mosaicd "+built.Version) || !strings.Contains(string(out), built.Revision[:12]) {
		t.Errorf("mosaicd version printed %q, want version %s revision %s", out, built.Version, built.Revision)
	}

	// install-keys: group-readable Secret files in, owner-only copies out.
	src, dst := filepath.Join(dir, "secret"), filepath.Join(dir, "keys")
	os.Mkdir(src, 0o755)
	os.WriteFile(filepath.Join(src, "signing-key.pem"), []byte("key"), 0o440)
	os.Mkdir(filepath.Join(src, "..data"), 0o755)
	out, err = exec.Command(filepath.Join(dir, "install-keys"), src, dst).CombinedOutput()
	if err != nil {
		t.Fatalf("install-keys: %v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(dst, "signing-key.pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("copied key: %v, %v; want mode 0600", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "..data")); err == nil {
		t.Error("install-keys copied Kubernetes' ..data")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
