// Package monitor follows a transparency log as an outside party would:
// it reads only what the log serves over HTTP (tlog-tiles), checks that
// every checkpoint is signed and consistent with the ones before it, reads
// every new entry, and reports the entries a watch list names.
//
// # What is checked
//
// Each new checkpoint must verify with the configured key. A checkpoint of
// the same size as the last verified one must have the same root (else:
// fork alarm). A larger one must be consistent with it: the consistency
// proof is built from the log's tiles (Tessera's client.ProofBuilder) and
// verified (transparency-dev/merkle proof); if it does not verify, that is
// an inconsistency alarm. A smaller one is a *RollbackError (a stale view
// is not proof of misbehaviour) unless it is inconsistent too (alarm). The
// entries read are hashed into a compact range kept in the state (a full
// bundle of the main log whose identity tile rules out every watched
// identity is not read: its node hash from the level-1 tile goes in
// instead, see identities.go; Config.FullScan reads them all), and when
// the scan reaches the checkpoint's size its root must equal the signed
// root (else: entries alarm). An alarm writes an "alarm" JSON line and
// evidence files, and Run returns *AlarmError.
//
// Before that, when configured: the checkpoint must carry the cosignatures
// of the witness policy's quorum (else: witnesses alarm), and it must agree
// with the verifier memory mosaic verify keeps (pkg/verify Remember: same
// size, same root; otherwise consistent), which then remembers it (else:
// split-view alarm, with evidence mosaic verify-evidence re-checks).
//
// The first run trusts the log's current checkpoint (trust on first use)
// and scans from Config.Start.
//
// # Reporting and durability
//
// Matches are written as JSON lines to Config.Output and, if configured,
// POSTed to the webhook. The state file (saved atomically) records how far
// the scan got; it advances past an entry only after all of that entry's
// matches were reported, so a restart does not report them again. Delivery
// is therefore exactly once per match unless the process dies between
// reporting and saving (then at least once). When the webhook refuses a
// match after every attempt, the state stops before that entry and Run
// returns *WebhookError; the next run (or the next poll) reports the match
// again, on the output too.
//
// # Logs followed
//
// The main log's leaves are Rekor v2 entries, described by
// internal/entry.Describe. Mosaic's certificate log (leaves are the CA's
// precertificates, DER) can be followed too: its SANs, issuer and key
// fingerprint are matched the same way; digest rules never match it.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	sumdbnote "golang.org/x/mod/sumdb/note"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

// LogConfig names one log to follow.
type LogConfig struct {
	// URL is the log's tlog-tiles prefix (client.TilesURL or
	// client.CertLogTilesURL of a Mosaic server's base URL).
	URL string
	// Origin is the checkpoint origin (default: Verifier.Name()).
	Origin string
	// Verifier checks checkpoint signatures.
	Verifier sumdbnote.Verifier
	// Witnesses, if set, is the witness policy (verify.ParseWitnessPolicy)
	// whose quorum must have cosigned every checkpoint: one without it is
	// an AlarmWitnesses alarm naming the missing witnesses.
	Witnesses *verify.WitnessPolicy
	// Log names the log to Config.Memory (origin and log ID, as in a
	// trusted root) and holds the key remembered checkpoints are checked
	// with; required with Memory. Its Origin must be the log's origin.
	Log *verify.TransparencyLog
}

// Config is a monitor's configuration.
type Config struct {
	// Log is the main log (Rekor v2 entries).
	Log LogConfig
	// CertLog, if set, is the certificate log (precertificates).
	CertLog *LogConfig
	// StatePath is the state file (created on the first run).
	StatePath string
	// EvidenceDir receives alarm evidence (default: "evidence" beside
	// the state file).
	EvidenceDir string
	// Watch selects the entries to report; nil reports none (the monitor
	// then only checks consistency and the entries' hashes).
	Watch *WatchList
	// Start is the first entry to scan on the first run (later runs go
	// on from the state).
	Start uint64
	// Interval is the polling interval; zero runs one pass and returns.
	Interval time.Duration
	// Webhook, if set, receives each match and alarm as a JSON POST.
	Webhook string
	// WebhookAttempts (default 4) and WebhookBackoff (default 1s, doubling)
	// bound webhook retries.
	WebhookAttempts int
	WebhookBackoff  time.Duration
	// FullScan reads every entry bundle of the main log. Without it, the
	// scan reads a full bundle only when its identity tile (when the log
	// serves one) has a record the watch list may match (identities.go).
	FullScan bool
	// Parallelism bounds concurrent entry-bundle downloads (default 8).
	Parallelism int
	// Output receives the JSON lines (matches, alarms); required.
	Output io.Writer
	// Progress receives human-readable progress and warnings (nil: none).
	Progress io.Writer
	// HTTPClient sends every request: reads of the logs and webhook posts
	// (default: a new http.Client).
	HTTPClient *http.Client
	// Client tunes reading the logs (timeouts, retries).
	Client []client.Option
	// Memory, if set, is the verifier memory (the one mosaic verify
	// keeps): every checkpoint the monitor verifies goes through
	// verify.Remember before the monitor's own checks, with consistency
	// proofs built from the log's tiles. A contradiction is an
	// AlarmSplitView alarm; the remembered checkpoint is kept.
	Memory verify.CheckpointMemory
}

