package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mosaiclog/mosaic/internal/atomicfile"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
)

// A frozen log takes no more entries and is read forever: its final
// checkpoint covers every entry it ever gave an index. The freeze is a
// record in the store (a row of log_frozen on PostgreSQL, .mosaic/frozen.json
// in a file log's directory), written once, after the final checkpoint was
// published; a log with the record is frozen for every process and across
// restarts. How sequencing is stopped before it differs by store:
//
//   - PostgreSQL (CutOff) stops every frontend's sequencing at once, in the
//     database, so any process may freeze a log others serve.
//   - A file log is written by one process (WriterLock): that process stops
//     its own adds, drains them and records the freeze. A freeze asked of a
//     file log that another process serves is a request file
//     (.mosaic/freeze-request.json) the serving process acts on.

// Frozen is a log's freeze record.
type Frozen struct {
	// Size is the log's final size; Checkpoint the signed checkpoint of
	// that size, published before the record was written.
	Size       uint64 `json:"size"`
	Checkpoint []byte `json:"checkpoint"`
	// Successor says, to people, where new entries go instead (a URL or a
	// log's name); it may be empty.
	Successor string    `json:"successor"`
	At        time.Time `json:"frozen_at"`
}

// ErrWriterLocked is returned by WriterLock when another process writes the
// log.
var ErrWriterLocked = errors.New("another process writes this log")

const (
	frozenFile        = "frozen.json"
	freezeRequestFile = "freeze-request.json"
	writerLockFile    = "writer.lock"
)

// FreezeRequest is a request, to the process writing a file log, to freeze
// it.
type FreezeRequest struct {
	Successor string    `json:"successor"`
	At        time.Time `json:"requested_at"`
}

// Frozen returns the log's freeze record, or nil when it is not frozen.
func (b *posixBackend) Frozen(ctx context.Context) (*Frozen, error) {
	data, err := os.ReadFile(filepath.Join(b.dir, mosaicDir, frozenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the freeze record: %w", err)
	}
	var f Frozen
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s is corrupt (%v); restore it from a backup", filepath.Join(b.dir, mosaicDir, frozenFile), err)
	}
	return &f, nil
}

// RecordFrozen writes f as the freeze record unless there is one, and
// returns the record held afterwards.
func (b *posixBackend) RecordFrozen(ctx context.Context, f Frozen) (Frozen, error) {
	data, err := json.Marshal(f)
	if err != nil {
		return Frozen{}, err
	}
	if err := atomicfile.Create(filepath.Join(b.dir, mosaicDir, frozenFile), data); err != nil && !errors.Is(err, fs.ErrExist) {
		return Frozen{}, fmt.Errorf("recording the freeze in %s: %w", b.dir, err)
	}
	rec, err := b.Frozen(ctx)
	if err != nil {
		return Frozen{}, err
	}
	if rec == nil {
		return Frozen{}, fmt.Errorf("the freeze of %s was recorded but cannot be read back", b.dir)
	}
	return *rec, nil
}

// CutOff is not possible in a file log: only the writing process can stop
// its adds (see WriterLock).
func (b *posixBackend) CutOff(ctx context.Context) (uint64, bool, error) { return 0, false, nil }

// RequestFreeze asks the process writing the log to freeze it.
func (b *posixBackend) RequestFreeze(ctx context.Context, r FreezeRequest) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	path := filepath.Join(b.dir, mosaicDir, freezeRequestFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("requesting the freeze: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("requesting the freeze: %w", err)
	}
	return nil
}

// FreezeRequested returns the pending freeze request, or nil.
func (b *posixBackend) FreezeRequested(ctx context.Context) (*FreezeRequest, error) {
	data, err := os.ReadFile(filepath.Join(b.dir, mosaicDir, freezeRequestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the freeze request: %w", err)
	}
	var r FreezeRequest
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading the freeze request: %w", err)
	}
	return &r, nil
}

