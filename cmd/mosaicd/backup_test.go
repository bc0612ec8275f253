package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/backup"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/internal/s3test"
	"github.com/mosaiclog/mosaic/internal/storage/bucket"
	"github.com/transparency-dev/formats/log"
)

// mosaicd backup --to s3://… and restore --from s3://… against a real
// SeaweedFS: the restored log has the backed-up size and root; a prefix
// without a manifest is refused by restore, one holding a backup by backup.
func TestBackupRestoreS3(t *testing.T) {
	srv := s3test.Start(t)
	for _, kv := range s3test.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg := srv.NewBucket(t)
	cfg.Credentials = nil // as mosaicd: from the environment
	url := cfg.String()

	lg := mosaictest.NewLog(t, mosaictest.Options{})
	const n = 5
	for i := range n {
		if _, err := lg.Log.Add(t.Context(), fmt.Appendf(nil, "entry %d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	cp := waitSize(t, lg, n)

	mosaicd := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		var err error
		if args[0] == "backup" {
			err = backupCmd(t.Context(), args[1:], &stdout, &stderr)
		} else {
			err = restoreCmd(t.Context(), args[1:], &stdout, &stderr)
		}
		t.Logf("mosaicd %s: %v\n%s%s", strings.Join(args, " "), err, &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
	out, err := mosaicd("backup", "--storage", "file:"+lg.Dir, "--to", url)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "files uploaded to s3://"+cfg.Bucket+"/log: 4/4 files (100%)") {
		t.Errorf("the upload showed no progress")
	}

	b, err := bucket.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.Get(t.Context(), backup.ManifestFile)
	if err != nil {
		t.Fatalf("no manifest in the bucket: %v", err)
	}
	m, _, err := backup.ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != cp.Size || !bytes.Equal(m.RootHash, cp.Hash) {
		t.Fatalf("manifest at %d %x, log at %d %x", m.Size, m.RootHash, cp.Size, cp.Hash)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := mosaicd("restore", "--storage", "file:"+dir, "--from", url); err != nil {
		t.Fatal(err)
	}
	st, rb, err := openLogForCopy(t.Context(), "file:"+dir, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rb.Resources().ReadCheckpoint(t.Context())
	rb.Close()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	if want := fmt.Sprintf("%s\n%d\n%s", lg.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Hash)); len(lines) < 3 || strings.Join(lines[:3], "\n") != want {
		t.Fatalf("restored checkpoint\n%s\nwant it to begin\n%s", raw, want)
	}

	// Backing up again into the same prefix is refused; nothing is changed.
	if _, err := mosaicd("backup", "--storage", "file:"+lg.Dir, "--to", url); err == nil || !strings.Contains(err.Error(), "already holds a backup") {
		t.Errorf("a backup into a prefix holding one: %v", err)
	}

	// A prefix without a manifest: an incomplete backup, or none.
	empty := cfg
	empty.Prefix = "nothing"
	for _, c := range []bucket.Config{empty, withoutManifest(t, b, cfg)} {
		_, err := mosaicd("restore", "--storage", "file:"+filepath.Join(t.TempDir(), "r"), "--from", c.String())
		if err == nil || !strings.Contains(err.Error(), "incomplete or no backup at s3://"+cfg.Bucket+"/"+c.Prefix) {
			t.Errorf("a restore from %s: %v", c.String(), err)
		}
	}
}

// withoutManifest copies the backup at cfg to another prefix of its bucket,
// all but the manifest: an upload that stopped before its end.
func withoutManifest(t *testing.T, b *bucket.Bucket, cfg bucket.Config) bucket.Config {
	keys, err := b.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 3 {
		t.Fatalf("the backup holds %d objects: %q", len(keys), keys)
	}
	cfg.Prefix = "partial"
	dst, err := bucket.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k == backup.ManifestFile {
			continue
		}
		data, err := b.Get(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.Put(t.Context(), k, data, true); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// waitSize waits for lg to publish a checkpoint of at least size n.
func waitSize(t *testing.T, lg *mosaictest.Log, n uint64) *log.Checkpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		cp, _, err := lg.Log.Checkpoint(ctx)
		if err == nil && cp.Size >= n {
			return cp
		}
		if ctx.Err() != nil {
			t.Fatalf("the log did not reach size %d: %v", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
