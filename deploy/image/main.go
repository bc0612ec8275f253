// Command image builds the mosaicd OCI image without a container daemon:
// a static mosaicd (and the install-keys helper the Helm chart uses) on an
// empty base, no shell, user 65532, built reproducibly (the same commit
// and Go version give the same image digest). It writes a docker-save
// style tarball (docker load, podman load, skopeo copy docker-archive:)
// and, with --oci-layout, an OCI image layout directory.
//
//	go run ./image --source .. --out ../bin/mosaicd-image.tar   (from deploy/; 'make image' does this)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	source := fs.String("source", "..", "root of the Mosaic checkout")
	out := fs.String("out", "", "write a docker-save style tarball here")
	ociDir := fs.String("oci-layout", "", "write an OCI image layout into this directory")
	tag := fs.String("tag", "mosaicd:dev", "the image's name in the tarball and the layout")
	arch := fs.String("arch", runtime.GOARCH, "GOARCH of the image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" && *ociDir == "" {
		return fmt.Errorf("nothing to write: give --out and/or --oci-layout")
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("--tag: %w", err)
	}
	epoch, err := parseEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	img, err := Build(ctx, Options{Source: *source, Arch: *arch, Epoch: epoch})
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	if *out != "" {
		if err := tarball.WriteToFile(*out, ref, img); err != nil {
			return fmt.Errorf("writing %s: %w", *out, err)
		}
		fmt.Printf("wrote %s (%s)\n", *out, ref)
	}
	if *ociDir != "" {
		p, err := layout.Write(*ociDir, empty.Index)
		if err != nil {
			return fmt.Errorf("writing %s: %w", *ociDir, err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.String()})); err != nil {
			return fmt.Errorf("writing %s: %w", *ociDir, err)
		}
		fmt.Printf("wrote OCI layout %s\n", *ociDir)
	}
	fmt.Printf("mosaicd %s (revision %s) linux/%s, created %s\nimage digest %s\n",
		img.Version, img.Revision, *arch, img.Created.Format("2006-01-02T15:04:05Z"), digest)
	return nil
}
