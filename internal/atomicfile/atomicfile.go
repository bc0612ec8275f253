// Package atomicfile writes small files whole and durably: a reader sees
// the old contents or the new, never a part, and once a call has returned
// the new contents survive a crash (the file and its directory are synced).
package atomicfile

import (
	"os"
	"path/filepath"
)

// Replace replaces path's contents with data.
func Replace(path string, data []byte) error {
	return write(path, data, os.Rename)
}

// Create creates path with data and fails with an error wrapping
// fs.ErrExist when path already exists.
func Create(path string, data []byte) error {
	return write(path, data, os.Link)
}

// write writes data to a temporary file beside path, syncs it, puts it in
// place with place (rename or link), and syncs the directory.
func write(path string, data []byte, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = place(tmp, path)
	}
	if err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
