package sign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/sign"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/timestamp-authority/v2/pkg/verification"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var fastRetries = []client.Option{client.WithBackoff(10*time.Millisecond, 100*time.Millisecond)}

// signerFor builds a Signer from the signing config the test server serves.
func signerFor(t *testing.T, l *mosaictest.Log, alg sign.KeyAlgorithm) *sign.Signer {
	t.Helper()
	c, err := client.New(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err := c.SigningConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sign.ParseSigningConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sign.ConfigFromSigningConfig(sc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CAURL != l.URL || !slices.Equal(cfg.LogURLs, []string{l.URL}) || len(cfg.TSAURLs) != 1 || cfg.OIDCURL == "" {
		t.Fatalf("services selected from the served signing config: %+v", cfg)
	}
	cfg.KeyAlgorithm, cfg.ClientOptions = alg, fastRetries
	s, err := sign.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mintToken(t *testing.T, l *mosaictest.Log, query string) string {
	t.Helper()
	resp, err := http.Get(l.URL + "/dev-oidc/token?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.IDToken == "" {
		t.Fatalf("minting a token: %d %v", resp.StatusCode, err)
	}
	return tok.IDToken
}

func TestSignKeyless(t *testing.T) {
	for _, tc := range []struct {
		store string
		alg   sign.KeyAlgorithm
	}{
		{"posix", sign.ECDSAP256},
		{"posix", sign.Ed25519},
		{"postgres", sign.ECDSAP256},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.store, tc.alg), func(t *testing.T) {
			l := mosaictest.NewLog(t, mosaictest.Options{Store: tc.store, Keyless: true})
			const email = "alice@example.com"
			artifact := []byte("keyless artifact " + string(tc.alg))
			b, err := signerFor(t, l, tc.alg).SignKeyless(context.Background(), mintToken(t, l, "email="+email), bytes.NewReader(artifact))
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(b.GetVerificationMaterial().GetCertificate().GetRawBytes())
			if err != nil {
				t.Fatalf("bundle certificate: %v", err)
			}
			if !slices.Equal(cert.EmailAddresses, []string{email}) {
				t.Errorf("certificate SANs %v, want %s", cert.EmailAddresses, email)
			}
			checkSignature(t, b, cert.PublicKey, artifact)
			leaf := checkLogEntry(t, l, b)
			facts, err := entry.Describe(leaf)
			if err != nil || facts.Certificate == nil || !facts.Certificate.Equal(cert) {
				t.Errorf("the logged entry does not hold the bundle's certificate: %v", err)
			}
			checkTimestamp(t, l, b)
			checkJSON(t, b)
		})
	}
}

// checkSignature verifies the bundle's message signature over artifact.
func checkSignature(t *testing.T, b *protobundle.Bundle, pub crypto.PublicKey, artifact []byte) {
	t.Helper()
	ms := b.GetMessageSignature()
	var ok bool
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		d := sha256.Sum256(artifact)
		ok = ms.GetMessageDigest().GetAlgorithm() == v1.HashAlgorithm_SHA2_256 && bytes.Equal(ms.GetMessageDigest().GetDigest(), d[:]) &&
			ecdsa.VerifyASN1(k, d[:], ms.GetSignature())
	case ed25519.PublicKey:
		d := sha512.Sum512(artifact)
		ok = ms.GetMessageDigest().GetAlgorithm() == v1.HashAlgorithm_SHA2_512 && bytes.Equal(ms.GetMessageDigest().GetDigest(), d[:]) &&
			ed25519.VerifyWithOptions(k, d[:], ms.GetSignature(), &ed25519.Options{Hash: crypto.SHA512}) == nil
	default:
		t.Fatalf("unexpected key %T", pub)
	}
	if !ok {
		t.Error("the bundle's message signature does not verify over the artifact")
	}
	if b.GetMediaType() != sign.BundleMediaType {
		t.Errorf("media type %q", b.GetMediaType())
	}
}

