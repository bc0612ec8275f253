package tlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
)

// fakeStoredCheckpoint is a store's checkpoint as "size" text, read with a
// count of reads, a gate each read waits at, and an error to return.
type fakeStoredCheckpoint struct {
	mu    sync.Mutex
	raw   string
	err   error
	reads atomic.Int64
	gate  chan struct{} // nil: reads do not wait
}

func (f *fakeStoredCheckpoint) set(raw string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raw, f.err = raw, err
}

func (f *fakeStoredCheckpoint) read(ctx context.Context) ([]byte, error) {
	f.reads.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return []byte(f.raw), f.err
}

func fakeVerify(raw []byte) (*log.Checkpoint, error) {
	size, rest, _ := strings.Cut(string(raw), " ")
	n, err := strconv.ParseUint(size, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("bad checkpoint %q", raw)
	}
	return &log.Checkpoint{Size: n, Hash: []byte(rest)}, nil
}

func TestLatestCheckpointServedFromMemory(t *testing.T) {
	ctx := t.Context()
	f := &fakeStoredCheckpoint{raw: "5 a"}
	c := newLatestCheckpoint(time.Hour, f.read, fakeVerify)
	for range 10 {
		s, err := c.get(ctx)
		if err != nil || s.cp.Size != 5 || string(s.raw) != "5 a" {
			t.Fatalf("get = %v, %v; want size 5", s, err)
		}
	}
	if n := f.reads.Load(); n != 1 {
		t.Errorf("%d storage reads for 10 gets within maxAge, want 1", n)
	}
	f.set("6 b", nil)
	if s, _ := c.get(ctx); s.cp.Size != 5 {
		t.Errorf("get within maxAge = size %d, want the held 5", s.cp.Size)
	}
	// The awaiter's refresh reads storage whatever the age.
	if s, err := c.refresh(ctx); err != nil || s.cp.Size != 6 {
		t.Fatalf("refresh = %v, %v; want size 6", s, err)
	}
	if s, _ := c.get(ctx); s.cp.Size != 6 {
		t.Errorf("get after refresh = size %d, want 6", s.cp.Size)
	}
	if cp, ok := c.held([]byte("6 b")); !ok || cp.Size != 6 {
		t.Errorf("held(6 b) = %v, %v; want size 6", cp, ok)
	}
	if _, ok := c.held([]byte("5 a")); ok {
		t.Error("held(5 a) found a checkpoint that is no longer held")
	}
}

func TestLatestCheckpointExpires(t *testing.T) {
	ctx := t.Context()
	f := &fakeStoredCheckpoint{raw: "5 a"}
	c := newLatestCheckpoint(time.Millisecond, f.read, fakeVerify)
	if _, err := c.get(ctx); err != nil {
		t.Fatal(err)
	}
	f.set("7 c", nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := c.get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.cp.Size == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still size %d 10 s after storage moved to 7 (maxAge 1ms)", s.cp.Size)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLatestCheckpointNeverBackwards(t *testing.T) {
	ctx := t.Context()
	f := &fakeStoredCheckpoint{raw: "9 z"}
	c := newLatestCheckpoint(0, f.read, fakeVerify)
	if s, err := c.refresh(ctx); err != nil || s.cp.Size != 9 {
		t.Fatalf("refresh = %v, %v", s, err)
	}
	f.set("8 y", nil)
	s, err := c.refresh(ctx)
	if err != nil || s.cp.Size != 9 || string(s.raw) != "9 z" {
		t.Fatalf("refresh after storage went back to 8 = %v, %v; want the held 9", s, err)
	}
	// The same size signed again (a republication) is taken.
	f.set("9 z2", nil)
	if s, err := c.refresh(ctx); err != nil || string(s.raw) != "9 z2" {
		t.Fatalf("refresh of a republished 9 = %v, %v; want it", s, err)
	}
}

func TestLatestCheckpointErrors(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		raw  string
		err  error
	}{
		{"read fails", "", errors.New("disk on fire")},
		{"does not verify", "not a checkpoint", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStoredCheckpoint{raw: "3 a"}
			c := newLatestCheckpoint(0, f.read, fakeVerify)
			if _, err := c.get(ctx); err != nil {
				t.Fatal(err)
			}
			f.set(tc.raw, tc.err)
			if s, err := c.get(ctx); err == nil {
				t.Fatalf("get = size %d, want an error", s.cp.Size)
			}
			// A failed read keeps what was verified.
			f.set("4 b", nil)
			if s, err := c.get(ctx); err != nil || s.cp.Size != 4 {
				t.Fatalf("get after recovery = %v, %v; want size 4", s, err)
			}
		})
	}
}

func TestLatestCheckpointSharesOneRead(t *testing.T) {
	ctx := t.Context()
	f := &fakeStoredCheckpoint{raw: "5 a", gate: make(chan struct{})}
	c := newLatestCheckpoint(time.Hour, f.read, fakeVerify)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			s, err := c.get(ctx)
			if err == nil && s.cp.Size != 5 {
				err = fmt.Errorf("size %d, want 5", s.cp.Size)
			}
			errs <- err
		})
	}
	// Wait until the first read is in progress and the others could
	// have joined it, then let it finish.
	for f.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(f.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := f.reads.Load(); got != 1 {
		t.Errorf("%d storage reads for %d concurrent first gets, want 1", got, n)
	}
}

func TestLatestCheckpointWaiterLeaves(t *testing.T) {
	f := &fakeStoredCheckpoint{raw: "5 a", gate: make(chan struct{})}
	c := newLatestCheckpoint(time.Hour, f.read, fakeVerify)
	first := make(chan error, 1)
	go func() { _, err := c.get(context.Background()); first <- err }()
	for f.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.get(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("get with an ended context while a read is in progress = %v, want context.Canceled", err)
	}
	close(f.gate)
	if err := <-first; err != nil {
		t.Errorf("the reading caller failed: %v", err)
	}
}
