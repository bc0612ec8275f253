package client_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"testing"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/sigstore/timestamp-authority/v2/pkg/verification"
)

func TestCAAndTSA(t *testing.T) {
	l := mosaictest.NewLog(t, mosaictest.Options{Keyless: true})
	c := newClient(t, l.URL)
	ctx := context.Background()

	t.Run("signingCert", func(t *testing.T) {
		const email = "alice@example.com"
		tok := mintToken(t, l, "email="+email)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256([]byte(email))
		pop, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		chain, err := c.SigningCert(ctx, client.CertificateRequest{IDToken: tok, PublicKey: key.Public(), ProofOfPossession: pop})
		if err != nil {
			t.Fatal(err)
		}
		if len(chain) < 2 || len(chain[0].EmailAddresses) != 1 || chain[0].EmailAddresses[0] != email {
			t.Fatalf("chain of %d, leaf SANs %v", len(chain), chain[0].EmailAddresses)
		}
		bundle, err := c.TrustBundle(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(bundle) != 1 || !bundle[0][len(bundle[0])-1].Equal(chain[len(chain)-1]) {
			t.Error("the trust bundle's root is not the chain's root")
		}

		// A proof over another claim is refused with the CA's reason.
		bad, _ := ecdsa.SignASN1(rand.Reader, key, make([]byte, 32))
		_, err = c.SigningCert(ctx, client.CertificateRequest{IDToken: tok, PublicKey: key.Public(), ProofOfPossession: bad})
		var he *client.Error
		if !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest || he.Code != 3 || he.Message == "" {
			t.Errorf("bad proof: %v, want a 400 with the CA's message", err)
		}
	})
	t.Run("configuration", func(t *testing.T) {
		issuers, err := c.CAConfiguration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(issuers) == 0 || issuers[0].IssuerURL == "" {
			t.Errorf("issuers %+v", issuers)
		}
	})
	t.Run("timestamp", func(t *testing.T) {
		data := []byte("a signature")
		tsr, ts, err := c.TimestampData(ctx, data)
		if err != nil {
			t.Fatal(err)
		}
		chain, err := c.TimestampCertChain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verification.VerifyTimestampResponse(tsr, bytes.NewReader(data), verification.VerifyOpts{
			TSACertificate: chain[0], Intermediates: chain[1 : len(chain)-1], Roots: chain[len(chain)-1:], Nonce: ts.Nonce,
		}); err != nil {
			t.Errorf("timestamp does not verify: %v", err)
		}
		if _, err := c.Timestamp(ctx, []byte("not DER")); err == nil {
			t.Error("a malformed timestamp request was granted")
		}
	})
	t.Run("trustedRoot", func(t *testing.T) {
		tr, raw, err := c.TrustedRoot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) == 0 || len(tr.GetTlogs()) != 1 || !bytes.Equal(tr.GetTlogs()[0].GetLogId().GetKeyId(), l.LogID) {
			t.Errorf("trusted root tlogs %v", tr.GetTlogs())
		}
		if len(tr.GetCertificateAuthorities()) == 0 || len(tr.GetTimestampAuthorities()) == 0 || len(tr.GetCtlogs()) == 0 {
			t.Error("trusted root lacks the CA, the TSA or the certificate log")
		}
		sc, _, err := c.SigningConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sc.GetMediaType() != "application/vnd.dev.sigstore.signingconfig.v0.2+json" || len(sc.GetRekorTlogUrls()) != 1 || len(sc.GetTsaUrls()) != 1 {
			t.Errorf("signing config %v", sc)
		}
		tsa := newClient(t, l.URL, client.WithTimestampURL(sc.GetTsaUrls()[0].GetUrl()))
		if _, _, err := tsa.TimestampData(ctx, []byte("x")); err != nil {
			t.Errorf("timestamp at the signing config's URL: %v", err)
		}
	})
}
