package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/mosaiclog/mosaic/internal/server"
	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
)

// shardFlag is --shard, shared by serve and freeze.
func shardFlag(fs *flag.FlagSet, p *string, usage string) {
	fs.StringVar(p, "shard", storage.DefaultLogID, usage)
}

// checkShard refuses a shard name the server cannot have, as a usage error.
func checkShard(name string) error {
	if err := server.CheckShardName(name); err != nil {
		return usageError{fmt.Errorf("--shard: %w", err)}
	}
	return nil
}

// defaultKeyPath is where a file store keeps a shard's key when no
// --signing-key is given: inside the shard's directory.
func defaultKeyPath(dir, shard string) string {
	if shard != storage.DefaultLogID {
		dir = filepath.Join(dir, shard)
	}
	return filepath.Join(dir, ".mosaic", "signing-key.pem")
}

// freeze freezes a shard: publishes its final checkpoint and makes it
// read-only, whether or not a server serves it.
func freeze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("freeze", stderr)
	var spec, shard, keyPath, successor string
	var timeout time.Duration
	var autoMigrate bool
	storageFlag(fs, &spec)
	shardFlag(fs, &shard, "the shard to freeze")
	fs.StringVar(&keyPath, "signing-key", "", "the shard's checkpoint signing key, to publish its final checkpoint "+
		"(default with file: storage: the shard's .mosaic/signing-key.pem)")
	fs.StringVar(&successor, "successor", "", "where new entries go instead (a URL, a shard), named in every refusal of a write")
	fs.DurationVar(&timeout, "timeout", 2*time.Minute, "longest to wait for the final checkpoint")
	fs.BoolVar(&autoMigrate, "auto-migrate", true, "apply pending PostgreSQL schema migrations first")
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	if err := checkShard(shard); err != nil {
		return err
	}
	if err := checkRanges(durationIn("timeout", timeout, time.Second, time.Hour)); err != nil {
		return err
	}
	if err := storage.Check(spec, false); err != nil {
		return err
	}
	if keyPath == "" {
		dir, ok := storage.FileDir(spec)
		if !ok {
			return usageError{errors.New("--signing-key is required with this storage: the shard's key")}
		}
		keyPath = defaultKeyPath(dir, shard)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := server.Freeze(ctx, server.FreezeConfig{
		Storage: spec, AutoMigrate: autoMigrate, Shard: shard, Key: key, Successor: successor,
		Log: tlog.Config{
			BatchMaxSize: 1, BatchMaxAge: 10 * time.Millisecond, CheckpointInterval: 100 * time.Millisecond,
			CheckpointRepublishInterval: time.Minute, AwaitPoll: 10 * time.Millisecond, PushbackMaxOutstanding: 1,
		},
	})
	if err != nil {
		return err
	}
	f := res.Frozen
	how := "froze"
	switch {
	case res.Already:
		how = "was already frozen:"
	case res.ByServer:
		how = "froze (by the server writing it)"
	}
	fmt.Fprintf(stdout, "%s shard %s of %s at size %d (%s); it takes no new entries\n",
		how, shard, res.Origin, f.Size, f.At.UTC().Format(time.RFC3339))
	if f.Successor != "" {
		fmt.Fprintf(stdout, "writes are referred to %s\n", f.Successor)
	}
	fmt.Fprintf(stdout, "final checkpoint:\n%s", f.Checkpoint)
	return nil
}
