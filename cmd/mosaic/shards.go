package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/mosaiclog/mosaic/internal/monitor"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"golang.org/x/sync/errgroup"
)

// monitorShards runs the monitor of cfg (the log at url) and, when the
// trusted root at rootPath lists further logs (a deployment's other
// shards, frozen or not), a monitor of each, at its own base URL, with its
// own state file (STATE.<shard>): a frozen shard is followed to its final
// checkpoint. Their JSON lines go to cfg.Output, whole.
func monitorShards(ctx context.Context, cfg monitor.Config, rootPath, url string) error {
	cfgs := []monitor.Config{cfg}
	if rootPath != "" {
		tr, err := readTrustedRoot(rootPath)
		if err != nil {
			return err
		}
		for _, l := range tr.Tlogs {
			if strings.TrimSuffix(l.BaseURL, "/") == strings.TrimSuffix(url, "/") || len(tr.Tlogs) == 1 {
				continue
			}
			v, err := note.NewVerifier(l.Origin, l.PublicKey)
			if err != nil {
				return fmt.Errorf("the trusted root's log at %s: %w", l.BaseURL, err)
			}
			c := cfg
			c.CertLog = nil // the deployment's, followed once
			c.Log = monitor.LogConfig{URL: client.TilesURL(l.BaseURL), Origin: l.Origin, Verifier: v, Witnesses: cfg.Log.Witnesses}
			if cfg.Memory != nil {
				c.Log.Log = l
			}
			c.StatePath = cfg.StatePath + "." + shardSuffix(l.BaseURL, l.LogID)
			cfgs = append(cfgs, c)
		}
	}
	if len(cfgs) == 1 {
		return monitor.Run(ctx, cfg)
	}
	out := &lockedWriter{w: cfg.Output}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cfgs {
		c.Output = out
		g.Go(func() error { return monitor.Run(gctx, c) })
	}
	return g.Wait()
}

// shardSuffix names a shard's state file: the last element of its
// /shards/<name> URL, else its log ID's first bytes.
func shardSuffix(baseURL string, logID []byte) string {
	if dir, name := path.Split(strings.TrimSuffix(baseURL, "/")); strings.HasSuffix(dir, "/shards/") && name != "" {
		return name
	}
	return hex.EncodeToString(logID[:min(len(logID), 6)])
}

// lockedWriter writes each Write whole, for several monitors' lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