// WriterLock takes the log's writer lock (an exclusive flock on
// .mosaic/writer.lock, released by the kernel if the process dies), or fails
// with ErrWriterLocked while another process holds it.
func (b *posixBackend) WriterLock() (func(), error) {
	path := filepath.Join(b.dir, mosaicDir, writerLockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the writer lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", b.dir, ErrWriterLocked)
		}
		return nil, fmt.Errorf("taking the writer lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// CreatedAt is when the log's identity was recorded (the identity file is
// written once).
func (b *posixBackend) CreatedAt(ctx context.Context) (time.Time, error) {
	fi, err := os.Stat(filepath.Join(b.dir, mosaicDir, "identity.json"))
	if err != nil {
		return time.Time{}, fmt.Errorf("reading when %s was created: %w", b.dir, err)
	}
	return fi.ModTime().UTC(), nil
}

// Reader reads the log's files without an appender: for a frozen log,
// served read-only, or a log another process writes.
func (b *posixBackend) Reader() tessera.LogReader { return posixReader{dir: b.dir} }

// posixReader reads a POSIX log's tlog-tiles files.
type posixReader struct{ dir string }

func (r posixReader) ReadCheckpoint(ctx context.Context) ([]byte, error) {
	return os.ReadFile(filepath.Join(r.dir, layout.CheckpointPath))
}

func (r posixReader) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return os.ReadFile(filepath.Join(r.dir, layout.TilePath(level, index, p)))
}

func (r posixReader) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	return os.ReadFile(filepath.Join(r.dir, layout.EntriesPath(index, p)))
}

// IntegratedSize and NextIndex are the checkpoint's size: a log read this
// way is not written by this process.
func (r posixReader) IntegratedSize(ctx context.Context) (uint64, error) { return r.size(ctx) }
func (r posixReader) NextIndex(ctx context.Context) (uint64, error)      { return r.size(ctx) }

func (r posixReader) size(ctx context.Context) (uint64, error) {
	cp, err := r.ReadCheckpoint(ctx)
	if err != nil {
		return 0, err
	}
	lines := strings.SplitN(string(cp), "\n", 3)
	if len(lines) < 3 {
		return 0, fmt.Errorf("checkpoint in %s is malformed", r.dir)
	}
	var size uint64
	if _, err := fmt.Sscan(lines[1], &size); err != nil {
		return 0, fmt.Errorf("checkpoint in %s: size: %w", r.dir, err)
	}
	return size, nil
}

// PostgreSQL: the cut-off is in the database, no request or lock needed.

func (b *pgBackend) Frozen(ctx context.Context) (*Frozen, error) {
	f, ok, err := b.store.Frozen(ctx)
	if err != nil || !ok {
		return nil, err
	}
	return &Frozen{Size: f.Size, Checkpoint: f.Checkpoint, Successor: f.Successor, At: f.At.UTC()}, nil
}

func (b *pgBackend) RecordFrozen(ctx context.Context, f Frozen) (Frozen, error) {
	rec, err := b.store.RecordFrozen(ctx, postgres.Frozen{Size: f.Size, Checkpoint: f.Checkpoint, Successor: f.Successor})
	if err != nil {
		return Frozen{}, err
	}
	return Frozen{Size: rec.Size, Checkpoint: rec.Checkpoint, Successor: rec.Successor, At: rec.At.UTC()}, nil
}

func (b *pgBackend) CutOff(ctx context.Context) (uint64, bool, error) {
	size, err := b.store.CutOff(ctx)
	return size, err == nil, err
}

func (b *pgBackend) RequestFreeze(ctx context.Context, r FreezeRequest) error {
	return errors.New("a PostgreSQL log is frozen directly, not by request")
}

func (b *pgBackend) FreezeRequested(ctx context.Context) (*FreezeRequest, error) { return nil, nil }

// WriterLock is a no-op: any number of frontends write a PostgreSQL log.
func (b *pgBackend) WriterLock() (func(), error) { return func() {}, nil }

func (b *pgBackend) CreatedAt(ctx context.Context) (time.Time, error) { return b.store.CreatedAt(ctx) }

func (b *pgBackend) Reader() tessera.LogReader { return b.store }

// ErrFrozen is what sequencing into a frozen PostgreSQL log fails with.
var ErrFrozen = postgres.ErrFrozen

// LogIDs lists the logs the store holds (those with a recorded identity),
// the main log first when it has one.
func (s *Store) LogIDs(ctx context.Context) ([]string, error) {
	if s.pool != nil {
		return postgres.LogIDs(ctx, s.pool)
	}
	var ids []string
	if _, err := os.Stat(filepath.Join(s.dir, mosaicDir, "identity.json")); err == nil {
		ids = append(ids, DefaultLogID)
	}
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing logs in %s: %w", s.dir, err)
	}
	for _, de := range des {
		if !de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.dir, de.Name(), mosaicDir, "identity.json")); err == nil {
			ids = append(ids, de.Name())
		}
	}
	return ids, nil
}
