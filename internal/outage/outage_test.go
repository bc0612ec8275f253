package outage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// recorder keeps every record handled, with its attributes flattened.
type recorder struct {
	mu      sync.Mutex
	records []rec
	attrs   []slog.Attr
}

type rec struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, record slog.Record) error {
	out := rec{level: record.Level, msg: record.Message, attrs: map[string]any{}}
	for _, a := range r.attrs {
		out.attrs[a.Key] = a.Value.Any()
	}
	record.Attrs(func(a slog.Attr) bool { out.attrs[a.Key] = a.Value.Any(); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, out)
	return nil
}

func (r *recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorderView{r: r, attrs: attrs}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) all() []rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rec(nil), r.records...)
}

// recorderView is a recorder with attributes added by WithAttrs.
type recorderView struct {
	r     *recorder
	attrs []slog.Attr
}

func (v *recorderView) Enabled(context.Context, slog.Level) bool { return true }
func (v *recorderView) Handle(ctx context.Context, record slog.Record) error {
	record = record.Clone()
	record.AddAttrs(v.attrs...)
	return v.r.Handle(ctx, record)
}
func (v *recorderView) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorderView{r: v.r, attrs: append(append([]slog.Attr(nil), v.attrs...), attrs...)}
}
func (v *recorderView) WithGroup(string) slog.Handler { return v }

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)} }
func trackerAt(h slog.Handler, c *clock) *Tracker {
	t := NewTracker(slog.New(h), "adding entries")
	t.now = c.now
	return t
}

// An outage of thousands of failures logs two lines: its start with the
// reason, and its end with how long it lasted and how many failures it saw.
func TestTrackerLogsOutageOnce(t *testing.T) {
	h, c := &recorder{}, newClock()
	tr := trackerAt(h, c)
	tr.OK() // working: nothing to say
	refused := errors.New("connection refused")
	for i := range 5000 {
		if i == 4999 {
			tr.Fail(errors.New("unexpected EOF"))
		} else {
			tr.Fail(refused)
		}
		c.advance(2 * time.Millisecond)
	}
	if !tr.Failing() {
		t.Error("Failing() = false during the outage")
	}
	tr.OK()
	tr.OK()
	got := h.all()
	if len(got) != 2 {
		t.Fatalf("%d records, want 2: %+v", len(got), got)
	}
	if got[0].level != slog.LevelError || got[0].attrs["err"] != refused {
		t.Errorf("start %+v: want level ERROR with the first failure's reason", got[0])
	}
	if got[1].level != slog.LevelWarn || got[1].attrs["failures"] != int64(5000) ||
		got[1].attrs["failed_for"] != 10*time.Second || fmt.Sprint(got[1].attrs["last_err"]) != "unexpected EOF" {
		t.Errorf("end %+v: want WARN, 5000 failures, failed_for 10s, the last reason", got[1])
	}
	if tr.Failing() {
		t.Error("Failing() = true after recovery")
	}
}

// An operation that flaps logs one outage start per quiet period; the
// outages in between are summed into the next start that is logged.
func TestTrackerFlapping(t *testing.T) {
	h, c := &recorder{}, newClock()
	tr := trackerAt(h, c)
	for range 100 { // half the attempts fail, for 10 s
		tr.Fail(errors.New("flaky"))
		c.advance(50 * time.Millisecond)
		tr.OK()
		c.advance(50 * time.Millisecond)
	}
	if got := h.all(); len(got) != 2 {
		t.Fatalf("%d records within the quiet period, want 2 (the first outage's start and end): %+v", len(got), got)
	}
	c.advance(DefaultQuiet)
	tr.Fail(errors.New("flaky again"))
	got := h.all()
	if len(got) != 3 || got[2].attrs["unlogged_outages"] != int64(99) || got[2].attrs["unlogged_failures"] != int64(99) {
		t.Fatalf("records %+v: want a third, a start naming the 99 unlogged outages", got)
	}
}

// Collapse passes the first record of a kind, drops its repeats within the
// window whatever their error text, and reports how many it dropped on the
// first record it passes after the window.
func TestCollapse(t *testing.T) {
	h, c := &recorder{}, newClock()
	ch := Collapse(h, time.Minute)
	ch.(*collapse).st.now = c.now
	tessera := slog.New(ch).With("component", "tessera")
	other := slog.New(ch)
	for i := range 600 { // Tessera's IntegratedSize poll, every 100 ms
		tessera.Error(fmt.Sprintf("IntegratedSize: reading integrated size: dial tcp 127.0.0.1:%d: connection refused", 5432+i%2))
		if i%100 == 0 {
			other.Error("NextIndex: connection refused")     // another kind
			other.Warn("IntegratedSize: connection refused") // another level
		}
		c.advance(100 * time.Millisecond)
	}
	got := h.all()
	if len(got) != 3 {
		t.Fatalf("%d records in the first minute, want one of each kind: %+v", len(got), got)
	}
	if got[0].attrs["component"] != "tessera" {
		t.Errorf("first record %+v lost its attributes", got[0])
	}
	tessera.Error("IntegratedSize: context canceled")
	got = h.all()
	if len(got) != 4 || got[3].attrs["repeats_dropped"] != int64(599) {
		t.Fatalf("record after the window %+v: want repeats_dropped 599", got[len(got)-1])
	}
}

// Past maxKinds kinds, the kinds not seen within the window are forgotten,
// so memory stays bounded whatever the messages.
func TestCollapseBounded(t *testing.T) {
	h, c := &recorder{}, newClock()
	ch := Collapse(h, time.Second)
	st := ch.(*collapse).st
	st.now = c.now
	l := slog.New(ch)
	for i := range 10 * maxKinds {
		l.Info(fmt.Sprintf("kind %d", i))
		c.advance(10 * time.Millisecond)
	}
	if n := len(st.kinds); n > maxKinds {
		t.Errorf("%d kinds remembered, want at most %d", n, maxKinds)
	}
	if n := len(h.all()); n != 10*maxKinds {
		t.Errorf("%d records passed, want all %d (each its own kind)", n, 10*maxKinds)
	}
}
