package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/mosaiclog/mosaic/internal/storage/bucket"
	"golang.org/x/sync/errgroup"
)

// transferWorkers is how many objects Upload and Download move at once.
const transferWorkers = 8

// Upload copies the backup in dir (written by Backup) to b, under b's
// prefix with the directory's layout: every file first, the manifest last,
// so that a prefix without a manifest is an incomplete backup. It refuses a
// prefix that already holds a manifest. Progress lines go to out (nil: none).
func Upload(ctx context.Context, dir string, b *bucket.Bucket, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	if _, _, err := ReadManifest(dir); err != nil {
		return err
	}
	if err := CheckNoBackup(ctx, b); err != nil {
		return err
	}
	var keys []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); key != ManifestFile {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing the backup in %s: %w", dir, err)
	}
	pr := newProgress(out, "files uploaded to "+b.String(), "files", uint64(len(keys))+1)
	put := func(ctx context.Context, key string) error {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
		if err != nil {
			return err
		}
		if err := b.Put(ctx, key, data, true); err != nil {
			return err
		}
		pr.add(1)
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(transferWorkers)
	for _, key := range keys {
		g.Go(func() error { return put(gctx, key) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("uploading the backup (the prefix holds no manifest, so it is no backup; retry into it): %w", err)
	}
	if err := put(ctx, ManifestFile); err != nil {
		return fmt.Errorf("uploading the manifest: %w", err)
	}
	pr.finish()
	return nil
}

// CheckNoBackup refuses a prefix that holds a backup (its manifest); Upload
// checks it too, but a caller may check before taking the backup.
func CheckNoBackup(ctx context.Context, b *bucket.Bucket) error {
	_, err := b.Get(ctx, ManifestFile)
	switch {
	case err == nil:
		return fmt.Errorf("%s already holds a backup (%s): give a new prefix", b, ManifestFile)
	case errors.Is(err, os.ErrNotExist):
		return nil
	default:
		return err
	}
}

// Download copies the backup at b, which Upload wrote, into dir (new or
// empty), the manifest last; Restore then reads dir. It refuses a prefix
// without a manifest (an incomplete backup, or none) and keys that would
// land outside dir. The signing key, if the backup holds it, is written mode
// 0600. Progress lines go to out (nil: none).
func Download(ctx context.Context, b *bucket.Bucket, dir string, out io.Writer) (*Manifest, error) {
	if out == nil {
		out = io.Discard
	}
	mdata, err := b.Get(ctx, ManifestFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("incomplete or no backup at %s: it holds no %s", b, ManifestFile)
	}
	if err != nil {
		return nil, err
	}
	m, _, err := ParseManifest(mdata)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", b, ManifestFile, err)
	}
	if err := emptyDir(dir); err != nil {
		return nil, err
	}
	keys, err := b.List(ctx)
	if err != nil {
		return nil, err
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == ManifestFile })
	pr := newProgress(out, "files downloaded from "+b.String(), "files", uint64(len(keys)))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(transferWorkers)
	for _, key := range keys {
		g.Go(func() error {
			if err := download(gctx, b, dir, key); err != nil {
				return err
			}
			pr.add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("downloading the backup: %w", err)
	}
	if err := writeFile(filepath.Join(dir, ManifestFile), mdata, 0o644); err != nil {
		return nil, err
	}
	pr.finish()
	return m, nil
}

// download copies the object key of b into dir.
func download(ctx context.Context, b *bucket.Bucket, dir, key string) error {
	rel := filepath.FromSlash(key)
	if !filepath.IsLocal(rel) {
		return fmt.Errorf("%s/%s: not a backup file's name", b, key)
	}
	data, err := b.Get(ctx, key)
	if err != nil {
		return err
	}
	mode := fs.FileMode(0o644)
	if key == KeyFile {
		mode = 0o600
	}
	return writeFile(filepath.Join(dir, rel), data, mode)
}
