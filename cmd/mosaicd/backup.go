package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/internal/backup"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
	"k8s.io/klog/v2"
)

// openLogForCopy opens the main log of the store spec for a backup (create
// false: the store must exist) or for a restore or import (create true: a
// file store's directory is made), deduplicating as serve does so that an
// import into PostgreSQL records the identities serve will look up.
func openLogForCopy(ctx context.Context, spec string, create bool) (*storage.Store, storage.Backend, error) {
	// Tessera's migration and fsck log through klog: keep it quiet; the
	// commands print their own progress.
	klog.SetSlogLogger(slog.New(slog.DiscardHandler))
	st, err := storage.Open(ctx, spec, storage.Options{AutoMigrate: create, Create: create})
	if err != nil {
		return nil, nil, err
	}
	b, err := st.OpenLog(ctx, storage.DefaultLogID, storage.LogOptions{Identity: entry.LeafIdentity})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, b, nil
}

// backupCmd is 'mosaicd backup': a consistent copy of a log, taken while
// servers keep writing to it.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", stderr)
	var spec, to, keyPath string
	var includeKeys bool
	storageFlag(fs, &spec)
	fs.StringVar(&to, "to", "", "where to write the backup (required): a directory, new or empty, or s3://BUCKET/PREFIX?endpoint=…&region=…, a prefix holding no backup; "+
		"to S3 the backup is taken and checked in a temporary directory, then uploaded with its manifest last (credentials from the AWS environment)")
	fs.BoolVar(&includeKeys, "include-keys", false, "also copy the log's signing key into the backup (mode 0600); without it the backup holds no secret")
	fs.StringVar(&keyPath, "signing-key", "", "the signing key --include-keys copies (default with file:DIR storage: DIR/.mosaic/signing-key.pem)")
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	if to == "" {
		return usageError{errors.New("--to DIR|s3://BUCKET/PREFIX is required: where to write the backup")}
	}
	var bkt *bucket.Bucket
	if isS3(to) {
		var err error
		if bkt, err = openBackupBucket(ctx, "--to", to); err != nil {
			return err
		}
		if err := backup.CheckNoBackup(ctx, bkt); err != nil {
			return err
		}
		tmp, err := os.MkdirTemp("", "mosaic-backup-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		to = tmp
	}
	var key []byte
	if includeKeys {
		var err error
		if key, err = readSigningKey(spec, keyPath); err != nil {
			return err
		}
	}
	st, b, err := openLogForCopy(ctx, spec, false)
	if err != nil {
		return err
	}
	defer st.Close()
	defer b.Close()
	start := time.Now()
	m, err := backup.Backup(ctx, backup.BackupConfig{Log: b, Dir: to, SigningKey: key, Out: stderr})
	if err != nil {
		return err
	}
	if bkt != nil {
		if err := backup.Upload(ctx, to, bkt, stderr); err != nil {
			return err
		}
		to = bkt.String()
	}
	keys := "no signing key"
	if m.SigningKey != "" {
		keys = "the signing key (" + to + "/" + m.SigningKey + ", keep it secret)"
	}
	fmt.Fprintf(stdout, "backed up %s at tree size %d into %s: %d entry bundles, %d tiles, the checkpoint and %s; fsck-clean (%s)\n",
		m.Origin, m.Size, to, m.Bundles, m.Tiles, keys, time.Since(start).Round(time.Millisecond))
	return nil
}

// readSigningKey reads the key --include-keys copies.
func readSigningKey(spec, path string) ([]byte, error) {
	if path == "" {
		dir, ok := storage.FileDir(spec)
		if !ok {
			return nil, usageError{errors.New("--include-keys needs --signing-key FILE with this storage")}
		}
		path = filepath.Join(dir, ".mosaic", "signing-key.pem")
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return key, nil
}

// restoreCmd is 'mosaicd restore': a backup into a new, empty store.
func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", stderr)
	var spec, from, keyOut string
	fs.StringVar(&spec, "storage", "", "the new store to restore into, which must be empty: file:DIR or postgres://... (required)")
	fs.StringVar(&from, "from", "", "the backup 'mosaicd backup' wrote (required): its directory, or its s3://BUCKET/PREFIX?endpoint=…&region=…, downloaded first into a temporary directory")
	fs.StringVar(&keyOut, "signing-key", "", "where to write the backup's signing key, if it holds one (default with file:DIR storage: DIR/.mosaic/signing-key.pem)")
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	if spec == "" || from == "" {
		return usageError{errors.New("--from DIR|s3://BUCKET/PREFIX and --storage are required")}
	}
	if isS3(from) {
		dir, err := downloadBackup(ctx, from, stderr)
		if dir != "" {
			defer os.RemoveAll(dir)
		}
		if err != nil {
			return err
		}
		from = dir
	}
	m, _, err := backup.ReadManifest(from)
	if err != nil {
		return err
	}
	keyOut, err = restoredKeyPath(m, spec, keyOut)
	if err != nil {
		return err
	}
	st, b, err := openLogForCopy(ctx, spec, true)
	if err != nil {
		return err
	}
	defer st.Close()
	defer b.Close()
	start := time.Now()
	if _, err := backup.Restore(ctx, backup.RestoreConfig{Dir: from, Log: b, Out: stderr}); err != nil {
		return err
	}
	if keyOut != "" {
		key, err := os.ReadFile(filepath.Join(from, m.SigningKey))
		if err != nil {
			return err
		}
		if err := writeKeyBytes(keyOut, key); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote the backup's signing key to %s\n", keyOut)
	}
	fmt.Fprintf(stdout, "restored %s at tree size %d into %s; fsck-clean (%s)\n", m.Origin, m.Size, storage.Redact(spec), time.Since(start).Round(time.Millisecond))
	return nil
}

