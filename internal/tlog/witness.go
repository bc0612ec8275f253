package tlog

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera"
)

// Witnessing: before a checkpoint is published, Tessera's checkpoint
// publisher sends it to the policy's witnesses (C2SP tlog-witness
// add-checkpoint, with a consistency proof from the size each witness last
// cosigned; a witness answering 409 with its own size is asked again with a
// proof from that size) and adds their cosignatures (C2SP
// tlog-cosignature) to the note it publishes, so the checkpoint that adds
// are proven against is the cosigned one. This file watches that work from
// outside Tessera: the requests through the HTTP client it hands the store
// (per-witness latency, outcomes, last cosigned size), and the published
// checkpoint (does it carry the quorum?).
//
// When the quorum does not answer within the timeout, the checkpoint is
// published without it (fail-open, the default) and the server says so in
// its metrics and /readyz, or, failing closed, it is not published: adds
// then wait and time out (their entries stay durably sequenced) until the
// quorum answers again.

// DefaultWitnessTimeout is how long publication waits for a witness quorum
// unless told otherwise.
const DefaultWitnessTimeout = 2 * time.Second

// WitnessConfig says how a log's checkpoints are witnessed.
type WitnessConfig struct {
	Policy *WitnessPolicy
	// Timeout bounds the wait for the quorum before each publication
	// (zero: DefaultWitnessTimeout).
	Timeout time.Duration
	// FailClosed holds back a checkpoint that lacks the quorum, instead of
	// publishing it without.
	FailClosed bool
	Logger     *slog.Logger
	// Metrics are the collectors; nil: unregistered ones for log "main".
	Metrics *WitnessMetrics
}

// Witnesses has a log's checkpoints witnessed (see Config.Witnesses) and
// keeps track of how that goes. Its methods are safe for concurrent use.
type Witnesses struct {
	cfg     WitnessConfig // immutable after NewWitnesses
	metrics *WitnessMetrics
	client  *http.Client
	// byURL holds one state per witness, by add-checkpoint URL; the map is
	// immutable after NewWitnesses, the states are guarded by mu.
	byURL map[string]*witnessState

	mu sync.Mutex
	// unreachableSince is when the witnesses answering stopped being
	// enough for the quorum (zero while they are).
	unreachableSince time.Time
	// lastCP is the latest published checkpoint looked at by observe;
	// lacking lists the witnesses whose cosignature it lacks, and
	// lackingSince is when published checkpoints started lacking the
	// quorum (zero while they have it).
	lastCP       []byte
	lastSize     uint64
	quorumMet    bool
	lacking      []string
	lackingSince time.Time
}

// witnessState is what one witness's last answers say.
type witnessState struct {
	PolicyWitness
	tw tessera.Witness // checks its cosignature on a checkpoint
	// Guarded by Witnesses.mu. failing is the outcome of its latest
	// failed request, "" while its latest decisive answer was good.
	failing      string
	failingSince time.Time
}

// NewWitnesses prepares the witnessing of a log's checkpoints under
// cfg.Policy, which must reach at least one witness.
func NewWitnesses(cfg WitnessConfig) (*Witnesses, error) {
	if cfg.Policy == nil || len(cfg.Policy.Witnesses) == 0 {
		return nil, fmt.Errorf("witnessing needs a policy reaching at least one witness")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultWitnessTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewWitnessMetrics("main")
	}
	w := &Witnesses{cfg: cfg, metrics: cfg.Metrics, byURL: map[string]*witnessState{}, quorumMet: true}
	for _, pw := range cfg.Policy.Witnesses {
		tw := tessera.Witness{URL: pw.URL}
		for _, c := range flatten(cfg.Policy.Group) {
			if c.URL == pw.URL {
				tw = c
			}
		}
		w.byURL[pw.URL] = &witnessState{PolicyWitness: pw, tw: tw}
		w.metrics.healthy.WithLabelValues(pw.Name).Set(1)
	}
	w.metrics.quorumMet.Set(1)
	// The publisher's context carries the timeout; the client's own is a
	// backstop for a request that somehow has none.
	w.client = &http.Client{Transport: &witnessTransport{w: w, base: http.DefaultTransport}, Timeout: 2*cfg.Timeout + 5*time.Second}
	return w, nil
}

