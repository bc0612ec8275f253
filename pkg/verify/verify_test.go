package verify_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	fnote "github.com/transparency-dev/formats/note"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// TestVerifyValid verifies real keyless and key-signed bundles on both
// stores.
func TestVerifyValid(t *testing.T) {
	for _, store := range mosaictest.Stores {
		t.Run(store, func(t *testing.T) {
			e := newEnv(t, store)
			artifact := []byte("release v1.2.3\n")
			key := e.keyed(t, artifact, false)
			keyTS := e.keyed(t, artifact, true)
			kl := e.keyless(t, "alice@example.com", artifact, keylessOptions{})

			res, err := verifyJSON(t, kl.json, verify.ArtifactBytes(artifact), e.trJSON, e.policy("alice@example.com"))
			if err != nil {
				t.Fatalf("keyless: %v", err)
			}
			if res.SAN != "alice@example.com" || res.Issuer != e.issuer || res.SigningTime.IsZero() ||
				res.LogIndex != 2 || res.LogOrigin != e.log.Origin || res.Certificate == nil {
				t.Errorf("keyless result: %+v", res)
			}
			if got := res.Entries[0].Checkpoint; got.Size < 3 || got.Log.Origin != e.log.Origin || !bytes.Equal(got.Log.LogID, e.log.LogID) {
				t.Errorf("keyless checkpoint: %+v", got)
			}

			digest := sha256.Sum256(artifact)
			if _, err := verifyJSON(t, kl.json, verify.ArtifactDigest(crypto.SHA256, digest[:]), e.trJSON, e.policy("alice@example.com")); err != nil {
				t.Errorf("keyless by digest: %v", err)
			}
			for name, s := range map[string]*signed{"key": key, "key with timestamp": keyTS} {
				res, err := verifyJSON(t, s.json, verify.ArtifactBytes(artifact), e.trJSON, verify.Policy{PublicKey: s.key.Public()})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if res.SAN != "" || res.Certificate != nil || (name == "key") != res.SigningTime.IsZero() {
					t.Errorf("%s result: %+v", name, res)
				}
			}
		})
	}
}

// TestVerifyPolicyMatching checks exact and anchored regexp identities.
func TestVerifyPolicyMatching(t *testing.T) {
	e := newEnv(t, "posix")
	artifact := []byte("policy")
	kl := e.keyless(t, "alice@example.com", artifact, keylessOptions{})
	tests := []struct {
		name   string
		policy verify.Policy
		want   verify.Check // "" for success
	}{
		{"exact", e.policy("alice@example.com"), ""},
		{"regexps", verify.Policy{CertificateIdentityRegexp: `.*@example\.com`, CertificateOIDCIssuerRegexp: `http://127\.0\.0\.1:\d+/dev-oidc`}, ""},
		{"exact and regexp", verify.Policy{CertificateIdentity: "alice@example.com", CertificateIdentityRegexp: "alice@.*", CertificateOIDCIssuer: e.issuer}, ""},
		{"wrong identity", e.policy("bob@example.com"), verify.CheckIdentitySAN},
		{"regexp is anchored at the end", verify.Policy{CertificateIdentityRegexp: `alice@example\.co`, CertificateOIDCIssuer: e.issuer}, verify.CheckIdentitySAN},
		{"regexp is anchored at the start", verify.Policy{CertificateIdentityRegexp: `lice@example\.com`, CertificateOIDCIssuer: e.issuer}, verify.CheckIdentitySAN},
		{"alternation stays anchored", verify.Policy{CertificateIdentityRegexp: `bob@x|alice`, CertificateOIDCIssuer: e.issuer}, verify.CheckIdentitySAN},
		{"wrong issuer", verify.Policy{CertificateIdentity: "alice@example.com", CertificateOIDCIssuer: "https://accounts.google.com"}, verify.CheckIdentityIssuer},
		{"issuer regexp anchored", verify.Policy{CertificateIdentity: "alice@example.com", CertificateOIDCIssuerRegexp: `http://127\.0\.0\.1`}, verify.CheckIdentityIssuer},
		{"no identity", verify.Policy{CertificateOIDCIssuer: e.issuer}, verify.CheckPolicy},
		{"no issuer", verify.Policy{CertificateIdentity: "alice@example.com"}, verify.CheckPolicy},
		{"bad regexp", verify.Policy{CertificateIdentityRegexp: "(", CertificateOIDCIssuer: e.issuer}, verify.CheckPolicy},
		{"public key for a keyless bundle", verify.Policy{PublicKey: kl.key.Public(), CertificateIdentity: "alice@example.com", CertificateOIDCIssuer: e.issuer}, verify.CheckPolicy},
		{"threshold above witnesses", verify.Policy{CertificateIdentity: "alice@example.com", CertificateOIDCIssuer: e.issuer, WitnessThreshold: 1}, verify.CheckPolicy},
		{"bad witness key", verify.Policy{CertificateIdentity: "alice@example.com", CertificateOIDCIssuer: e.issuer, WitnessThreshold: 1, Witnesses: []string{"nope"}}, verify.CheckPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifyJSON(t, kl.json, verify.ArtifactBytes(artifact), e.trJSON, tt.policy)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCheck(t, err, tt.want)
		})
	}
}