// isS3 reports whether a backup's place is a bucket rather than a directory.
func isS3(place string) bool { return strings.HasPrefix(place, "s3://") }

// openBackupBucket opens the bucket and prefix of an s3:// backup place,
// given as flag.
func openBackupBucket(ctx context.Context, flag, place string) (*bucket.Bucket, error) {
	cfg, err := bucket.ParseURL(place)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s %w", flag, err)}
	}
	return bucket.Open(ctx, cfg)
}

// downloadBackup copies the backup at the s3:// place into a new temporary
// directory, which it returns for the caller to remove (also on error).
func downloadBackup(ctx context.Context, place string, stderr io.Writer) (string, error) {
	b, err := openBackupBucket(ctx, "--from", place)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "mosaic-restore-")
	if err != nil {
		return "", err
	}
	if _, err := backup.Download(ctx, b, dir, stderr); err != nil {
		return dir, err
	}
	return dir, nil
}

// restoredKeyPath is where restore writes the backup's signing key: "" when
// the backup holds none.
func restoredKeyPath(m *backup.Manifest, spec, flag string) (string, error) {
	if m.SigningKey == "" {
		return "", nil
	}
	if flag == "" {
		dir, ok := storage.FileDir(spec)
		if !ok {
			return "", usageError{errors.New("the backup holds the signing key: give --signing-key FILE to write it to")}
		}
		flag = filepath.Join(dir, ".mosaic", "signing-key.pem")
	}
	if _, err := os.Stat(flag); err == nil {
		return "", fmt.Errorf("%s exists: the backup's signing key would replace it; give another --signing-key", flag)
	}
	return flag, nil
}

// writeKeyBytes writes a PEM private key, mode 0600, refusing to replace a
// file.
func writeKeyBytes(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing the signing key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// importCmd is 'mosaicd import': any tlog-tiles log, read over HTTP and
// checked against the key given, into a new, empty store.
func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", stderr)
	var spec, from, vkey, origin, pubPath string
	fs.StringVar(&spec, "storage", "", "the new store to import into, which must be empty: file:DIR or postgres://... (required)")
	fs.StringVar(&from, "from", "", "the log's tlog-tiles base URL, where URL/checkpoint is (a Mosaic log: http://HOST/api/v2) (required)")
	fs.StringVar(&vkey, "vkey", "", "the log's signed-note verifier key (name+hash+key; Ed25519), as 'mosaicd keygen' prints it")
	fs.StringVar(&pubPath, "public-key", "", "the log's public key (PEM), instead of --vkey; needs --origin")
	fs.StringVar(&origin, "origin", "", "the log's checkpoint origin (default: the --vkey's name)")
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	if spec == "" || from == "" {
		return usageError{errors.New("--from URL and --storage are required")}
	}
	var pem []byte
	if pubPath != "" {
		var err error
		if pem, err = os.ReadFile(pubPath); err != nil {
			return fmt.Errorf("--public-key: %w", err)
		}
	}
	id, err := backup.ParseIdentity(vkey, origin, pem)
	if err != nil {
		return usageError{err}
	}
	st, b, err := openLogForCopy(ctx, spec, true)
	if err != nil {
		return err
	}
	defer st.Close()
	defer b.Close()
	start := time.Now()
	size, err := backup.Import(ctx, backup.ImportConfig{URL: from, Identity: id, Log: b, Out: stderr, Client: &http.Client{Timeout: time.Minute}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %s at tree size %d from %s into %s; fsck-clean (%s)\n", id.Origin, size, from, storage.Redact(spec), time.Since(start).Round(time.Millisecond))
	return nil
}
