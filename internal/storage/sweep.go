package storage

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Tessera's POSIX driver (v1.0.4, storage/posix/file_ops.go) writes every
// file through a temporary one beside it, named after the target plus a
// random non-negative int32 in decimal ("checkpoint1380618378",
// "tile/entries/053102401622", "tile/0/x001/067.p/5123"), then renames or
// links it into place and removes it. Two things leave the temporary file
// behind, often empty: a process that dies in between (kill -9, power loss,
// or, before space.go existed, SIGBUS on a full disk), and a write into it
// that fails (ENOSPC): createTemp clears the name it is about to remove
// before removing it. Nothing reads these files; they only take space and
// inodes. sweepTemps removes them, recognising them by
// name alone, so that it never touches a real checkpoint, tile or bundle:
//
//   - in the log directory: "checkpoint" + digits;
//   - in .state: "treeState", "gcState" or "version" + digits (the lock
//     files, "*.lock", are real and stay);
//   - in .mosaic: ".tmp-" + digits (RecordIdentity's own, os.CreateTemp);
//   - under tile/, outside a ".p" directory: a name of more than three
//     digits (real tiles and bundles are named with exactly three);
//   - inside a ".p" directory: a name of digits that is not a partial
//     width (1 to 255), or that is one but names an empty file (a real
//     partial tile or bundle holds at least one hash or entry). The one
//     ambiguous case left, a non-empty temporary file whose name is also a
//     valid width (the random suffix below 100), is kept.
//
// Only files last modified before `before` are removed: a temporary file a
// live writer is using is younger.
func sweepTemps(ctx context.Context, dir string, before time.Time) ([]string, error) {
	var removed []string
	remove := func(path string, ok func(name string, size int64) bool) error {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(before) || !ok(fi.Name(), fi.Size()) {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed = append(removed, path)
		return nil
	}
	var errs []error
	for _, top := range []struct {
		dir string
		ok  func(name string, size int64) bool
	}{
		{dir, prefixedTemp("checkpoint")},
		{filepath.Join(dir, ".state"), prefixedTemp("treeState", "gcState", "version")},
		{filepath.Join(dir, mosaicDir), prefixedTemp(".tmp-")},
	} {
		entries, err := os.ReadDir(top.dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		for _, e := range entries {
			errs = append(errs, remove(filepath.Join(top.dir, e.Name()), top.ok))
		}
	}
	err := filepath.WalkDir(filepath.Join(dir, "tile"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if strings.HasSuffix(filepath.Base(filepath.Dir(path)), ".p") {
			return remove(path, partialTemp)
		}
		return remove(path, tileTemp)
	})
	errs = append(errs, err)
	return removed, errors.Join(errs...)
}

// prefixedTemp matches a prefix followed by one or more digits.
func prefixedTemp(prefixes ...string) func(string, int64) bool {
	return func(name string, _ int64) bool {
		for _, p := range prefixes {
			if rest, ok := strings.CutPrefix(name, p); ok && allDigits(rest) {
				return true
			}
		}
		return false
	}
}

// tileTemp matches a temporary file beside full tiles and bundles, which
// are named with exactly three digits.
func tileTemp(name string, _ int64) bool { return len(name) > 3 && allDigits(name) }

// partialTemp matches a temporary file in a ".p" directory, where real
// files are named with their width, 1 to 255, and are never empty.
func partialTemp(name string, size int64) bool {
	if !allDigits(name) {
		return false
	}
	w, err := strconv.ParseUint(name, 10, 64)
	return err != nil || w < 1 || w > 255 || name != strconv.FormatUint(w, 10) || size == 0
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
