package interop

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/e2e/interop/keyless"
	"github.com/mosaiclog/mosaic/pkg/sign"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

const attestType = "https://mosaic.example/interop/v1"

// TestAttestationInteropBothWays: a DSSE attestation made by sigstore-go's
// signer (the call cosign v3 attest-blob makes) against a real mosaicd
// verifies with Mosaic's pkg/verify, and one made by Mosaic's pkg/sign
// (mosaic attest) verifies with sigstore-go's verifier, offline against
// the deployment's trusted_root.json; each verifier refuses another
// artifact, and pkg/verify another predicate type.
func TestAttestationInteropBothWays(t *testing.T) {
	bin := buildMosaicd(t)
	const email = "dave@mosaic.test"
	ctx, url, cfg, token := keylessDeployment(t, bin, "posix", email)
	issuer := url + "/dev-oidc"
	tr, err := verify.ParseTrustedRoot(cfg.TrustedRoot)
	if err != nil {
		t.Fatal(err)
	}
	artifact := []byte("attested artifact\n")
	sub, err := sign.ArtifactSubject("artifact.bin", bytes.NewReader(artifact))
	if err != nil {
		t.Fatal(err)
	}
	statement, err := sign.NewStatement(attestType, []byte(`{"verdict": "good"}`), sub)
	if err != nil {
		t.Fatal(err)
	}
	policy := verify.Policy{CertificateIdentity: email, CertificateOIDCIssuer: issuer, PredicateType: attestType}

	t.Run("sigstore-go attests, mosaic verifies", func(t *testing.T) {
		raw, err := keyless.Attest(ctx, cfg, token, statement)
		if err != nil {
			t.Fatalf("sigstore-go could not attest against mosaicd: %v", err)
		}
		b, err := verify.ParseBundle(raw)
		if err != nil {
			t.Fatal(err)
		}
		if b.Envelope == nil {
			t.Fatalf("sigstore-go's bundle has no DSSE envelope: %s", raw)
		}
		res, err := verify.Verify(b, verify.ArtifactBytes(artifact), tr, policy)
		if err != nil {
			t.Fatalf("pkg/verify refused sigstore-go's attestation: %v", err)
		}
		if res.PredicateType != attestType || res.Subject.Name != "artifact.bin" || res.SAN != email {
			t.Errorf("verified %+v", res)
		}
		_, err = verify.Verify(b, verify.ArtifactBytes([]byte("other")), tr, policy)
		wantCheck(t, err, verify.CheckAttestationSubject)
		other := policy
		other.PredicateType = "https://slsa.dev/provenance/v1"
		_, err = verify.Verify(b, verify.ArtifactBytes(artifact), tr, other)
		wantCheck(t, err, verify.CheckPredicateType)
	})

	t.Run("mosaic attests, sigstore-go verifies", func(t *testing.T) {
		sc, err := sign.ParseSigningConfig(cfg.SigningConfig)
		if err != nil {
			t.Fatal(err)
		}
		scfg, err := sign.ConfigFromSigningConfig(sc, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s, err := sign.New(scfg)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := s.AttestKeyless(ctx, token, statement)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sign.MarshalBundle(pb)
		if err != nil {
			t.Fatal(err)
		}
		res, err := keyless.Verify(cfg.TrustedRoot, raw, artifact, email, issuer)
		if err != nil {
			t.Fatalf("sigstore-go refused an attestation from pkg/sign: %v", err)
		}
		if res.PredicateType != attestType || res.SAN != email || res.Timestamps < 1 {
			t.Errorf("sigstore-go verified %+v", res)
		}
		if _, err := keyless.Verify(cfg.TrustedRoot, raw, []byte("other"), email, issuer); err == nil {
			t.Error("sigstore-go verified the attestation for another artifact")
		}
	})
}

// wantCheck fails unless err is a *verify.Error for check.
func wantCheck(t *testing.T, err error, check verify.Check) {
	t.Helper()
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != check {
		t.Fatalf("error %v, want a %q failure", err, check)
	}
	t.Log(err)
}
