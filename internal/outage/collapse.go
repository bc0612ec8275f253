package outage

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// maxKinds bounds the kinds of record a Collapse handler remembers; past
// it, kinds not seen within the window are forgotten.
const maxKinds = 1024

// Collapse returns a handler that passes records to h, except a record of a
// kind already passed less than every ago, which it drops. The next record
// of that kind passed after the window carries the number dropped since as
// the attribute "repeats_dropped". Records are of a kind when they have the
// same level and the same message up to its first ": ", because Tessera
// (through klog) formats the error into the message: "IntegratedSize:
// <err>" is one kind whatever the error. Handlers derived with WithAttrs or
// WithGroup share the window.
func Collapse(h slog.Handler, every time.Duration) slog.Handler {
	return &collapse{h: h, every: every, st: &collapseState{kinds: map[kindKey]*kindState{}, now: time.Now}}
}

type collapse struct {
	h     slog.Handler
	every time.Duration
	st    *collapseState
}

type collapseState struct {
	now func() time.Time
	// mu guards kinds.
	mu    sync.Mutex
	kinds map[kindKey]*kindState
}

type kindKey struct {
	level slog.Level
	msg   string
}

type kindState struct {
	passed  time.Time // when a record of this kind was last passed
	dropped int64     // records dropped since
}

func (c *collapse) Enabled(ctx context.Context, l slog.Level) bool { return c.h.Enabled(ctx, l) }

func (c *collapse) Handle(ctx context.Context, r slog.Record) error {
	msg := r.Message
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[:i]
	}
	k := kindKey{r.Level, msg}
	st := c.st
	st.mu.Lock()
	now := st.now()
	ks := st.kinds[k]
	if ks != nil && now.Sub(ks.passed) < c.every {
		ks.dropped++
		st.mu.Unlock()
		return nil
	}
	if ks == nil {
		if len(st.kinds) >= maxKinds {
			st.forget(now, c.every)
		}
		ks = &kindState{}
		st.kinds[k] = ks
	}
	dropped := ks.dropped
	ks.passed, ks.dropped = now, 0
	st.mu.Unlock()
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int64("repeats_dropped", dropped))
	}
	return c.h.Handle(ctx, r)
}

// forget drops the kinds not passed within every; the caller holds mu.
// Their dropped counts are lost, which only happens past maxKinds kinds.
func (st *collapseState) forget(now time.Time, every time.Duration) {
	for k, ks := range st.kinds {
		if now.Sub(ks.passed) >= every {
			delete(st.kinds, k)
		}
	}
}

func (c *collapse) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &collapse{h: c.h.WithAttrs(attrs), every: c.every, st: c.st}
}

func (c *collapse) WithGroup(name string) slog.Handler {
	return &collapse{h: c.h.WithGroup(name), every: c.every, st: c.st}
}
