package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The image's fixed facts, which the chart, the compose file and the tests
// rely on.
const (
	// User is the image's user: uid and gid 65532, named nonroot, with no
	// shell and no home but the data directory.
	User = "65532:65532"
	// Port is the port mosaicd listens on in the image (MOSAIC_LISTEN).
	Port = "3000"
	// DataDir is the working directory, owned by User: the default storage
	// file:./mosaic-data lands in DataDir/mosaic-data. Mount a volume there.
	DataDir = "/data"
	// Source is the repository the image is built from.
	Source = "https://github.com/mosaiclog/mosaic"
)

// Options say what to build.
type Options struct {
	// Source is the root of the Mosaic checkout (holding go.mod).
	Source string
	// Arch is the GOARCH of the image (GOOS is linux).
	Arch string
	// Go is the go command (default "go").
	Go string
	// Epoch, when not zero, is the time stamped on every file, the config
	// and the history. Zero means the commit time the toolchain recorded
	// (vcs.time), or the Unix epoch outside a git checkout, so that
	// building a commit twice gives the same image.
	Epoch time.Time
	// Work is a directory for the binaries (default: a temporary one).
	Work string
}

// Image is a built image and what went into it.
type Image struct {
	v1.Image
	// Version and Revision are what the Go toolchain recorded in mosaicd
	// (what 'mosaicd version' prints), also carried as OCI labels.
	Version, Revision string
	Created           time.Time
}

// Build compiles a static mosaicd and install-keys for linux/Arch from
// Source and assembles them into a one-layer image on an empty base: no
// shell, no package manager, a non-root user, CA certificates from a pinned
// NSS bundle, /tmp, and a data directory.
func Build(ctx context.Context, o Options) (*Image, error) {
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Work == "" {
		dir, err := os.MkdirTemp("", "mosaic-image-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.Work = dir
	}
	mosaicd := filepath.Join(o.Work, "mosaicd")
	installKeys := filepath.Join(o.Work, "install-keys")
	if err := goBuild(ctx, o, ".", "./cmd/mosaicd", mosaicd); err != nil {
		return nil, err
	}
	if err := goBuild(ctx, o, "deploy", "./image/install-keys", installKeys); err != nil {
		return nil, err
	}
	out := &Image{Created: o.Epoch}
	if err := out.readBuildInfo(mosaicd); err != nil {
		return nil, err
	}
	files, err := imageFiles(mosaicd, installKeys)
	if err != nil {
		return nil, err
	}
	layerTar, err := tarFiles(files, out.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	out.Image, err = assemble(layer, o.Arch, out)
	return out, err
}

// goBuild compiles pkg, in the module at Source/dir, into out: static
// (no cgo), without local paths (-trimpath), with the VCS stamp that
// 'mosaicd version' reads. The result depends only on the sources, the
// commit and the Go version.
func goBuild(ctx context.Context, o Options, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-buildvcs=auto", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = filepath.Join(o.Source, dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch, "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", pkg, cmd.Dir, err, stderr.String())
	}
	return nil
}

// readBuildInfo takes the version, revision and (unless set) the creation
// time from what the toolchain recorded in the mosaicd binary.
func (img *Image) readBuildInfo(path string) error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the build information of %s: %w", path, err)
	}
	img.Version = bi.Main.Version
	var commitTime time.Time
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			img.Revision = s.Value
		case "vcs.time":
			commitTime, _ = time.Parse(time.RFC3339, s.Value)
		}
	}
	if img.Created.IsZero() {
		img.Created = commitTime
	}
	if img.Created.IsZero() {
		img.Created = time.Unix(0, 0)
	}
	img.Created = img.Created.UTC().Truncate(time.Second)
	return nil
}

// file is one entry of the layer.
type file struct {
	path     string // without a leading slash; directories end in /
	mode     int64
	uid, gid int
	data     []byte
}

// imageFiles lists the layer's contents.
func imageFiles(mosaicd, installKeys string) ([]file, error) {
	bin, err := os.ReadFile(mosaicd)
	if err != nil {
		return nil, err
	}
	keys, err := os.ReadFile(installKeys)
	if err != nil {
		return nil, err
	}
	roots, err := caBundle()
	if err != nil {
		return nil, err
	}
	return []file{
		{path: "data/", mode: 0o755, uid: 65532, gid: 65532},
		{path: "etc/", mode: 0o755},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n")},
		{path: "etc/ssl/", mode: 0o755},
		{path: "etc/ssl/certs/", mode: 0o755},
		{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: roots},
		{path: "install-keys", mode: 0o755, data: keys},
		{path: "mosaicd", mode: 0o755, data: bin},
		{path: "tmp/", mode: 0o1777},
	}, nil
}

// caBundle is the PEM bundle of the NSS roots pinned in go.mod (the roots
// Go's x509roots/fallback carries), for mosaicd's outbound TLS: OIDC
// discovery, witnesses, PostgreSQL with sslmode=verify-full. Roots with
// constraints PEM cannot express (distrust after a date) are left out.
func caBundle() ([]byte, error) {
	var b bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, errors.New("the pinned CA bundle holds no roots")
	}
	return b.Bytes(), nil
}

// tarFiles writes files as a tar stream in path order, every header
// stamped with epoch and numeric owners only, so equal inputs give equal
// bytes.
func tarFiles(files []file, epoch time.Time) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: epoch, Format: tar.FormatPAX}
		if strings.HasSuffix(f.path, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// assemble puts layer on an empty OCI image with mosaicd's configuration.
func assemble(layer v1.Layer, arch string, meta *Image) (v1.Image, error) {
	created := v1.Time{Time: meta.Created}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: created, CreatedBy: "deploy/image (mosaicd, install-keys, CA roots, /tmp, /data)",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = arch, "linux", created
	cf.Config = v1.Config{
		Entrypoint:   []string{"/mosaicd"},
		Cmd:          []string{"serve"},
		User:         User,
		WorkingDir:   DataDir,
		Env:          []string{"MOSAIC_LISTEN=:" + Port, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		ExposedPorts: map[string]struct{}{Port + "/tcp": {}},
		Volumes:      map[string]struct{}{DataDir: {}},
		StopSignal:   "SIGTERM",
		Labels: map[string]string{
			"org.opencontainers.image.title":       "mosaicd",
			"org.opencontainers.image.description": "Mosaic transparency log server (Sigstore Rekor v2 compatible)",
			"org.opencontainers.image.source":      Source,
			"org.opencontainers.image.revision":    meta.Revision,
			"org.opencontainers.image.version":     meta.Version,
			"org.opencontainers.image.created":     meta.Created.Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cf)
}

// parseEpoch reads SOURCE_DATE_EPOCH (seconds since 1970), "" being zero.
func parseEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s)
	}
	return time.Unix(n, 0), nil
}
