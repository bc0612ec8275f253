// Package keyless runs the Sigstore keyless flow against a Mosaic deployment
// with the unmodified sigstore-go client: fetch the deployment's
// trusted_root.json and signing_config.json, get an identity token from the
// development issuer, sign with an ephemeral key (certificate from Mosaic's
// CA, RFC 3161 timestamp from its TSA, entry in its Rekor v2 log) and verify
// the bundle offline.
package keyless

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
)

// Config is a deployment's client configuration, as served by mosaicd.
type Config struct {
	TrustedRoot   []byte // trusted_root.json
	SigningConfig []byte // signing_config.json (v0.2)
}

// FetchConfig downloads the deployment's trusted root and signing config.
func FetchConfig(ctx context.Context, baseURL string) (*Config, error) {
	tr, err := get(ctx, baseURL+"/api/v2/trustedRoot")
	if err != nil {
		return nil, err
	}
	sc, err := get(ctx, baseURL+"/api/v2/signingConfig")
	if err != nil {
		return nil, err
	}
	return &Config{TrustedRoot: tr, SigningConfig: sc}, nil
}

// DevToken mints an identity token for email from mosaicd's development
// issuer (mosaicd serve --dev-oidc).
func DevToken(ctx context.Context, baseURL, email string) (string, error) {
	body, err := get(ctx, baseURL+"/dev-oidc/token?email="+url.QueryEscape(email))
	if err != nil {
		return "", err
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.IDToken == "" {
		return "", fmt.Errorf("development issuer answered %q, want {\"id_token\": ...}", body)
	}
	return tok.IDToken, nil
}

// Sign signs data keylessly with the services cfg's signing config names
// and returns the Sigstore bundle (v0.3) as JSON.
func Sign(ctx context.Context, cfg *Config, token string, data []byte) ([]byte, error) {
	return signContent(ctx, cfg, token, &sign.PlainData{Data: data})
}

// Attest signs an in-toto statement keylessly as a DSSE envelope, as
// cosign v3 attest-blob does (through the same sigstore-go call), and
// returns the bundle as JSON.
func Attest(ctx context.Context, cfg *Config, token string, statement []byte) ([]byte, error) {
	return signContent(ctx, cfg, token, &sign.DSSEData{Data: statement, PayloadType: "application/vnd.in-toto+json"})
}

func signContent(ctx context.Context, cfg *Config, token string, content sign.Content) ([]byte, error) {
	tr, err := root.NewTrustedRootFromJSON(cfg.TrustedRoot)
	if err != nil {
		return nil, fmt.Errorf("parsing trusted root: %w", err)
	}
	sc, err := root.NewSigningConfigFromJSON(cfg.SigningConfig)
	if err != nil {
		return nil, fmt.Errorf("parsing signing config: %w", err)
	}
	now := time.Now()
	keypair, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, err
	}
	opts := sign.BundleOptions{Context: ctx, TrustedRoot: tr}

	ca, err := root.SelectService(sc.FulcioCertificateAuthorityURLs(), sign.FulcioAPIVersions, now)
	if err != nil {
		return nil, fmt.Errorf("signing config names no usable CA: %w", err)
	}
	opts.CertificateProvider = sign.NewFulcio(&sign.FulcioOptions{BaseURL: ca.URL, Timeout: 20 * time.Second})
	opts.CertificateProviderOptions = &sign.CertificateProviderOptions{IDToken: token}

	tsas, err := root.SelectServices(sc.TimestampAuthorityURLs(), sc.TimestampAuthorityURLsConfig(),
		sign.TimestampAuthorityAPIVersions, now)
	if err != nil {
		return nil, fmt.Errorf("signing config names no usable TSA: %w", err)
	}
	for _, s := range tsas {
		opts.TimestampAuthorities = append(opts.TimestampAuthorities,
			sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: s.URL, Timeout: 20 * time.Second}))
	}
	logs, err := root.SelectServices(sc.RekorLogURLs(), sc.RekorLogURLsConfig(), sign.RekorAPIVersions, now)
	if err != nil {
		return nil, fmt.Errorf("signing config names no usable log: %w", err)
	}
	for _, s := range logs {
		opts.TransparencyLogs = append(opts.TransparencyLogs,
			sign.NewRekor(&sign.RekorOptions{BaseURL: s.URL, Version: s.MajorAPIVersion, Timeout: 20 * time.Second}))
	}
	b, err := sign.Bundle(content, keypair, opts)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return protojson.Marshal(b)
}

// Result is what an offline verification established.
type Result struct {
	SAN, Issuer  string
	LogIndex     int64
	Timestamps   int // verified RFC 3161 timestamps
	SCTsVerified bool
	// PredicateType is an attestation's, as sigstore-go read it.
	PredicateType string
}

// Verify checks bundleJSON over data offline, with nothing but the trusted
// root: certificate chain and SCT, RFC 3161 timestamp, log inclusion proof
// and checkpoint, and the signer's identity (exact SAN and issuer). For an
// attestation, data must be one of the statement's subjects (by digest).
func Verify(trustedRoot, bundleJSON, data []byte, san, issuer string) (*Result, error) {
	tr, err := root.NewTrustedRootFromJSON(trustedRoot)
	if err != nil {
		return nil, fmt.Errorf("parsing trusted root: %w", err)
	}
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(bundleJSON, &pb); err != nil {
		return nil, fmt.Errorf("parsing bundle: %w", err)
	}
	b, err := bundle.NewBundle(&pb)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	v, err := verify.NewVerifier(tr, verify.WithSignedCertificateTimestamps(1),
		verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	if err != nil {
		return nil, err
	}
	id, err := verify.NewShortCertificateIdentity(issuer, "", san, "")
	if err != nil {
		return nil, err
	}
	res, err := v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(data)), verify.WithCertificateIdentity(id)))
	if err != nil {
		return nil, err
	}
	out := &Result{Timestamps: len(res.VerifiedTimestamps), SCTsVerified: true}
	if res.Statement != nil {
		out.PredicateType = res.Statement.GetPredicateType()
	}
	if res.Signature != nil && res.Signature.Certificate != nil {
		out.SAN = res.Signature.Certificate.SubjectAlternativeName
		out.Issuer = res.Signature.Certificate.Issuer
	}
	if entries := pb.GetVerificationMaterial().GetTlogEntries(); len(entries) > 0 {
		out.LogIndex = entries[0].GetLogIndex()
	}
	return out, nil
}

func get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}
