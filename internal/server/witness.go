package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/internal/storage"
	"github.com/mosaiclog/mosaic/internal/tlog"
)

// WitnessConfig has the main log's checkpoints cosigned by witnesses
// before they are published (tlog.Witnesses). The certificate log is not
// witnessed.
type WitnessConfig struct {
	// Policy names the witnesses and the quorum (nil, or a policy with
	// "quorum none": no witnessing).
	Policy *tlog.WitnessPolicy
	// Timeout bounds the wait for the quorum before each publication
	// (zero: tlog.DefaultWitnessTimeout).
	Timeout time.Duration
	// FailClosed holds back a checkpoint lacking the quorum; by default it
	// is published without it, and /readyz and the metrics say so.
	FailClosed bool
}

// newWitnesses prepares the main log's witnessing, or returns nil when the
// configuration asks for none.
func (s *Server) newWitnesses() (*tlog.Witnesses, error) {
	p := s.cfg.Witness.Policy
	if p == nil {
		return nil, nil
	}
	if len(p.Unused) > 0 {
		s.logger.Warn("the witness policy defines witnesses its quorum does not reach: they are not contacted", "witnesses", strings.Join(p.Unused, ","))
	}
	if len(p.Witnesses) == 0 {
		s.logger.Info("the witness policy's quorum is none: checkpoints are not witnessed")
		return nil, nil
	}
	m := tlog.NewWitnessMetrics(storage.DefaultLogID)
	s.reg.MustRegister(m.Collectors()...)
	w, err := tlog.NewWitnesses(tlog.WitnessConfig{
		Policy: p, Timeout: s.cfg.Witness.Timeout, FailClosed: s.cfg.Witness.FailClosed,
		Logger: s.logger.With("component", "witness"), Metrics: m,
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(p.Witnesses))
	for i, pw := range p.Witnesses {
		names[i] = pw.Name
	}
	s.logger.Info("checkpoints are witnessed", "witnesses", strings.Join(names, ","), "fail_closed", s.cfg.Witness.FailClosed)
	return w, nil
}

// watchWitnesses checks every checkpoint the log publishes for the quorum.
func (s *Server) watchWitnesses(sl *servedLog, w *tlog.Witnesses) {
	go w.Watch(s.logCtx, time.Second, func(ctx context.Context) ([]byte, error) {
		_, raw, err := sl.log.Checkpoint(ctx)
		return raw, err
	})
}

// witnessReady is the readiness of witnessing: failing closed, a quorum
// that cannot be reached stops publication, so the server is not ready.
// Failing open it is ready, and degraded says why.
func (s *Server) witnessReady() error {
	if s.witnesses == nil || !s.witnesses.FailClosed() {
		return nil
	}
	st := s.witnesses.Status()
	if !st.QuorumUnreachable {
		return nil
	}
	msg := "witness quorum unreachable since " + st.UnreachableSince.UTC().Format(time.RFC3339) + ": checkpoints are held back (--witness-fail-closed)"
	return &storage.NotReadyError{Code: "witness_quorum", Reason: msg, Err: errors.New(msg + "; " + strings.Join(st.Failing, ", "))}
}

// degraded lists what works less well than it should while the server is
// ready (/readyz says it beside "ready").
func (s *Server) degraded(context.Context) []string {
	if s.witnesses == nil {
		return nil
	}
	return s.witnesses.Status().Problems()
}
