package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/storage"
)

func TestReady(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.OpenPosix(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.Ready(t.Context(), b, time.Minute); err == nil || !strings.Contains(err.Error(), "no checkpoint published") {
		t.Errorf("before any checkpoint: %v", err)
	}
	cp := filepath.Join(dir, "checkpoint")
	if err := os.WriteFile(cp, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := storage.Ready(t.Context(), b, time.Minute); err != nil {
		t.Errorf("fresh checkpoint: %v", err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(cp, old, old)
	if err := storage.Ready(t.Context(), b, time.Minute); err == nil || !strings.Contains(err.Error(), "not being published") {
		t.Errorf("stale checkpoint: %v", err)
	}
	os.RemoveAll(dir)
	if err := storage.Ready(t.Context(), b, time.Minute); err == nil || !strings.Contains(err.Error(), "storage unavailable") {
		t.Errorf("store gone: %v", err)
	}
}

func TestBindIdentity(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.OpenPosix(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	id := storage.Identity{Origin: "log.example.com", PublicKey: []byte("key one")}
	for range 2 {
		if err := storage.BindIdentity(t.Context(), b, dir, id); err != nil {
			t.Fatalf("binding the same identity: %v", err)
		}
	}
	for _, other := range []storage.Identity{
		{Origin: "other.example.com", PublicKey: id.PublicKey},
		{Origin: id.Origin, PublicKey: []byte("key two")},
	} {
		err := storage.BindIdentity(t.Context(), b, dir, other)
		if !errors.Is(err, storage.ErrIdentityMismatch) {
			t.Errorf("binding %+v: %v, want ErrIdentityMismatch", other, err)
		}
	}
}

func TestOpen(t *testing.T) {
	for _, bad := range []string{"", "s3://bucket/log", "mysql://x"} {
		if _, err := storage.Open(t.Context(), bad, storage.Options{}); err == nil {
			t.Errorf("Open(%q) accepted", bad)
		}
	}
	b, err := storage.Open(t.Context(), "file:"+t.TempDir(), storage.Options{})
	if err != nil || b.Kind() != "posix" {
		t.Fatalf("file: storage: %v", err)
	}
}