// TestVerifyTampered changes one thing at a time in real bundles and
// trusted roots; each must fail its own check.
func TestVerifyTampered(t *testing.T) {
	e := newEnv(t, "posix")
	artifact := []byte("tamper me")
	key := e.keyed(t, artifact, false)
	kl := e.keyless(t, "alice@example.com", artifact, keylessOptions{})
	other := e.keyless(t, "alice@example.com", []byte("another artifact"), keylessOptions{})
	early := e.keyless(t, "alice@example.com", artifact, keylessOptions{timestampFirst: true})
	e.keyed(t, []byte("one more entry, so that the log grows"), false)
	policy := e.policy("alice@example.com")
	newer := latestCheckpoint(t, e)

	tests := []struct {
		name     string
		bundle   []byte
		artifact []byte
		tr       []byte
		policy   *verify.Policy
		want     verify.Check
	}{
		{name: "changed artifact", artifact: []byte("tamper me!"), want: verify.CheckArtifactDigest},
		{name: "changed digest", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			b.GetMessageSignature().MessageDigest.Digest[0] ^= 1
		}), want: verify.CheckArtifactDigest},
		{name: "changed signature", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			b.GetMessageSignature().Signature[10] ^= 1
		}), want: verify.CheckSignature},
		{name: "signature of another artifact", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			b.GetMessageSignature().Signature = other.bundle.GetMessageSignature().GetSignature()
		}), want: verify.CheckSignature},
		{name: "missing timestamp", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			b.VerificationMaterial.TimestampVerificationData = nil
		}), want: verify.CheckTimestamp},
		{name: "timestamp over another signature", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			b.VerificationMaterial.TimestampVerificationData = other.bundle.VerificationMaterial.TimestampVerificationData
		}), want: verify.CheckTimestamp},
		{name: "corrupt timestamp", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			ts := b.VerificationMaterial.TimestampVerificationData.Rfc3161Timestamps[0]
			ts.SignedTimestamp = ts.SignedTimestamp[:len(ts.SignedTimestamp)-8]
		}), want: verify.CheckTimestamp},
		{name: "TSA not trusted at the time", tr: editTrustedRoot(t, e.trJSON, func(m map[string]any) {
			first(m, "timestampAuthorities")["validFor"] = map[string]any{"start": "2100-01-01T00:00:00Z"}
		}), want: verify.CheckTimestamp},
		{name: "TSA key expired before the time", tr: editTrustedRoot(t, e.trJSON, func(m map[string]any) {
			first(m, "timestampAuthorities")["validFor"] = map[string]any{"start": "2000-01-01T00:00:00Z", "end": "2001-01-01T00:00:00Z"}
		}), want: verify.CheckTimestamp},
		{name: "certificate used outside its validity", bundle: early.json, want: verify.CheckCertificateValidity},
		{name: "CA not trusted at the time", tr: editTrustedRoot(t, e.trJSON, func(m map[string]any) {
			first(m, "certificateAuthorities")["validFor"] = map[string]any{"start": "2100-01-01T00:00:00Z"}
		}), want: verify.CheckCertificateChain},
		{name: "CA replaced by the TSA chain", tr: editTrustedRoot(t, e.trJSON, func(m map[string]any) {
			first(m, "certificateAuthorities")["certChain"] = first(m, "timestampAuthorities")["certChain"]
		}), want: verify.CheckCertificateChain},
		{name: "SCT log key replaced", tr: editTrustedRoot(t, e.trJSON, func(m map[string]any) {
			first(m, "ctlogs")["publicKey"].(map[string]any)["rawBytes"] = freshKeyB64(t)
		}), want: verify.CheckSCT},
		{name: "SCT from an unknown log", tr: editTrustedRoot(t, e.trJSON, func(m map[string]any) {
			first(m, "ctlogs")["logId"] = map[string]any{"keyId": base64.StdEncoding.EncodeToString(make([]byte, 32))}
		}), want: verify.CheckSCT},
		{name: "wrong identity", policy: &verify.Policy{CertificateIdentity: "mallory@example.com", CertificateOIDCIssuer: e.issuer}, want: verify.CheckIdentitySAN},
		{name: "wrong issuer", policy: &verify.Policy{CertificateIdentity: "alice@example.com", CertificateOIDCIssuer: "https://token.actions.githubusercontent.com"}, want: verify.CheckIdentityIssuer},
		{name: "body of another entry", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries = other.bundle.VerificationMaterial.TlogEntries
		}), want: verify.CheckTlogEntryBody},
		{name: "entry of another kind", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries[0].KindVersion.Version = "0.0.1"
		}), want: verify.CheckTlogEntryBody},
		{name: "altered proof hash", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			ip := b.VerificationMaterial.TlogEntries[0].InclusionProof
			ip.Hashes[0][0] ^= 1
		}), want: verify.CheckInclusionProof},
		{name: "altered log index", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries[0].LogIndex++
			b.VerificationMaterial.TlogEntries[0].InclusionProof.LogIndex++
		}), want: verify.CheckInclusionProof},
		{name: "altered checkpoint", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			cp := b.VerificationMaterial.TlogEntries[0].InclusionProof.Checkpoint
			lines := strings.SplitN(cp.Envelope, "\n", 4)
			lines[2] = base64.StdEncoding.EncodeToString(make([]byte, 32))
			cp.Envelope = strings.Join(lines, "\n")
		}), want: verify.CheckCheckpointSignature},
		{name: "checkpoint signed by an unknown key", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			cp := b.VerificationMaterial.TlogEntries[0].InclusionProof.Checkpoint
			cp.Envelope = resign(t, e.log.Origin, cp.Envelope)
		}), want: verify.CheckCheckpointSignature},
		{name: "entry names an unknown log", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries[0].LogId.KeyId = make([]byte, 32)
		}), want: verify.CheckCheckpointSignature},
		{name: "log key not trusted at the signing time", tr: editTrustedRoot(t, e.trJSON, func(m map[string]any) {
			first(m, "tlogs")["publicKey"].(map[string]any)["validFor"] = map[string]any{"start": "2100-01-01T00:00:00Z"}
		}), want: verify.CheckCheckpointSignature},
		{name: "checkpoint of another size", bundle: kl.mutated(t, func(b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries[0].InclusionProof.Checkpoint.Envelope = newer
		}), want: verify.CheckCheckpointRoot},
		{name: "key bundle with a wrong key", bundle: key.json, policy: &verify.Policy{PublicKey: other.key.Public()}, want: verify.CheckSignature},
		{name: "key bundle without a key", bundle: key.json, policy: &verify.Policy{}, want: verify.CheckPolicy},
		{name: "keyless entry for a key bundle", bundle: key.mutated(t, func(b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries = kl.bundle.VerificationMaterial.TlogEntries
		}), policy: &verify.Policy{PublicKey: key.key.Public()}, want: verify.CheckTlogEntryBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle, a, tr, p := kl.json, artifact, e.trJSON, policy
			if tt.bundle != nil {
				bundle = tt.bundle
			}
			if tt.artifact != nil {
				a = tt.artifact
			}
			if tt.tr != nil {
				tr = tt.tr
			}
			if tt.policy != nil {
				p = *tt.policy
			}
			_, err := verifyJSON(t, bundle, verify.ArtifactBytes(a), tr, p)
			wantCheck(t, err, tt.want)
			if !strings.HasPrefix(err.Error(), string(tt.want)+": ") {
				t.Errorf("message %q does not start with the check's name", err)
			}
		})
	}
}

