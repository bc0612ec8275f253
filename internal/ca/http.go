package ca

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/mosaiclog/mosaic/internal/httperr"
	"github.com/mosaiclog/mosaic/internal/oidc"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// retryAfterSeconds is sent with every 503. sigstore-go retries 5xx with
// its own backoff; other clients can use the header.
const retryAfterSeconds = 5

// Routes adds the Fulcio v2 endpoints to r.
func (ca *CA) Routes(r chi.Router) {
	r.Post("/api/v2/signingCert", ca.serveSigningCert)
	r.Get("/api/v2/trustBundle", ca.serveTrustBundle)
	r.Get("/api/v2/configuration", ca.serveConfiguration)
}

// The response shapes are protojson of Fulcio's SigningCertificate,
// TrustBundle and Configuration messages.
type (
	certificateChain struct {
		Certificates []string `json:"certificates"`
	}
	signingCertificate struct {
		SignedCertificateEmbeddedSct embeddedSCT `json:"signedCertificateEmbeddedSct"`
	}
	embeddedSCT struct {
		Chain certificateChain `json:"chain"`
	}
	trustBundle struct {
		Chains []certificateChain `json:"chains"`
	}
	configuration struct {
		Issuers []oidcIssuer `json:"issuers"`
	}
	oidcIssuer struct {
		IssuerURL         string `json:"issuerUrl"`
		Audience          string `json:"audience,omitempty"`
		ChallengeClaim    string `json:"challengeClaim,omitempty"`
		SPIFFETrustDomain string `json:"spiffeTrustDomain,omitempty"`
		IssuerType        string `json:"issuerType,omitempty"`
	}
)

// refusal is a signingCert request the CA turns down.
type refusal struct {
	status int
	reason string // metrics label
	msg    string // for the client
	cause  error  // logged for 500s
}

func (ca *CA) serveSigningCert(w http.ResponseWriter, r *http.Request) {
	chain, ref := ca.signingCert(r)
	if ref != nil {
		ca.metrics.refused.WithLabelValues(ref.reason).Inc()
		switch ref.status {
		case http.StatusInternalServerError:
			ca.logger.Error("certificate request failed", "err", ref.cause)
		case http.StatusServiceUnavailable:
			if ref.cause != nil {
				ca.failures.Warn("certificate request deferred", "err", ref.cause)
			}
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		}
		httperr.Write(w, ref.status, "%s", ref.msg)
		return
	}
	resp := signingCertificate{}
	for _, c := range chain {
		pem, err := cryptoutils.MarshalCertificateToPEM(c)
		if err != nil { // cannot happen for a parsed certificate
			httperr.Write(w, http.StatusInternalServerError, "encoding the certificate: %v", err)
			return
		}
		resp.SignedCertificateEmbeddedSct.Chain.Certificates = append(resp.SignedCertificateEmbeddedSct.Chain.Certificates, string(pem))
	}
	ca.metrics.issued.Inc()
	writeJSON(w, resp)
}

// signingCert turns a request into a certificate chain, leaf first, or a
// refusal. Cheap checks on the body come before the token is verified, the
// proof of possession after (it signs the token's challenge).
func (ca *CA) signingCert(r *http.Request) ([]*x509.Certificate, *refusal) {
	body, ref := ca.readBody(r)
	if ref != nil {
		return nil, ref
	}
	req, err := parseSigningRequest(body)
	if err != nil {
		return nil, &refusal{status: http.StatusBadRequest, reason: reasonBadRequest, msg: err.Error()}
	}
	token, ref := requestToken(r, req.token)
	if ref != nil {
		return nil, ref
	}
	if err := checkKey(req.key); err != nil {
		return nil, &refusal{status: http.StatusBadRequest, reason: reasonWeakKey, msg: "public key refused: " + err.Error()}
	}
	if req.csr != nil {
		if err := req.csr.CheckSignature(); err != nil {
			return nil, &refusal{status: http.StatusBadRequest, reason: reasonProof,
				msg: fmt.Sprintf("the CSR's signature (its proof of possession) does not verify: %v", err)}
		}
	}
	id, ref := ca.verifyToken(r.Context(), token)
	if ref != nil {
		return nil, ref
	}
	if req.csr == nil {
		if err := verifyProof(req.key, req.proof, id.Challenge); err != nil {
			return nil, &refusal{status: http.StatusBadRequest, reason: reasonProof, msg: err.Error()}
		}
	}
	chain, err := ca.issue(r.Context(), id, req.key)
	if err != nil {
		return nil, issueRefusal(err)
	}
	ca.logger.Info("certificate issued", "serial", chain[0].SerialNumber.Text(16), "issuer", id.Issuer, "san", id.SAN)
	return chain, nil
}

