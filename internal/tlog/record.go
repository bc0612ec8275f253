package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/transparency-dev/formats/log"
	sumdbnote "golang.org/x/mod/sumdb/note"

	"github.com/mosaiclog/mosaic/internal/atomicfile"
)

// A checkpoint record is a file, kept outside the log's store, holding the
// body (origin, size, root hash) of the largest checkpoint the log has ever
// signed. It is what lets a server notice that its store went back in time
// (a restored backup, a database rolled back to a snapshot): the store then
// holds a smaller tree than clients were shown, or another one, and serving
// it would fork the log in a way any of those clients can prove.
//
// Order: the record is advanced before the checkpoint is signed (see
// recordingSigner), so no checkpoint can be published, and no client can see
// one, that the record does not cover, whatever crashes when. A crash after
// the record was advanced but before the checkpoint was stored leaves the
// record ahead of the published checkpoint, never ahead of the integrated
// tree, which the store made durable before asking for a signature; the
// start-up check (CheckRecord) therefore compares the record with the
// integrated tree's tiles.
//
// The file is replaced atomically (a synced temporary file renamed over it,
// then the directory synced) under an exclusive lock on PATH.lock, so that
// several processes serving one store may share it: each advances it only
// forward.

// Record is an opened checkpoint record file. Its methods are safe for
// concurrent use, also by several processes.
type Record struct {
	path string
	// mu serialises this process's updates; the lock file serialises
	// processes.
	mu sync.Mutex
}

// OpenRecord returns the checkpoint record at path, creating nothing until
// the first checkpoint is recorded. Its directory must exist.
func OpenRecord(path string) (*Record, error) {
	if path == "" {
		return nil, errors.New("checkpoint record: no path given")
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint record %s: its directory: %w", path, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("checkpoint record %s: %s is not a directory", path, dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("checkpoint record %s is a directory; give a file path", path)
	}
	return &Record{path: path}, nil
}

// Path is the record's file.
func (r *Record) Path() string { return r.path }

// Load returns the recorded checkpoint body, or nil when nothing has been
// recorded yet (no file).
func (r *Record) Load() (*log.Checkpoint, error) {
	data, err := os.ReadFile(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint record: %w", err)
	}
	cp, err := ParseRecord(data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint record %s: %w", r.path, err)
	}
	return cp, nil
}

// ParseRecord parses a checkpoint record's contents: a C2SP checkpoint body
// (origin, decimal size, base64 root hash, each on its own line), without
// signatures.
func ParseRecord(data []byte) (*log.Checkpoint, error) {
	if len(data) == 0 {
		return nil, errors.New("empty: it should hold a checkpoint body (origin, size, root hash); " +
			"it was truncated outside mosaicd: restore it, or see the README on rollback")
	}
	if len(data) > 64<<10 {
		return nil, fmt.Errorf("%d bytes: too large for a checkpoint body", len(data))
	}
	var cp log.Checkpoint
	rest, err := cp.Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("not a checkpoint body: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("not a checkpoint body: extension lines or signatures after the root hash")
	}
	if len(cp.Hash) != hashSize {
		return nil, fmt.Errorf("root hash has %d bytes, want %d", len(cp.Hash), hashSize)
	}
	return &cp, nil
}

// ErrRecordRefused marks a checkpoint the record refuses to let be signed:
// one smaller than, or of the same size but another root than, the
// checkpoint recorded. Such a checkpoint would contradict what clients
// were already shown.
var ErrRecordRefused = errors.New("checkpoint refused by the checkpoint record")

// Advance records the checkpoint body cp (as it will be signed) if it is
// larger than the recorded one, durably, before returning. It refuses
// (ErrRecordRefused) a smaller checkpoint, one of another origin, and one of
// the same size with another root; the same checkpoint again is a no-op.
func (r *Record) Advance(body []byte) error {
	var cp log.Checkpoint
	if _, err := cp.Unmarshal(body); err != nil {
		return fmt.Errorf("checkpoint record: signing something that is not a checkpoint: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	unlock, err := lockFile(r.path + ".lock")
	if err != nil {
		return fmt.Errorf("locking checkpoint record: %w", err)
	}
	defer unlock()
	rec, err := r.Load()
	if err != nil {
		return err
	}
	if rec != nil {
		switch {
		case rec.Origin != cp.Origin:
			return fmt.Errorf("%w: %s records the log %q, not %q", ErrRecordRefused, r.path, rec.Origin, cp.Origin)
		case cp.Size < rec.Size:
			return fmt.Errorf("%w: size %d is smaller than the recorded size %d (%s): the store went back in time",
				ErrRecordRefused, cp.Size, rec.Size, r.path)
		case cp.Size == rec.Size && !bytes.Equal(cp.Hash, rec.Hash):
			return fmt.Errorf("%w: size %d has another root hash than recorded in %s", ErrRecordRefused, cp.Size, r.path)
		case cp.Size == rec.Size:
			return nil
		}
	}
	// Keep only the body proper (origin, size, root): extension lines are
	// not part of what the record vouches for.
	out := log.Checkpoint{Origin: cp.Origin, Size: cp.Size, Hash: cp.Hash}
	if err := atomicfile.Replace(r.path, out.Marshal()); err != nil {
		return fmt.Errorf("writing checkpoint record %s: %w", r.path, err)
	}
	return nil
}

// lockFile takes an exclusive lock on path (created if missing) and returns
// its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// recordingSigner advances the record to each checkpoint before signing
// it, and refuses to sign what the record refuses.
type recordingSigner struct {
	sumdbnote.Signer
	record *Record
}

func (s recordingSigner) Sign(msg []byte) ([]byte, error) {
	if err := s.record.Advance(msg); err != nil {
		return nil, err
	}
	return s.Signer.Sign(msg)
}