// HTTPClient is the client the log's store must give Tessera's checkpoint
// publisher (storage.LogOptions.HTTPClient): it measures every request to
// a witness.
func (w *Witnesses) HTTPClient() *http.Client { return w.client }

// FailClosed reports whether a checkpoint lacking the quorum is held back.
func (w *Witnesses) FailClosed() bool { return w.cfg.FailClosed }

// Policy is the witness policy.
func (w *Witnesses) Policy() *WitnessPolicy { return w.cfg.Policy }

// appendOptions has Tessera witness the checkpoints it publishes.
func (w *Witnesses) appendOptions(o *tessera.AppendOptions) {
	o.WithWitnesses(w.cfg.Policy.Group, &tessera.WitnessOptions{Timeout: w.cfg.Timeout, FailOpen: !w.cfg.FailClosed})
}

// flatten lists the witnesses of a policy component, depth first.
func flatten(c any) []tessera.Witness {
	switch c := c.(type) {
	case tessera.Witness:
		return []tessera.Witness{c}
	case tessera.WitnessGroup:
		var ws []tessera.Witness
		for _, m := range c.Components {
			ws = append(ws, flatten(m)...)
		}
		return ws
	}
	return nil
}

// satisfiable says whether policy component c is satisfied when exactly
// the witnesses for which ok says so cosign.
func satisfiable(c any, ok func(url string) bool) bool {
	switch c := c.(type) {
	case tessera.Witness:
		return ok(c.URL)
	case tessera.WitnessGroup:
		n := 0
		for _, m := range c.Components {
			if satisfiable(m, ok) {
				n++
			}
		}
		return n >= c.N
	}
	return false
}