// readBody reads the request body within the size limit.
func (ca *CA) readBody(r *http.Request) ([]byte, *refusal) {
	limit := ca.maxBody
	if r.ContentLength > limit {
		return nil, &refusal{status: http.StatusRequestEntityTooLarge, reason: reasonTooLarge,
			msg: fmt.Sprintf("request body of %d bytes exceeds the CA's limit of %d bytes (MaxRequestBytes)", r.ContentLength, limit)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if httperr.IsSlowBody(err) {
		return nil, &refusal{status: http.StatusRequestTimeout, reason: reasonSlowBody,
			msg: fmt.Sprintf("the request body did not arrive in time: %d bytes were received before the body deadline (body-timeout)", len(body))}
	}
	if err != nil {
		return nil, &refusal{status: http.StatusBadRequest, reason: reasonBadRequest, msg: fmt.Sprintf("reading the request body: %v", err)}
	}
	if int64(len(body)) > limit {
		return nil, &refusal{status: http.StatusRequestEntityTooLarge, reason: reasonTooLarge,
			msg: fmt.Sprintf("request body exceeds the CA's limit of %d bytes (MaxRequestBytes); more than %d bytes were sent", limit, limit)}
	}
	return body, nil
}

// requestToken picks the identity token from the body or the Authorization
// header (sigstore-go and cosign v3 send "Bearer <JWT>" and no credentials).
func requestToken(r *http.Request, bodyToken string) (string, *refusal) {
	var header string
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, rest, _ := strings.Cut(auth, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", &refusal{status: http.StatusUnauthorized, reason: reasonNoToken,
				msg: fmt.Sprintf("the Authorization header uses the %q scheme; send the identity token as \"Bearer <token>\"", scheme)}
		}
		header = strings.TrimSpace(rest)
	}
	switch {
	case header == "" && bodyToken == "":
		return "", &refusal{status: http.StatusUnauthorized, reason: reasonNoToken,
			msg: "no identity token: send it as \"Authorization: Bearer <token>\" or in credentials.oidcIdentityToken"}
	case header != "" && bodyToken != "" && header != bodyToken:
		return "", &refusal{status: http.StatusBadRequest, reason: reasonBadRequest,
			msg: "the Authorization header and credentials.oidcIdentityToken hold different tokens; send one"}
	case header != "":
		return header, nil
	}
	return bodyToken, nil
}

// verifyToken maps the verifier's verdict to a refusal: a refused token is
// 401 with its reason, an issuer that could not be reached 503.
func (ca *CA) verifyToken(ctx context.Context, token string) (*oidc.Identity, *refusal) {
	id, err := ca.verifier.Verify(ctx, token)
	var te *oidc.TokenError
	switch {
	case errors.As(err, &te):
		status := http.StatusUnauthorized
		switch te.Reason {
		case oidc.ReasonIssuerUnavailable:
			status = http.StatusServiceUnavailable
		case oidc.ReasonInvalidClaim:
			// The token is genuine; what it says cannot go in a certificate.
			status = http.StatusBadRequest
		}
		return nil, &refusal{status: status, reason: string(te.Reason), msg: te.Error()}
	case err != nil:
		return nil, &refusal{status: http.StatusInternalServerError, reason: reasonInternal,
			msg: "internal error verifying the identity token", cause: fmt.Errorf("verifying the identity token: %w", err)}
	case id == nil:
		return nil, &refusal{status: http.StatusInternalServerError, reason: reasonInternal,
			msg: "internal error verifying the identity token", cause: errors.New("the token verifier returned no identity and no error")}
	case id.Challenge == "":
		return nil, &refusal{status: http.StatusInternalServerError, reason: reasonInternal,
			msg: "internal error verifying the identity token", cause: errors.New("the token verifier returned an identity without a challenge")}
	}
	return id, nil
}

// issueRefusal maps an issuance failure to a refusal.
func issueRefusal(err error) *refusal {
	var ie *identityError
	var le *certLogError
	switch {
	case errors.As(err, &ie):
		return &refusal{status: http.StatusBadRequest, reason: reasonBadRequest, msg: ie.msg}
	case errors.As(err, &le):
		return &refusal{status: http.StatusServiceUnavailable, reason: reasonLogUnavailable,
			msg: "the certificate log is unavailable; no certificate was issued, try again later", cause: err}
	}
	return &refusal{status: http.StatusInternalServerError, reason: reasonInternal,
		msg: "internal error issuing the certificate", cause: err}
}

func (ca *CA) serveTrustBundle(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, trustBundle{Chains: []certificateChain{{Certificates: ca.chainPEM}}})
}

func (ca *CA) serveConfiguration(w http.ResponseWriter, _ *http.Request) {
	resp := configuration{Issuers: []oidcIssuer{}}
	for _, is := range ca.issuers {
		resp.Issuers = append(resp.Issuers, oidcIssuer{
			IssuerURL: is.IssuerURL, Audience: is.Audience, ChallengeClaim: is.ChallengeClaim,
			SPIFFETrustDomain: is.SPIFFETrustDomain, IssuerType: is.Type,
		})
	}
	writeJSON(w, resp)
}

func writeJSON(w http.ResponseWriter, v any) {
	out, err := json.Marshal(v)
	if err != nil {
		httperr.Write(w, http.StatusInternalServerError, "encoding the response: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}
