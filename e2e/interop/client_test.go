package interop

import (
	"bytes"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/e2e/interop/keyless"
	"github.com/mosaiclog/mosaic/pkg/sign"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

// TestClientInteropBothWays: a bundle made by Mosaic's pkg/sign verifies
// with sigstore-go's verifier, and a bundle made by sigstore-go's signer
// verifies with Mosaic's pkg/verify, both offline against the
// trusted_root.json a real mosaicd (log, CA, TSA, dev OIDC issuer) emits;
// and each verifier refuses the other's bundle for the wrong identity or
// artifact.
func TestClientInteropBothWays(t *testing.T) {
	bin := buildMosaicd(t)
	for _, store := range []string{"posix", "postgres"} {
		t.Run(store, func(t *testing.T) {
			const email = "carol@mosaic.test"
			ctx, url, cfg, token := keylessDeployment(t, bin, store, email)
			issuer := url + "/dev-oidc"
			tr, err := verify.ParseTrustedRoot(cfg.TrustedRoot)
			if err != nil {
				t.Fatal(err)
			}
			policy := verify.Policy{CertificateIdentity: email, CertificateOIDCIssuer: issuer}

			t.Run("mosaic signs, sigstore-go verifies", func(t *testing.T) {
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
				data := []byte("signed by mosaic's pkg/sign")
				pb, err := s.SignKeyless(ctx, token, bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				raw, err := sign.MarshalBundle(pb)
				if err != nil {
					t.Fatal(err)
				}
				res, err := keyless.Verify(cfg.TrustedRoot, raw, data, email, issuer)
				if err != nil {
					t.Fatalf("sigstore-go refused a bundle from pkg/sign: %v", err)
				}
				if res.SAN != email || res.Timestamps < 1 {
					t.Errorf("sigstore-go verified %+v", res)
				}
				if _, err := keyless.Verify(cfg.TrustedRoot, raw, []byte("other"), email, issuer); err == nil {
					t.Error("sigstore-go accepted the bundle for another artifact")
				}
			})

			t.Run("sigstore-go signs, mosaic verifies", func(t *testing.T) {
				data := []byte("signed by sigstore-go's sign package")
				raw, err := keyless.Sign(ctx, cfg, token, data)
				if err != nil {
					t.Fatal(err)
				}
				b, err := verify.ParseBundle(raw)
				if err != nil {
					t.Fatal(err)
				}
				res, err := verify.Verify(b, verify.ArtifactBytes(data), tr, policy)
				if err != nil {
					t.Fatalf("pkg/verify refused sigstore-go's bundle: %v", err)
				}
				if res.SAN != email || res.Issuer != issuer || res.SigningTime.IsZero() {
					t.Errorf("pkg/verify verified %+v", res)
				}
				wrong := policy
				wrong.CertificateIdentity = "mallory@mosaic.test"
				if _, err := verify.Verify(b, verify.ArtifactBytes(data), tr, wrong); err == nil {
					t.Error("pkg/verify accepted the bundle for another identity")
				}
				if _, err := verify.Verify(b, verify.ArtifactBytes([]byte("other")), tr, policy); err == nil {
					t.Error("pkg/verify accepted the bundle for another artifact")
				}
			})
		})
	}
}