// checkLogEntry verifies the bundle's one log entry against its checkpoint
// and returns the leaf.
func checkLogEntry(t *testing.T, l *mosaictest.Log, b *protobundle.Bundle) []byte {
	t.Helper()
	tles := b.GetVerificationMaterial().GetTlogEntries()
	if len(tles) != 1 {
		t.Fatalf("%d log entries, want 1", len(tles))
	}
	body, err := protojson.Marshal(tles[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CheckEntry(body); err != nil {
		t.Fatalf("log entry: %v", err)
	}
	ip := tles[0].GetInclusionProof()
	v, err := note.NewVerifier(l.Origin, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := note.VerifyCheckpoint([]byte(ip.GetCheckpoint().GetEnvelope()), l.Origin, v)
	if err != nil {
		t.Fatal(err)
	}
	leaf := tles[0].GetCanonicalizedBody()
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(ip.GetLogIndex()), cp.Size,
		rfc6962.DefaultHasher.HashLeaf(leaf), ip.GetHashes(), cp.Hash); err != nil {
		t.Errorf("inclusion proof against the checkpoint: %v", err)
	}
	return leaf
}

// checkTimestamp parses the bundle's timestamp and verifies it over the
// signature against the TSA's chain.
func checkTimestamp(t *testing.T, l *mosaictest.Log, b *protobundle.Bundle) {
	t.Helper()
	tss := b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()
	if len(tss) != 1 {
		t.Fatalf("%d timestamps, want 1", len(tss))
	}
	tsr := tss[0].GetSignedTimestamp()
	ts, err := timestamp.ParseResponse(tsr)
	if err != nil {
		t.Fatalf("timestamp does not parse: %v", err)
	}
	if d := time.Since(ts.Time); d < -time.Minute || d > time.Hour {
		t.Errorf("timestamp time %s", ts.Time)
	}
	c, err := client.New(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := c.TimestampCertChain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sig := b.GetMessageSignature().GetSignature()
	if _, err := verification.VerifyTimestampResponse(tsr, bytes.NewReader(sig), verification.VerifyOpts{
		TSACertificate: chain[0], Intermediates: chain[1 : len(chain)-1], Roots: chain[len(chain)-1:],
	}); err != nil {
		t.Errorf("timestamp does not verify over the signature: %v", err)
	}
}

func checkJSON(t *testing.T, b *protobundle.Bundle) {
	t.Helper()
	out, err := sign.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"`)) ||
		!bytes.Contains(out, []byte(`"messageSignature"`)) || !bytes.Contains(out, []byte(`"tlogEntries"`)) {
		t.Errorf("bundle JSON lacks expected members: %s", out)
	}
	var back protobundle.Bundle
	if err := protojson.Unmarshal(out, &back); err != nil || !proto.Equal(&back, b) {
		t.Errorf("bundle JSON does not round-trip: %v", err)
	}
}

// A token a CA would refuse is refused before any service is contacted.
func TestSignKeylessRefusesBadTokens(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Keyless: true})
	untouchable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a service was contacted: %s %s", r.Method, r.URL)
		http.Error(w, "no", http.StatusTeapot)
	}))
	t.Cleanup(untouchable.Close)
	s, err := sign.New(sign.Config{CAURL: untouchable.URL, LogURLs: []string{untouchable.URL}, TSAURLs: []string{untouchable.URL}})
	if err != nil {
		t.Fatal(err)
	}
	expired := handMadeJWT(t, map[string]any{"iss": "https://issuer", "sub": "bob", "aud": "sigstore", "exp": time.Now().Add(-time.Minute).Unix()})
	for _, tc := range []struct {
		name, token string
		want        error
		say         string
	}{
		{"other audience", mintToken(t, l, "email=alice@example.com&aud=other"), sign.ErrTokenAudience, `require "sigstore"`},
		{"expired", expired, sign.ErrTokenExpired, "expired at"},
		{"not a JWT", "hello", sign.ErrTokenMalformed, "compact JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.SignKeyless(context.Background(), tc.token, strings.NewReader("x"))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.say) {
				t.Errorf("err %v, want %v saying %q", err, tc.want, tc.say)
			}
		})
	}
}

func handMadeJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte("sig"))
}

func TestSignWithKey(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Keyless: true})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	for name, keyPEM := range map[string][]byte{
		"PKCS#8 ECDSA":   pkcs8PEM(t, ecKey),
		"SEC 1 ECDSA":    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}),
		"PKCS#8 Ed25519": pkcs8PEM(t, edKey),
	} {
		t.Run(name, func(t *testing.T) {
			key, err := sign.LoadPrivateKey(keyPEM, nil)
			if err != nil {
				t.Fatal(err)
			}
			artifact := []byte("artifact signed with " + name)
			b, err := signerFor(t, l, "").SignWithKey(context.Background(), key, bytes.NewReader(artifact))
			if err != nil {
				t.Fatal(err)
			}
			hint, _ := sign.KeyHint(key.Public())
			if got := b.GetVerificationMaterial().GetPublicKey().GetHint(); got != hint || got == "" {
				t.Errorf("key hint %q, want %q", got, hint)
			}
			checkSignature(t, b, key.Public(), artifact)
			leaf := checkLogEntry(t, l, b)
			facts, err := entry.Describe(leaf)
			der, _ := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil || facts.Certificate != nil || facts.KeyFingerprint != entry.Fingerprint(der) {
				t.Errorf("the logged entry does not name the signing key: %v", err)
			}
			checkTimestamp(t, l, b)
		})
	}
}

func pkcs8PEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