// TestVerifyWitnesses adds real cosignatures to a bundle's checkpoint.
func TestVerifyWitnesses(t *testing.T) {
	e := newEnv(t, "posix")
	artifact := []byte("witnessed")
	kl := e.keyless(t, "alice@example.com", artifact, keylessOptions{})
	w1, w1v := newWitness(t, "witness.example/one")
	w2, w2v := newWitness(t, "witness.example/two")
	_, w3v := newWitness(t, "witness.example/three")
	cosigned := kl.mutated(t, func(b *protobundle.Bundle) {
		cp := b.VerificationMaterial.TlogEntries[0].InclusionProof.Checkpoint
		cp.Envelope = cosign(t, e, cp.Envelope, w1, w2)
	})
	tests := []struct {
		name      string
		bundle    []byte
		threshold int
		witnesses []string
		want      []string // nil: fails
	}{
		{"one of one", cosigned, 1, []string{w1v}, []string{"witness.example/one"}},
		{"two of three", cosigned, 2, []string{w3v, w2v, w1v}, []string{"witness.example/two", "witness.example/one"}},
		{"unknown witness", cosigned, 1, []string{w3v}, nil},
		{"three of three", cosigned, 3, []string{w1v, w2v, w3v}, nil},
		{"no cosignatures", kl.json, 1, []string{w1v}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.policy("alice@example.com")
			p.WitnessThreshold, p.Witnesses = tt.threshold, tt.witnesses
			res, err := verifyJSON(t, tt.bundle, verify.ArtifactBytes(artifact), e.trJSON, p)
			if tt.want == nil {
				wantCheck(t, err, verify.CheckWitnessCosignatures)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(res.Entries[0].Witnesses); got != fmt.Sprint(tt.want) {
				t.Errorf("witnesses %s, want %v", got, tt.want)
			}
		})
	}
}

