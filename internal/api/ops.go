package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/mosaiclog/mosaic/internal/storage"
)

// healthz says the process is up and serving HTTP; it checks nothing else.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether this instance should take traffic: its storage
// answers and the log is publishing fresh checkpoints. The answer names the
// reason in words safe for anyone (a *storage.NotReadyError's Reason, else
// just "not ready"); the detail, which may name hosts, users or databases,
// goes to the server log, once per change, and to the metrics.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			code, reason := "other", "not ready"
			var nr *storage.NotReadyError
			if errors.As(err, &nr) {
				code, reason = nr.Code, nr.Reason
			}
			s.readiness.set(s.cfg, code, err)
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "not ready: %s", reason)
			return
		}
	}
	s.readiness.set(s.cfg, "", nil)
	answer := map[string]any{"status": "ready"}
	if s.cfg.Degraded != nil {
		if d := s.cfg.Degraded(r.Context()); len(d) > 0 {
			answer["degraded"] = d
		}
	}
	writeJSON(w, http.StatusOK, answer)
}

// readiness remembers the last readiness answer, so that a probe polled
// every few seconds logs a change once rather than every time.
type readiness struct {
	mu    sync.Mutex
	code  string // "" while ready
	known bool
}

func (rd *readiness) set(cfg Config, code string, err error) {
	cfg.Metrics.notReady.WithLabelValues(code).Inc()
	if code == "" {
		cfg.Metrics.ready.Set(1)
	} else {
		cfg.Metrics.ready.Set(0)
	}
	rd.mu.Lock()
	changed := !rd.known || rd.code != code
	rd.code, rd.known = code, true
	rd.mu.Unlock()
	switch {
	case !changed:
	case code == "":
		cfg.Logger.Info("ready")
	default:
		cfg.Logger.Warn("not ready", "reason", code, "err", err)
	}
}

// openapi serves the API document.
func (s *server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(s.cfg.OpenAPI)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
