package tlog

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/sync/singleflight"
)

// latestCheckpoint is the newest published checkpoint this process has read
// from storage and verified, shared by every request that needs one
// (GET /checkpoint, proofs, entries, the awaiter), so that a read does not
// cost a storage read (a query, with PostgreSQL) and a signature check.
//
// What it serves is never older than maxAge: a request finding an older
// copy reads storage again, and concurrent ones share that read. The
// awaiter's poll (while adds wait) refreshes it too, so an add is never
// answered with a checkpoint the readers of this process do not see yet.
// It never goes backwards: a read that finds a smaller tree than the one
// held (which a store must never show) keeps the one held, so the log
// never serves behind what it has served.
type latestCheckpoint struct {
	read   func(context.Context) ([]byte, error)
	verify func(raw []byte) (*log.Checkpoint, error)
	maxAge time.Duration

	// snap is the checkpoint held, nil before the first successful read;
	// a snapshot is never modified once stored.
	snap atomic.Pointer[cpSnapshot]
	// reads makes callers that find the copy stale share one storage
	// read instead of starting their own.
	reads singleflight.Group
}

// cpSnapshot is one verified checkpoint and when storage was read for it.
type cpSnapshot struct {
	raw    []byte
	cp     log.Checkpoint
	readAt time.Time
}

func newLatestCheckpoint(maxAge time.Duration, read func(context.Context) ([]byte, error), verify func([]byte) (*log.Checkpoint, error)) *latestCheckpoint {
	return &latestCheckpoint{read: read, verify: verify, maxAge: maxAge}
}

// get returns the checkpoint held if storage was read for it less than
// maxAge ago, and otherwise reads storage again.
func (c *latestCheckpoint) get(ctx context.Context) (*cpSnapshot, error) {
	if s := c.snap.Load(); s != nil && time.Since(s.readAt) < c.maxAge {
		return s, nil
	}
	return c.refresh(ctx)
}

// refresh reads storage now (or waits for a read that is already in
// progress) and returns the newest checkpoint known afterwards.
func (c *latestCheckpoint) refresh(ctx context.Context) (*cpSnapshot, error) {
	res := c.reads.DoChan("", func() (any, error) {
		// One caller leaving must not fail the others waiting for this
		// read: the store bounds its reads itself.
		return c.readStorage(context.WithoutCancel(ctx))
	})
	select {
	case r := <-res:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*cpSnapshot), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readStorage reads and verifies the stored checkpoint and makes it the one
// held unless that is of a larger tree. Only one runs at a time.
func (c *latestCheckpoint) readStorage(ctx context.Context) (*cpSnapshot, error) {
	now := time.Now()
	raw, err := c.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint: %w", err)
	}
	old := c.snap.Load()
	next := &cpSnapshot{readAt: now}
	switch {
	case old != nil && bytes.Equal(raw, old.raw):
		next.raw, next.cp = old.raw, old.cp
	default:
		cp, err := c.verify(raw)
		if err != nil {
			return nil, err
		}
		if old != nil && cp.Size < old.cp.Size {
			// Never serve behind what was served.
			next.raw, next.cp = old.raw, old.cp
			break
		}
		next.raw, next.cp = raw, *cp
	}
	c.snap.Store(next)
	return next, nil
}

// held returns the parsed checkpoint held if it is raw, byte for byte.
func (c *latestCheckpoint) held(raw []byte) (*log.Checkpoint, bool) {
	s := c.snap.Load()
	if s == nil || !bytes.Equal(raw, s.raw) {
		return nil, false
	}
	cp := s.cp
	return &cp, true
}