// TestVerifyOtherDeployment checks that trust comes from the trusted root
// only: another Mosaic's trusted root refuses this one's bundles.
func TestVerifyOtherDeployment(t *testing.T) {
	e1, e2 := newEnv(t, "posix"), newEnv(t, "posix")
	artifact := []byte("deployment")
	kl := e1.keyless(t, "alice@example.com", artifact, keylessOptions{})
	_, err := verifyJSON(t, kl.json, verify.ArtifactBytes(artifact), e2.trJSON, e1.policy("alice@example.com"))
	wantCheck(t, err, verify.CheckTimestamp) // the first check that needs a trusted party
}

// latestCheckpoint returns the log's current signed checkpoint.
func latestCheckpoint(t testing.TB, e *env) string {
	t.Helper()
	status, body := do(t, "GET", e.log.URL+"/api/v2/checkpoint", "", nil, nil)
	if status != 200 {
		t.Fatalf("checkpoint: %d %s", status, body)
	}
	return string(body)
}

// resign signs the checkpoint body of envelope with a fresh key under
// origin, dropping the log's signature.
func resign(t testing.TB, origin, envelope string) string {
	t.Helper()
	key, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(context.Background(), origin, key)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := strings.Cut(envelope, "\n\n")
	out, err := sumdbnote.Sign(&sumdbnote.Note{Text: text + "\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// newWitness returns a cosignature/v1 signer and its verifier key.
func newWitness(t testing.TB, name string) (sumdbnote.Signer, string) {
	t.Helper()
	skey, vkey, err := sumdbnote.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// cosign adds the witnesses' cosignatures to a checkpoint the log signed.
func cosign(t testing.TB, e *env, envelope string, witnesses ...sumdbnote.Signer) string {
	t.Helper()
	v, err := note.NewVerifier(e.log.Origin, e.log.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	n, err := sumdbnote.Open([]byte(envelope), sumdbnote.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	out, err := sumdbnote.Sign(n, witnesses...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte(n.Text)) {
		t.Fatal("cosigning changed the checkpoint")
	}
	return string(out)
}

// freshKeyB64 is the base64 PKIX DER of a new P-256 key.
func freshKeyB64(t testing.TB) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}
