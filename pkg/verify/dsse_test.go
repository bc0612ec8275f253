package verify_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/sign"
	"github.com/mosaiclog/mosaic/pkg/verify"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/proto"
)

const testPredicateType = "https://mosaic.example/test-predicate/v1"

// attester signs attestations against e's log with pkg/sign.
func (e *env) attester(t testing.TB) *sign.Signer {
	t.Helper()
	s, err := sign.New(sign.Config{CAURL: e.log.URL, LogURLs: []string{e.log.URL}, TSAURLs: []string{e.log.URL + "/api/v1/timestamp"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// statement is an in-toto statement about artifact, named name.
func statement(t testing.TB, name string, artifact []byte) []byte {
	t.Helper()
	sub, err := sign.ArtifactSubject(name, bytes.NewReader(artifact))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sign.NewStatement(testPredicateType, []byte(`{"builder": "ci", "ok": true}`), sub)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestVerifyAttestation verifies keyless and key-signed DSSE bundles made
// by pkg/sign against a real log on both stores, by bytes and by digest,
// and checks what the result exposes.
func TestVerifyAttestation(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			e := newEnv(t, store)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			artifact := []byte("release v2.0.0\n")
			st := statement(t, "release.tar.gz", artifact)
			kl, err := e.attester(t).AttestKeyless(ctx, e.token(t, "alice@example.com"), st)
			if err != nil {
				t.Fatal(err)
			}
			key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			kb, err := e.attester(t).AttestWithKey(ctx, key, st)
			if err != nil {
				t.Fatal(err)
			}

			policy := e.policy("alice@example.com")
			policy.PredicateType, policy.SubjectName = testPredicateType, "release.tar.gz"
			res, err := verifyJSON(t, marshal(t, kl), verify.ArtifactBytes(artifact), e.trJSON, policy)
			if err != nil {
				t.Fatalf("keyless attestation: %v", err)
			}
			want := sha256.Sum256(artifact)
			if res.PredicateType != testPredicateType || res.Statement == nil || res.Subject == nil || res.Subject.Name != "release.tar.gz" ||
				res.DigestAlgorithm != crypto.SHA256 || !bytes.Equal(res.Digest, want[:]) || res.SAN != "alice@example.com" || res.SigningTime.IsZero() {
				t.Errorf("keyless attestation result: %+v", res)
			}
			if !json.Valid(res.Statement.Predicate) || !strings.Contains(string(res.Statement.Predicate), `"builder":"ci"`) {
				t.Errorf("predicate %s", res.Statement.Predicate)
			}
			if _, err := verifyJSON(t, marshal(t, kl), verify.ArtifactDigest(crypto.SHA256, want[:]), e.trJSON, e.policy("alice@example.com")); err != nil {
				t.Errorf("keyless attestation by digest: %v", err)
			}
			// A P-384 key signs (and the log records) the SHA-384 digest of the PAE.
			res, err = verifyJSON(t, marshal(t, kb), verify.ArtifactBytes(artifact), e.trJSON, verify.Policy{PublicKey: key.Public(), PredicateType: testPredicateType})
			if err != nil {
				t.Fatalf("key-signed attestation: %v", err)
			}
			if res.PredicateType != testPredicateType || res.SAN != "" || res.LogIndex != 1 {
				t.Errorf("key-signed attestation result: %+v", res)
			}
		})
	}
}

// TestVerifyAttestationRefusals: each way an attestation can be wrong is
// refused by the check that owns it.
func TestVerifyAttestationRefusals(t *testing.T) {
	e := newEnv(t, "posix")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	artifact := []byte("release v2.0.0\n")
	s := e.attester(t)
	token := e.token(t, "alice@example.com")
	good, err := s.AttestKeyless(ctx, token, statement(t, "release.tar.gz", artifact))
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.AttestKeyless(ctx, token, statement(t, "other.tar.gz", []byte("other")))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.SignKeyless(ctx, token, bytes.NewReader(artifact))
	if err != nil {
		t.Fatal(err)
	}
	policy := e.policy("alice@example.com")
	withPolicy := func(f func(p *verify.Policy)) verify.Policy { p := policy; f(&p); return p }
	edited := func(f func(b *protobundle.Bundle)) []byte {
		b := proto.Clone(good).(*protobundle.Bundle)
		f(b)
		return marshal(t, b)
	}
	sha512Digest := sha512.Sum512(artifact)
	tests := []struct {
		name     string
		bundle   []byte
		artifact verify.Artifact
		policy   verify.Policy
		check    verify.Check
		says     string
	}{
		{"other artifact", marshal(t, good), verify.ArtifactBytes([]byte("release v2.0.1\n")), policy,
			verify.CheckAttestationSubject, "its sha256 is"},
		{"digest of another algorithm", marshal(t, good), verify.ArtifactDigest(crypto.SHA512, sha512Digest[:]), policy,
			verify.CheckAttestationSubject, "given by its SHA-512 digest"},
		{"other subject name", marshal(t, good), verify.ArtifactBytes(artifact), withPolicy(func(p *verify.Policy) { p.SubjectName = "x.tar.gz" }),
			verify.CheckAttestationSubject, `the name is not "x.tar.gz"`},
		{"wrong predicate type", marshal(t, good), verify.ArtifactBytes(artifact), withPolicy(func(p *verify.Policy) { p.PredicateType = "https://slsa.dev/provenance/v1" }),
			verify.CheckPredicateType, testPredicateType},
		{"predicate type asked of a plain signature", marshal(t, plain), verify.ArtifactBytes(artifact), withPolicy(func(p *verify.Policy) { p.PredicateType = testPredicateType }),
			verify.CheckPredicateType, "plain signature"},
		{"tampered payload", edited(func(b *protobundle.Bundle) {
			b.GetDsseEnvelope().Payload = bytes.Replace(b.GetDsseEnvelope().Payload, []byte(`"ci"`), []byte(`"me"`), 1)
		}), verify.ArtifactBytes(artifact), policy, verify.CheckEnvelopeSignature, "PAE"},
		{"tampered payload type", edited(func(b *protobundle.Bundle) { b.GetDsseEnvelope().PayloadType = "application/json" }),
			verify.ArtifactBytes(artifact), policy, verify.CheckEnvelopeSignature, "does not verify"},
		{"tampered signature", edited(func(b *protobundle.Bundle) { b.GetDsseEnvelope().Signatures[0].Sig[10] ^= 1 }),
			verify.ArtifactBytes(artifact), policy, verify.CheckEnvelopeSignature, "does not verify"},
		{"another signature", edited(func(b *protobundle.Bundle) {
			b.GetDsseEnvelope().Signatures[0].Sig = other.GetDsseEnvelope().Signatures[0].Sig
		}), verify.ArtifactBytes(artifact), policy, verify.CheckEnvelopeSignature, "does not verify"},
		{"log entry of another attestation", edited(func(b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries = other.VerificationMaterial.TlogEntries
		}), verify.ArtifactBytes(artifact), policy, verify.CheckTlogEntryBody, "DSSE envelope (PAE)"},
		{"log entry of the artifact, not the PAE", edited(func(b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries = plain.VerificationMaterial.TlogEntries
		}), verify.ArtifactBytes(artifact), policy, verify.CheckTlogEntryBody, "DSSE envelope (PAE)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifyJSON(t, tc.bundle, tc.artifact, e.trJSON, tc.policy)
			wantCheck(t, err, tc.check)
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

// TestVerifyAttestationNotInToto: well-signed, well-logged envelopes
// whose payload is not an in-toto statement are refused as such.
func TestVerifyAttestationNotInToto(t *testing.T) {
	e := newEnv(t, "posix")
	artifact := []byte("release v2.0.0\n")
	for _, tc := range []struct{ name, payloadType, payload, says string }{
		{"other payload type", "text/plain", string(statement(t, "release.tar.gz", artifact)), "payload type"},
		{"not a statement", verify.InTotoPayloadType, `{"hello": "world"}`, "no _type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			pae := dsse.PAE(tc.payloadType, []byte(tc.payload))
			digest := sha256.Sum256(pae)
			sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			tle := e.logEntry(t, digest[:], sig, &pb.Verifier{
				KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
				Verifier:   &pb.Verifier_PublicKey{PublicKey: &pb.PublicKey{RawBytes: der}},
			})
			b := newBundle(digest[:], sig, tle, nil)
			b.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
				PayloadType: tc.payloadType, Payload: []byte(tc.payload), Signatures: []*protodsse.Signature{{Sig: sig}},
			}}
			b.VerificationMaterial.Content = &protobundle.VerificationMaterial_PublicKey{
				PublicKey: &protocommon.PublicKeyIdentifier{Hint: "k"},
			}
			_, err = verifyJSON(t, marshal(t, b), verify.ArtifactBytes(artifact), e.trJSON, verify.Policy{PublicKey: key.Public()})
			wantCheck(t, err, verify.CheckStatement)
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}
