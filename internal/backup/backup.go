package backup

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/sync/errgroup"
)

// BackupConfig says what Backup copies and where.
type BackupConfig struct {
	// Log is the log to back up, opened from its store; servers may keep
	// writing to it.
	Log storage.Backend
	// Dir is the backup directory: it must not exist, or be empty.
	Dir string
	// SigningKey, if set, is the log's signing key (PKCS#8 PEM), copied
	// into the backup as KeyFile (mode 0600). Its public key must be the
	// log's.
	SigningKey []byte
	// Out receives progress lines.
	Out io.Writer
	// Workers is how many tiles and bundles are copied at once (0: 4).
	Workers int
}

// Backup copies the log's latest published checkpoint and everything it
// commits to into cfg.Dir, checks the copy with fsck, and writes the
// manifest last. It returns the manifest.
func Backup(ctx context.Context, cfg BackupConfig) (*Manifest, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if err := emptyDir(cfg.Dir); err != nil {
		return nil, err
	}
	id, ok, err := cfg.Log.Identity(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("the store holds no log yet (no identity recorded): nothing to back up")
	}
	pub, err := x509.ParsePKIXPublicKey(id.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("the store's recorded public key: %w", err)
	}
	v, err := note.NewVerifier(id.Origin, pub)
	if err != nil {
		return nil, err
	}
	res := cfg.Log.Resources()
	raw, err := res.ReadCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the published checkpoint (has the log published one yet?): %w", err)
	}
	cp, err := note.VerifyCheckpoint(raw, id.Origin, v)
	if err != nil {
		return nil, fmt.Errorf("the store's checkpoint: %w", err)
	}
	pemKey, err := note.MarshalPublicKey(pub)
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Format: Format, Created: time.Now().UTC().Truncate(time.Second), Origin: id.Origin, PublicKey: string(pemKey),
		Size: cp.Size, RootHash: cp.Hash, Checkpoint: string(raw), Store: cfg.Log.Kind(), Excluded: excluded,
	}
	fmt.Fprintf(cfg.Out, "backing up %s at tree size %d into %s\n", id.Origin, cp.Size, cfg.Dir)
	if err := copyResources(ctx, cfg, res, m); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(cfg.Dir, layout.CheckpointPath), raw, 0o644); err != nil {
		return nil, err
	}
	if cfg.SigningKey != nil {
		if err := checkKey(cfg.SigningKey, id.PublicKey); err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(cfg.Dir, KeyFile), cfg.SigningKey, 0o600); err != nil {
			return nil, err
		}
		m.SigningKey = KeyFile
	}
	if err := check(ctx, cfg.Out, "backup", id.Origin, v, fileResources(cfg.Dir)); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(cfg.Dir, ManifestFile), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

// copyResources copies every entry bundle and hash tile of the tree of
// m.Size into cfg.Dir, at the paths tlog-tiles gives them.
func copyResources(ctx context.Context, cfg BackupConfig, res storage.Resources, m *Manifest) error {
	type job struct {
		path string
		read func(context.Context) ([]byte, error)
	}
	var jobs []job
	size := m.Size
	bundle := storage.ExactBundle(res.ReadEntryBundle)
	for i := uint64(0); i*layout.EntryBundleWidth < size; i++ {
		p := layout.PartialTileSize(0, i, size)
		jobs = append(jobs, job{layout.EntriesPath(i, p), func(ctx context.Context) ([]byte, error) { return bundle(ctx, i, p) }})
		m.Bundles++
	}
	tile := storage.ExactTile(res.ReadTile)
	for level := uint64(0); size>>(8*level) > 0; level++ {
		width := size >> (8 * level)
		for i := uint64(0); i*layout.TileWidth < width; i++ {
			p := layout.PartialTileSize(level, i, size)
			jobs = append(jobs, job{layout.TilePath(level, i, p), func(ctx context.Context) ([]byte, error) { return tile(ctx, level, i, p) }})
			m.Tiles++
		}
	}
	prog := newProgress(cfg.Out, "backup", "tiles and entry bundles copied", uint64(len(jobs)))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Workers)
	for _, j := range jobs {
		g.Go(func() error {
			data, err := j.read(gctx)
			if err != nil {
				return fmt.Errorf("reading %s: %w", j.path, err)
			}
			if err := writeFile(filepath.Join(cfg.Dir, j.path), data, 0o644); err != nil {
				return err
			}
			prog.add(1)
			return nil
		})
	}
	err := g.Wait()
	prog.finish()
	return err
}

// checkKey refuses a signing key whose public key is not the log's.
func checkKey(pemKey, logPub []byte) error {
	k, err := note.ParsePrivateKey(pemKey)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return err
	}
	if string(der) != string(logPub) {
		return errors.New("the signing key given is not the log's: its public key differs from the one the store recorded")
	}
	return nil
}

// emptyDir creates dir, or accepts it when it exists and is empty.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	case len(ents) > 0:
		return fmt.Errorf("%s is not empty: back up into a new directory", dir)
	}
	return nil
}

// writeFile writes data to path (creating its directory), synced.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
