package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DirMemory is a CheckpointMemory kept in a directory: one file per log,
// <hash>.json, where <hash> is derived from the log's origin and log ID.
//
// Durability: a checkpoint is written to a temporary file in the
// directory, synced, renamed over the log's file, and the directory is
// synced; a crash at any point leaves the old checkpoint or the new one,
// never a mix (temporary files left behind are ignored). Updates of one
// log are serialised across processes by an flock(2) on <hash>.lock (on
// systems without flock, only within one process). A file that cannot be
// read or names another log is an error, and is never overwritten.
type DirMemory struct {
	dir string
}

var _ CheckpointMemory = (*DirMemory)(nil)

// NewDirMemory returns the memory kept in dir, creating dir (mode 0700)
// when it does not exist.
func NewDirMemory(dir string) (*DirMemory, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the checkpoint memory directory: %w", err)
	}
	return &DirMemory{dir: dir}, nil
}

// Dir is the directory the memory is kept in.
func (m *DirMemory) Dir() string { return m.dir }

// memoryRecord is one log's file.
type memoryRecord struct {
	Origin     string    `json:"origin"`
	LogID      []byte    `json:"logId"`
	Checkpoint string    `json:"checkpoint"`
	Updated    time.Time `json:"updated"`
}

// Path is the file that holds log's checkpoint.
func (m *DirMemory) Path(log LogKey) string {
	h := sha256.Sum256(append([]byte(log.Origin+"\n"), log.LogID...))
	return filepath.Join(m.dir, hex.EncodeToString(h[:16])+".json")
}

// Load returns the checkpoint remembered for log, nil when there is none.
func (m *DirMemory) Load(log LogKey) ([]byte, error) {
	path := m.Path(log)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r memoryRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s is not a remembered checkpoint (%v); move it away to start afresh for log %s", path, err, log.Origin)
	}
	if r.Origin != log.Origin || !bytes.Equal(r.LogID, log.LogID) || r.Checkpoint == "" {
		return nil, fmt.Errorf("%s records log %q (ID %s), not %q (ID %s)", path, r.Origin,
			base64.StdEncoding.EncodeToString(r.LogID), log.Origin, base64.StdEncoding.EncodeToString(log.LogID))
	}
	return []byte(r.Checkpoint), nil
}

// Update implements CheckpointMemory, holding the log's lock throughout.
func (m *DirMemory) Update(ctx context.Context, log LogKey, f func(remembered []byte) ([]byte, error)) error {
	path := m.Path(log)
	unlock, err := lockFile(ctx, path[:len(path)-len(".json")]+".lock")
	if err != nil {
		return fmt.Errorf("locking the checkpoint memory of log %s: %w", log.Origin, err)
	}
	defer unlock()
	old, err := m.Load(log)
	if err != nil {
		return err
	}
	next, err := f(old)
	if err != nil || next == nil {
		return err
	}
	data, err := json.MarshalIndent(memoryRecord{Origin: log.Origin, LogID: log.LogID, Checkpoint: string(next), Updated: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// writeFileAtomic replaces path with data: temporary file, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
