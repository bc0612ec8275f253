package soak

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Run soaks each store in turn, each on a freshly started mosaicd, and
// returns the reports. An error means a store's soak could not run at all
// (mosaicd would not start, PostgreSQL is unreachable); the reports so far
// are returned with it.
func Run(ctx context.Context, cfg Config, sc ServerConfig, stores []string) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rep := &Report{Duration: Seconds(cfg.Duration)}
	for _, store := range stores {
		if !slices.Contains(Stores, store) {
			return rep, fmt.Errorf("unknown store %q (want one of %s)", store, strings.Join(Stores, ", "))
		}
	}
	for _, store := range stores {
		if ctx.Err() != nil {
			break
		}
		sr, err := runStore(ctx, cfg, sc, store)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", store, err)
		}
		rep.Stores = append(rep.Stores, sr)
	}
	return rep, ctx.Err()
}

// runStore starts mosaicd on a fresh store, soaks it and stops it.
func runStore(ctx context.Context, cfg Config, sc ServerConfig, store string) (*StoreReport, error) {
	progress := progressOr(sc.Progress)
	fmt.Fprintf(progress, "soak %s: starting %s on a fresh store\n", store, sc.Binary)
	srv, err := startServer(ctx, store, sc)
	if err != nil {
		return nil, err
	}
	defer srv.cleanup(sc.Keep, sc.Progress)
	fmt.Fprintf(progress, "soak %s: mosaicd pid %s at %s; load for %s\n", store, srv.pidString(), srv.url, cfg.Duration)
	sr, err := Soak(ctx, cfg, srv.target())
	exit := srv.stop()
	if err != nil {
		return nil, fmt.Errorf("%w\nmosaicd's last lines:\n%s", err, srv.logTail(20))
	}
	sr.ServerExit = exit
	if sr.ServerDied || len(sr.Failures()) > 0 {
		fmt.Fprintf(progress, "soak %s: mosaicd's last lines:\n%s\n", store, srv.logTail(20))
	}
	return sr, nil
}
