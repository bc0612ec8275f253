package ca

import (
	"github.com/mosaiclog/mosaic/internal/oidc"
	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a signingCert request is refused, besides the token reasons of
// oidc.Reason. They label mosaic_ca_certificates_refused_total.
const (
	reasonBadRequest     = "bad_request"         // malformed body, key encoding, CSR, conflicting tokens
	reasonNoToken        = "no_token"            // neither a body token nor a Bearer token
	reasonProof          = "proof_of_possession" // the signature or CSR does not verify
	reasonWeakKey        = "weak_key"            // key type or size not accepted
	reasonTooLarge       = "too_large"           // body over MaxRequestBytes
	reasonSlowBody       = "slow_body"           // body not received before the body deadline
	reasonLogUnavailable = "log_unavailable"     // the certificate log did not take the precertificate
	reasonInternal       = "internal"            // the CA's own failure
)

// Metrics are the CA's Prometheus collectors. Construct with NewMetrics and
// register Collectors() with the process's registry.
type Metrics struct {
	issued  prometheus.Counter
	refused *prometheus.CounterVec
}

// NewMetrics creates the CA's collectors, with every known refusal reason
// present at zero.
func NewMetrics() *Metrics {
	m := &Metrics{
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mosaic_ca_certificates_issued_total", Help: "Code-signing certificates issued.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_ca_certificates_refused_total",
			Help: "Certificate requests refused, by reason (token reasons, bad_request, proof_of_possession, ...).",
		}, []string{"reason"}),
	}
	for _, r := range []oidc.Reason{oidc.ReasonMalformed, oidc.ReasonUnknownIssuer, oidc.ReasonExpired,
		oidc.ReasonNotYetValid, oidc.ReasonAudience, oidc.ReasonSignature, oidc.ReasonEmailUnverified,
		oidc.ReasonMissingClaim, oidc.ReasonSubject, oidc.ReasonInvalidClaim, oidc.ReasonIssuerUnavailable} {
		m.refused.WithLabelValues(string(r))
	}
	for _, r := range []string{reasonBadRequest, reasonNoToken, reasonProof, reasonWeakKey, reasonTooLarge, reasonSlowBody,
		reasonLogUnavailable, reasonInternal} {
		m.refused.WithLabelValues(r)
	}
	return m
}

// Collectors returns every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.issued, m.refused}
}
