package tsa

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/httperr"
)

// Routes mounts the TSA's endpoints on r:
//
//	POST /api/v1/timestamp            TimeStampReq (DER or JSON) → DER TimeStampResp
//	GET  /api/v1/timestamp/certchain  PEM chain, TSA certificate first, root last
func (t *TSA) Routes(r chi.Router) {
	r.Post("/api/v1/timestamp", t.handleTimestamp)
	r.Get("/api/v1/timestamp/certchain", t.handleCertChain)
}

// handleTimestamp grants a timestamp or refuses the request with a JSON
// error; only a signing failure is a 500.
func (t *TSA) handleTimestamp(w http.ResponseWriter, r *http.Request) {
	kind, rf := parseContentType(r.Header.Get("Content-Type"))
	var body []byte
	if rf == nil {
		body, rf = t.readBody(w, r)
	}
	var req *timestamp.Request
	if rf == nil {
		req, rf = parseRequest(kind, body)
	}
	if rf == nil {
		rf = checkRequest(req, t.policy)
	}
	now := t.now()
	if rf == nil {
		rf = t.checkCertificateValid(now)
	}
	if rf != nil {
		t.metrics.refused.WithLabelValues(rf.reason).Inc()
		t.logger.Debug("timestamp request refused", "reason", rf.reason, "status", rf.status, "message", rf.msg)
		httperr.Write(w, rf.status, "%s", rf.msg)
		return
	}
	resp, err := t.issue(req, now)
	if err != nil {
		t.metrics.signingFailures.Inc()
		t.logger.Error("timestamp signing failed", "err", err)
		httperr.Write(w, http.StatusInternalServerError, "signing the timestamp failed; the TSA's operator has been told in its log")
		return
	}
	t.metrics.issued.Inc()
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
}

// readBody reads the request body up to the TSA's limit.
func (t *TSA) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *refusal) {
	limit := t.maxRequestBytes
	if r.ContentLength > limit {
		return nil, refuse(http.StatusRequestEntityTooLarge, reasonTooLarge,
			"request body is %d bytes; the TSA's request size limit (max request bytes) is %d bytes", r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, refuse(http.StatusRequestEntityTooLarge, reasonTooLarge,
			"request body is more than %d bytes; the TSA's request size limit (max request bytes) is %d bytes", limit, limit)
	}
	if httperr.IsSlowBody(err) {
		return nil, refuse(http.StatusRequestTimeout, reasonSlowBody,
			"the request body did not arrive in time: %d bytes were received before the body deadline (body-timeout)", len(body))
	}
	if err != nil {
		return nil, refuse(http.StatusBadRequest, reasonMalformed, "reading the request body: %v", err)
	}
	return body, nil
}

// checkCertificateValid refuses to sign outside the TSA certificate's
// validity: verifiers would reject the token, so the operator must renew.
func (t *TSA) checkCertificateValid(now time.Time) *refusal {
	leaf := t.chain[0]
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		t.logger.Error("TSA certificate is not valid now; renew it", "not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
		return refuse(http.StatusServiceUnavailable, reasonCertExpired,
			"the TSA's certificate is not valid now (%s; valid from %s to %s); the TSA cannot issue timestamps until its operator renews it",
			now.UTC().Format(time.RFC3339), leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// handleCertChain serves the chain as PEM, TSA certificate first.
func (t *TSA) handleCertChain(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Length", fmt.Sprint(len(t.chainPEM)))
	_, _ = w.Write(t.chainPEM)
}