// record takes the outcome of one request to the witness st (see
// witnessTransport). It must not be called with mu held.
func (w *Witnesses) record(st *witnessState, o outcome, elapsed time.Duration, size uint64, detail string) {
	m := w.metrics
	m.requests.WithLabelValues(st.Name, string(o)).Inc()
	if o != outcomeAbandoned && o != outcomeUnreachable {
		m.latency.WithLabelValues(st.Name).Observe(elapsed.Seconds())
	}
	if o == outcomeCosigned && size > 0 {
		m.cosignedSize.WithLabelValues(st.Name).Set(float64(size))
	}
	if o == outcomeCosigned {
		m.lastCosigned.WithLabelValues(st.Name).SetToCurrentTime()
	}
	if o == outcomeAbandoned || o == outcomeBehind {
		return // says nothing of the witness's health
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	was := st.failing
	if o.failure() {
		if was == "" {
			st.failingSince = time.Now()
		}
		st.failing = string(o)
		m.healthy.WithLabelValues(st.Name).Set(0)
	} else {
		st.failing = ""
		m.healthy.WithLabelValues(st.Name).Set(1)
	}
	w.logChange(st, was, o, size, detail)
	w.updateReachable()
}

// logChange logs a witness's change of state once, not every request.
func (w *Witnesses) logChange(st *witnessState, was string, o outcome, size uint64, detail string) {
	lg := w.cfg.Logger.With("witness", st.Name, "url", st.URL, "size", size)
	switch {
	case was == string(o):
	case o == outcomeInconsistent || o == outcomeAhead:
		lg.Error("witness refuses this log's checkpoint as inconsistent with what it cosigned before: "+
			"another log may be signing under this origin and key, or this log lost entries; investigate", "outcome", o, "detail", detail)
	case o.failure():
		lg.Warn("witness failing", "outcome", o, "detail", detail)
	case was != "":
		lg.Info("witness cosigning again", "was", was)
	}
}

// updateReachable notes when the healthy witnesses stop (or start again)
// being enough for the quorum. Called with mu held.
func (w *Witnesses) updateReachable() {
	ok := satisfiable(w.cfg.Policy.Group, func(url string) bool {
		st := w.byURL[url]
		return st != nil && st.failing == ""
	})
	switch {
	case !ok && w.unreachableSince.IsZero():
		w.unreachableSince = time.Now()
	case ok:
		w.unreachableSince = time.Time{}
	}
}

// Watch checks every published checkpoint (read) for the policy's quorum
// of cosignatures, every interval until ctx ends. Every frontend of a log
// runs it, so each can tell whether the log publishes witnessed
// checkpoints, whichever frontend published them.
func (w *Witnesses) Watch(ctx context.Context, every time.Duration, read func(context.Context) ([]byte, error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if raw, err := read(ctx); err == nil {
			w.observe(raw)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// observe checks one published checkpoint for the quorum.
func (w *Witnesses) observe(raw []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Equal(raw, w.lastCP) {
		return
	}
	w.lastCP = bytes.Clone(raw)
	var cp log.Checkpoint
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		if _, err := cp.Unmarshal(raw[:i+1]); err == nil {
			w.lastSize = cp.Size
		}
	}
	var lacking []string
	cosigs := 0
	for _, pw := range w.cfg.Policy.Witnesses {
		if w.byURL[pw.URL].tw.Satisfied(raw) {
			cosigs++
		} else {
			lacking = append(lacking, pw.Name)
		}
	}
	met := w.cfg.Policy.Group.Satisfied(raw)
	w.metrics.cosignatures.Set(float64(cosigs))
	lg := w.cfg.Logger.With("size", w.lastSize)
	switch {
	case !met && w.quorumMet:
		w.lackingSince = time.Now()
		lg.Warn("checkpoint published without the witness quorum", "lacking", strings.Join(lacking, ","))
	case met && !w.quorumMet:
		lg.Info("checkpoints carry the witness quorum again", "after", time.Since(w.lackingSince).Round(time.Second))
		w.lackingSince = time.Time{}
	}
	w.quorumMet, w.lacking = met, lacking
	if met {
		w.metrics.quorumMet.Set(1)
	} else {
		w.metrics.quorumMet.Set(0)
	}
}

// WitnessStatus is how witnessing goes, for /readyz.
type WitnessStatus struct {
	// QuorumMet says whether the latest published checkpoint carries the
	// policy's quorum; if not, Lacking names the witnesses whose
	// cosignature it lacks, LackingSince is when checkpoints started
	// lacking it and Size is its size.
	QuorumMet    bool
	Lacking      []string
	LackingSince time.Time
	Size         uint64
	// Failing describes the witnesses whose last answer was a failure
	// ("name (outcome since time)"); QuorumUnreachable says the others are
	// not enough for the quorum, since UnreachableSince. Only the
	// frontend that publishes talks to witnesses: on the others these stay
	// empty.
	Failing           []string
	QuorumUnreachable bool
	UnreachableSince  time.Time
}

// Status reports how witnessing goes.
func (w *Witnesses) Status() WitnessStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := WitnessStatus{QuorumMet: w.quorumMet, Lacking: slices.Clone(w.lacking), LackingSince: w.lackingSince, Size: w.lastSize,
		QuorumUnreachable: !w.unreachableSince.IsZero(), UnreachableSince: w.unreachableSince}
	for _, pw := range w.cfg.Policy.Witnesses {
		if st := w.byURL[pw.URL]; st.failing != "" {
			s.Failing = append(s.Failing, fmt.Sprintf("%s (%s since %s)", st.Name, st.failing, st.failingSince.UTC().Format(time.RFC3339)))
		}
	}
	return s
}

// Problems describes what is wrong with witnessing, in words that may be
// shown to anyone (witness names come from the policy; no URL or error
// text): nothing while published checkpoints carry the quorum and every
// witness answers.
func (s WitnessStatus) Problems() []string {
	var p []string
	if !s.QuorumMet {
		p = append(p, fmt.Sprintf("checkpoints published without the witness quorum since %s (size %d lacks %s)",
			s.LackingSince.UTC().Format(time.RFC3339), s.Size, strings.Join(s.Lacking, ", ")))
	}
	if s.QuorumUnreachable {
		p = append(p, fmt.Sprintf("witness quorum unreachable since %s", s.UnreachableSince.UTC().Format(time.RFC3339)))
	}
	if len(s.Failing) > 0 {
		p = append(p, "witnesses failing: "+strings.Join(s.Failing, ", "))
	}
	return p
}
