package verify_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/verify"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// env is a running keyless Mosaic (log, CA with certificate log, TSA and
// development OIDC issuer) and its trusted root.
type env struct {
	log    *mosaictest.Log
	trJSON []byte
	tr     *verify.TrustedRoot
	issuer string
}

func newEnv(t testing.TB, store string) *env {
	t.Helper()
	l := mosaictest.NewLog(t, mosaictest.Options{Store: store, Keyless: true})
	tr, err := verify.ParseTrustedRoot(l.Keyless.TrustedRoot())
	if err != nil {
		t.Fatalf("parsing the log's trusted root: %v", err)
	}
	return &env{log: l, trJSON: l.Keyless.TrustedRoot(), tr: tr, issuer: l.URL + "/dev-oidc"}
}

// do sends a request and returns the status and body.
func do(t testing.TB, method, u, contentType string, body []byte, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// token gets a development OIDC token for email.
func (e *env) token(t testing.TB, email string) string {
	t.Helper()
	status, body := do(t, http.MethodGet, e.log.URL+"/dev-oidc/token?email="+url.QueryEscape(email), "", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("dev token: %d %s", status, body)
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.IDToken == "" {
		t.Fatalf("dev token response %s: %v", body, err)
	}
	return tok.IDToken
}

// certificate asks the CA for a certificate for key, proving possession
// by signing the token's email.
func (e *env) certificate(t testing.TB, key *ecdsa.PrivateKey, email string) *x509.Certificate {
	t.Helper()
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	challenge := sha256.Sum256([]byte(email))
	proof, err := ecdsa.SignASN1(rand.Reader, key, challenge[:])
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]any{
		"credentials": map[string]string{"oidcIdentityToken": e.token(t, email)},
		"publicKeyRequest": map[string]any{
			"publicKey":         map[string]string{"algorithm": "ECDSA", "content": string(pemKey)},
			"proofOfPossession": base64.StdEncoding.EncodeToString(proof),
		},
	})
	status, body := do(t, http.MethodPost, e.log.URL+"/api/v2/signingCert", "application/json", req, nil)
	if status != http.StatusOK {
		t.Fatalf("signingCert: %d %s", status, body)
	}
	var resp struct {
		SignedCertificateEmbeddedSct struct {
			Chain struct {
				Certificates []string `json:"certificates"`
			} `json:"chain"`
		} `json:"signedCertificateEmbeddedSct"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || len(resp.SignedCertificateEmbeddedSct.Chain.Certificates) == 0 {
		t.Fatalf("signingCert response %s: %v", body, err)
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(resp.SignedCertificateEmbeddedSct.Chain.Certificates[0]))
	if err != nil || len(certs) != 1 {
		t.Fatalf("leaf certificate: %v", err)
	}
	return certs[0]
}

// logEntry uploads a hashedrekord v0.0.2 entry and returns the log's
// TransparencyLogEntry.
func (e *env) logEntry(t testing.TB, digest, sig []byte, ver *pb.Verifier) *protorekor.TransparencyLogEntry {
	t.Helper()
	req, err := protojson.Marshal(&pb.CreateEntryRequest{Spec: &pb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &pb.HashedRekordRequestV002{
			Digest: digest, Signature: &pb.Signature{Content: sig, Verifier: ver},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	status, body := do(t, http.MethodPost, e.log.URL+"/api/v2/log/entries", "application/json", req, nil)
	if status != http.StatusCreated {
		t.Fatalf("log entry: %d %s", status, body)
	}
	var tle protorekor.TransparencyLogEntry
	if err := protojson.Unmarshal(body, &tle); err != nil {
		t.Fatal(err)
	}
	return &tle
}

// timestamp gets an RFC 3161 timestamp over sig from the TSA.
func (e *env) timestamp(t testing.TB, sig []byte) []byte {
	t.Helper()
	req, err := timestamp.CreateRequest(bytes.NewReader(sig), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
	if err != nil {
		t.Fatal(err)
	}
	status, body := do(t, http.MethodPost, e.log.URL+"/api/v1/timestamp", "application/timestamp-query", req, nil)
	if status != http.StatusOK {
		t.Fatalf("timestamp: %d %s", status, body)
	}
	return body
}

// signed is a bundle and what made it.
type signed struct {
	artifact []byte
	json     []byte
	bundle   *protobundle.Bundle
	key      crypto.Signer
}

// keylessOptions vary how a keyless bundle is made.
type keylessOptions struct {
	// timestampFirst gets the timestamp before the certificate exists, so
	// that the certificate is not yet valid at the timestamp's time.
	timestampFirst bool
}

// keyless signs artifact as email the way a Sigstore client does: fresh
// P-256 key, certificate, signature, log entry, timestamp, bundle v0.3.
func (e *env) keyless(t testing.TB, email string, artifact []byte, o keylessOptions) *signed {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(artifact)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	var tsr []byte
	if o.timestampFirst {
		tsr = e.timestamp(t, sig)
		waitPastSecond(t, tsr)
	}
	cert := e.certificate(t, key, email)
	tle := e.logEntry(t, digest[:], sig, &pb.Verifier{
		KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
		Verifier:   &pb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}},
	})
	if !o.timestampFirst {
		tsr = e.timestamp(t, sig)
	}
	b := newBundle(digest[:], sig, tle, [][]byte{tsr})
	b.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{
		Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw},
	}
	return &signed{artifact: artifact, json: marshal(t, b), bundle: b, key: key}
}

// waitPastSecond waits until the current second is after the timestamp's
// time, so that a certificate issued now (NotBefore truncated to the
// second) starts after it. It waits on that condition, not a fixed delay.
func waitPastSecond(t testing.TB, tsr []byte) {
	t.Helper()
	ts, err := timestamp.ParseResponse(tsr)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !time.Now().Truncate(time.Second).After(ts.Time) {
		if time.Now().After(deadline) {
			t.Fatalf("the clock did not pass the timestamp's time %s", ts.Time)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keyed signs artifact with a fresh P-256 key, logs it with the public
// key as verifier, and bundles it (with a timestamp when withTimestamp).
func (e *env) keyed(t testing.TB, artifact []byte, withTimestamp bool) *signed {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(artifact)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	tle := e.logEntry(t, digest[:], sig, &pb.Verifier{
		KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
		Verifier:   &pb.Verifier_PublicKey{PublicKey: &pb.PublicKey{RawBytes: der}},
	})
	var tsrs [][]byte
	if withTimestamp {
		tsrs = append(tsrs, e.timestamp(t, sig))
	}
	b := newBundle(digest[:], sig, tle, tsrs)
	b.VerificationMaterial.Content = &protobundle.VerificationMaterial_PublicKey{
		PublicKey: &protocommon.PublicKeyIdentifier{Hint: base64.StdEncoding.EncodeToString(sha256Sum(der))},
	}
	return &signed{artifact: artifact, json: marshal(t, b), bundle: b, key: key}
}

func sha256Sum(b []byte) []byte {
	d := sha256.Sum256(b)
	return d[:]
}

// newBundle assembles a v0.3 bundle without its key material.
func newBundle(digest, sig []byte, tle *protorekor.TransparencyLogEntry, tsrs [][]byte) *protobundle.Bundle {
	b := &protobundle.Bundle{
		MediaType:            verify.BundleMediaType03,
		VerificationMaterial: &protobundle.VerificationMaterial{TlogEntries: []*protorekor.TransparencyLogEntry{tle}},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest},
			Signature:     sig,
		}},
	}
	if len(tsrs) > 0 {
		tvd := &protobundle.TimestampVerificationData{}
		for _, tsr := range tsrs {
			tvd.Rfc3161Timestamps = append(tvd.Rfc3161Timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: tsr})
		}
		b.VerificationMaterial.TimestampVerificationData = tvd
	}
	return b
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mutated returns the JSON of a copy of s's bundle changed by f.
func (s *signed) mutated(t testing.TB, f func(b *protobundle.Bundle)) []byte {
	t.Helper()
	b := proto.Clone(s.bundle).(*protobundle.Bundle)
	f(b)
	return marshal(t, b)
}

// policy is the identity policy a keyless bundle from e for email passes.
func (e *env) policy(email string) verify.Policy {
	return verify.Policy{CertificateIdentity: email, CertificateOIDCIssuer: e.issuer}
}

// verifyJSON parses bundle and trusted root JSON and verifies.
func verifyJSON(t testing.TB, bundleJSON []byte, a verify.Artifact, trJSON []byte, p verify.Policy) (*verify.Result, error) {
	t.Helper()
	tr, err := verify.ParseTrustedRoot(trJSON)
	if err != nil {
		return nil, err
	}
	b, err := verify.ParseBundle(bundleJSON)
	if err != nil {
		return nil, err
	}
	return verify.Verify(b, a, tr, p)
}

// wantCheck fails unless err is a *verify.Error for check.
func wantCheck(t testing.TB, err error, check verify.Check) {
	t.Helper()
	if err == nil {
		t.Fatalf("verified; want a %q failure", check)
	}
	ve, ok := err.(*verify.Error)
	if !ok {
		t.Fatalf("error %v is a %T, want *verify.Error", err, err)
	}
	if ve.Check != check {
		t.Fatalf("failed check %q (%v), want %q", ve.Check, err, check)
	}
	t.Log(err)
}

// editTrustedRoot returns the trusted root JSON changed by f, which edits
// the generic JSON tree.
func editTrustedRoot(t testing.TB, trJSON []byte, f func(tr map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(trJSON, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// first returns the first element of the named list of the trusted root.
func first(m map[string]any, list string) map[string]any {
	return m[list].([]any)[0].(map[string]any)
}
