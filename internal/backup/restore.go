package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/transparency-dev/tessera/client"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// fileResources reads a tlog-tiles directory tree.
func fileResources(dir string) storage.Resources { return client.FileFetcher{Root: dir} }

// ReadManifest reads and checks the manifest of the backup in dir.
func ReadManifest(dir string) (*Manifest, sumdbnote.Verifier, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s holds no %s: not a backup, or one that did not finish (take another)", dir, ManifestFile)
	}
	if err != nil {
		return nil, nil, err
	}
	m, v, err := ParseManifest(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return m, v, nil
}

// RestoreConfig says what Restore copies where.
type RestoreConfig struct {
	// Dir is the backup directory.
	Dir string
	// Log is the target log, opened from its store: it must be empty.
	Log storage.Backend
	Out io.Writer
}

// Restore copies the backup in cfg.Dir into the empty log cfg.Log: see
// Import. It returns the backup's manifest.
func Restore(ctx context.Context, cfg RestoreConfig) (*Manifest, error) {
	m, v, err := ReadManifest(cfg.Dir)
	if err != nil {
		return nil, err
	}
	der, err := m.PublicKeyDER()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(nonNil(cfg.Out), "restoring %s at tree size %d from %s\n", m.Origin, m.Size, cfg.Dir)
	id := &Identity{Origin: m.Origin, Verifier: v, PublicKey: der}
	if _, err := copyLog(ctx, "restore", nonNil(cfg.Out), id, fileResources(cfg.Dir), cfg.Log); err != nil {
		return nil, err
	}
	return m, nil
}

// ImportConfig says what Import copies where.
type ImportConfig struct {
	// URL is the tlog-tiles log's base URL (the checkpoint is at
	// URL/checkpoint).
	URL string
	// Identity is the log's name and key, given by the operator (never
	// taken from the log itself).
	Identity *Identity
	// Log is the target log, opened from its store: it must be empty.
	Log    storage.Backend
	Client *http.Client
	Out    io.Writer
}

// Import copies the tlog-tiles log at cfg.URL into the empty log cfg.Log,
// checking its checkpoint with the identity given and every entry against
// it, and returns the size copied.
func Import(ctx context.Context, cfg ImportConfig) (uint64, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, fmt.Errorf("--from %q: want the log's http:// or https:// base URL (its checkpoint is at <URL>/checkpoint)", cfg.URL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	f, err := client.NewHTTPFetcher(u, cfg.Client)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(nonNil(cfg.Out), "importing %s from %s\n", cfg.Identity.Origin, u)
	return copyLog(ctx, "import", nonNil(cfg.Out), cfg.Identity, f, cfg.Log)
}

// copyLog is restore and import: verify the source's checkpoint with id,
// copy its entries into the empty target (whose integration re-derives
// the tree and must reach the checkpoint's root), publish the checkpoint,
// record the identity, and fsck the target against the checkpoint. It
// returns the size copied.
func copyLog(ctx context.Context, what string, out io.Writer, id *Identity, src storage.Resources, target storage.Backend) (uint64, error) {
	cp, raw, _, err := client.FetchCheckpoint(ctx, src.ReadCheckpoint, id.Verifier, id.Origin)
	if err != nil {
		return 0, fmt.Errorf("the source's checkpoint (verified with the log's key, origin %q): %w", id.Origin, err)
	}
	prog := newProgress(out, what, "entries copied", cp.Size)
	err = storage.Import(ctx, target, storage.ImportSource{
		Size: cp.Size, Root: cp.Hash, Checkpoint: raw,
		Bundle: storage.ExactBundle(src.ReadEntryBundle), Progress: prog.set,
	})
	if err != nil {
		return 0, err
	}
	prog.set(cp.Size)
	prog.finish()
	if err := storage.BindIdentity(ctx, target, "the target store", storage.Identity{Origin: id.Origin, PublicKey: id.PublicKey}); err != nil {
		return 0, err
	}
	return cp.Size, check(ctx, out, what, id.Origin, id.Verifier, target.Resources())
}

func nonNil(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
