// Package outage keeps a failing dependency from flooding the log.
//
// When a database goes away under load, every request and every background
// retry fails for the same reason; logging each one buries the reason in
// thousands of identical lines (and megabytes of disk) while saying nothing
// new. A Tracker instead logs an operation's first failure, with the reason,
// and its first success afterwards, with how long it failed and how many
// failures there were; the caller counts every failure in its metrics.
// Collapse does the same, less precisely, for code Mosaic does not own:
// Tessera logs through klog, one line per failed poll.
package outage

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQuiet is the least time between two logged outage starts of one
// Tracker, and the window in which Collapse drops repeats.
const DefaultQuiet = time.Minute

// Tracker follows one operation's failures and successes and logs the
// start and the end of each outage: a run of failures with no success
// between them. An operation that flaps (fails, works, fails) logs at most
// one outage start per quiet period; the outages in between are logged
// with the next start that is. Safe for concurrent use.
type Tracker struct {
	logger *slog.Logger
	what   string
	quiet  time.Duration
	now    func() time.Time

	// failing mirrors out.failing, so that OK costs one atomic load while
	// the operation works.
	failing atomic.Bool

	// mu guards out and the fields below it.
	mu  sync.Mutex
	out outageState
	// lastLogged is when an outage start was last logged.
	lastLogged time.Time
	// unlogged counts the outages (and their failures) since lastLogged
	// whose start was not logged because it came within the quiet period.
	unlogged, unloggedFailures int64
}

// outageState is the current outage, if failing.
type outageState struct {
	failing  bool
	logged   bool // its start was logged, so its end will be
	since    time.Time
	failures int64
	lastErr  error
}

// NewTracker returns a tracker that logs to logger as what, a phrase naming
// the operation ("adding entries", "PostgreSQL background work").
func NewTracker(logger *slog.Logger, what string) *Tracker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Tracker{logger: logger, what: what, quiet: DefaultQuiet, now: time.Now}
}

// Fail records a failure of the operation, for the reason err. The first
// failure of an outage is logged at level Error; the others are not.
func (t *Tracker) Fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	o := &t.out
	if o.failing {
		o.failures++
		o.lastErr = err
		return
	}
	*o = outageState{failing: true, since: now, failures: 1, lastErr: err}
	t.failing.Store(true)
	if !t.lastLogged.IsZero() && now.Sub(t.lastLogged) < t.quiet {
		return
	}
	o.logged, t.lastLogged = true, now
	attrs := []any{"err", err}
	if t.unlogged > 0 {
		attrs = append(attrs, "unlogged_outages", t.unlogged, "unlogged_failures", t.unloggedFailures)
		t.unlogged, t.unloggedFailures = 0, 0
	}
	t.logger.Log(context.Background(), slog.LevelError,
		t.what+" is failing; further failures are counted in metrics, not logged, until it works again", attrs...)
}

// OK records a success of the operation. The first success after a logged
// outage start logs the outage's end at level Warn, with how long it lasted
// and how many failures it saw.
func (t *Tracker) OK() {
	if !t.failing.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.out
	if !o.failing {
		return
	}
	t.out = outageState{}
	t.failing.Store(false)
	if !o.logged {
		t.unlogged++
		t.unloggedFailures += o.failures
		return
	}
	t.logger.Log(context.Background(), slog.LevelWarn, t.what+" works again",
		"failed_for", t.now().Sub(o.since).Round(time.Millisecond), "failures", o.failures, "last_err", o.lastErr)
}

// Failing reports whether the latest outcome recorded was a failure.
func (t *Tracker) Failing() bool { return t.failing.Load() }