// Run monitors the configured logs: one pass when Interval is zero, else
// until ctx ends (then it returns nil). It returns an *AlarmError as soon
// as a log is caught misbehaving. In continuous mode, network and webhook
// failures are reported on Progress and retried at the next poll; an
// alarm, a checkpoint whose signature does not verify
// (*note.CheckpointError), an unusable state file (*StateError) and an
// unusable verifier memory (a *verify.Error with Check
// verify.CheckCheckpointMemory) end the run.
func Run(ctx context.Context, cfg Config) error {
	m, err := newMonitor(cfg)
	if err != nil {
		return err
	}
	for {
		err := m.pass(ctx)
		if cfg.Interval == 0 || fatal(err) {
			return err
		}
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(m.progress, "monitor: %v (retrying in %s)\n", err, cfg.Interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.Interval):
		}
	}
}

func fatal(err error) bool {
	var a *AlarmError
	var c *note.CheckpointError
	var s *StateError
	return errors.As(err, &a) || errors.As(err, &c) || errors.As(err, &s) || memoryFailed(err)
}

// monitor is one Run. Its fields are owned by the goroutine calling Run.
type monitor struct {
	cfg       Config
	state     *State
	followers []*follower
	report    *reporter
	progress  io.Writer
}

func newMonitor(cfg Config) (*monitor, error) {
	if cfg.StatePath == "" {
		return nil, errors.New("monitor: no state file configured")
	}
	if cfg.Output == nil {
		return nil, errors.New("monitor: no output configured")
	}
	if cfg.EvidenceDir == "" {
		cfg.EvidenceDir = filepath.Join(filepath.Dir(cfg.StatePath), "evidence")
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 8
	}
	if cfg.WebhookAttempts <= 0 {
		cfg.WebhookAttempts = 4
	}
	if cfg.WebhookBackoff <= 0 {
		cfg.WebhookBackoff = time.Second
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	st, err := LoadState(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	m := &monitor{cfg: cfg, state: st, progress: progress,
		report: &reporter{out: cfg.Output, progress: progress, webhook: cfg.Webhook,
			attempts: cfg.WebhookAttempts, backoff: cfg.WebhookBackoff, client: cfg.HTTPClient}}
	if err := m.addFollower("log", cfg.Log, describeEntry); err != nil {
		return nil, err
	}
	if cfg.CertLog != nil {
		if err := m.addFollower("certlog", *cfg.CertLog, describePrecertificate); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *monitor) addFollower(name string, lc LogConfig, describe func([]byte) (*entry.Facts, error)) error {
	if lc.Verifier == nil {
		return fmt.Errorf("monitor: no verifier configured for the %s", name)
	}
	if lc.Origin == "" {
		lc.Origin = lc.Verifier.Name()
	}
	switch {
	case m.cfg.Memory != nil && lc.Log == nil:
		return fmt.Errorf("monitor: the verifier memory needs the %s's key (LogConfig.Log)", name)
	case lc.Log != nil && lc.Log.Origin != lc.Origin:
		return fmt.Errorf("monitor: the %s's origin is %q, but LogConfig.Log names %q", name, lc.Origin, lc.Log.Origin)
	}
	opts := append([]client.Option{client.WithHTTPClient(m.cfg.HTTPClient)}, m.cfg.Client...)
	c, err := client.New(lc.URL, append(opts, client.WithTilesURL(lc.URL))...)
	if err != nil {
		return fmt.Errorf("monitor: the %s: %w", name, err)
	}
	f := &follower{m: m, name: name, url: lc.URL, origin: lc.Origin, verifier: lc.Verifier, c: c, describe: describe,
		witnesses: lc.Witnesses, log: lc.Log, idTiles: name == "log" && !m.cfg.FullScan}
	if ls := m.state.Logs[name]; ls != nil {
		if _, err := ls.check(m.cfg.StatePath, name, lc.Origin, lc.Verifier); err != nil {
			return err
		}
	}
	m.followers = append(m.followers, f)
	return nil
}

// pass brings every followed log up to date once.
func (m *monitor) pass(ctx context.Context) error {
	var errs []error
	for _, f := range m.followers {
		err := f.step(ctx)
		if fatal(err) {
			return err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	return errors.Join(errs...)
}

// save writes the state file.
func (m *monitor) save() error {
	if err := m.state.Save(m.cfg.StatePath); err != nil {
		return &StateError{m.cfg.StatePath, err}
	}
	return nil
}
