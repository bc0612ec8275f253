package verify_test

import (
	"errors"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

// checkTyped fails unless err is nil or a *verify.Error.
func checkTyped(t *testing.T, err error) {
	t.Helper()
	var ve *verify.Error
	if err != nil && !errors.As(err, &ve) {
		t.Fatalf("untyped error %T: %v", err, err)
	}
}

// FuzzParseBundle parses arbitrary bundles: nothing may panic, every error
// is typed.
func FuzzParseBundle(f *testing.F) {
	addBundleSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := verify.ParseBundle(data)
		checkTyped(t, err)
		if (b == nil) == (err == nil) {
			t.Fatalf("bundle %v with error %v", b, err)
		}
	})
}

// FuzzVerify verifies arbitrary bundles that parse against the golden
// trusted root, with a keyless and a key policy. Each run does real
// cryptography, so minimizing takes long: run it with -fuzzminimizetime=5s.
func FuzzVerify(f *testing.F) {
	tr, err := verify.ParseTrustedRoot(readFile(f, goldenTrustedRoot))
	if err != nil {
		f.Fatal(err)
	}
	pub, err := note.ParsePublicKey(readFile(f, goldenKeyPub))
	if err != nil {
		f.Fatal(err)
	}
	artifact := readFile(f, goldenArtifact)
	addBundleSeeds(f)
	keyless := verify.Policy{CertificateIdentity: goldenIdentity, CertificateOIDCIssuerRegexp: goldenIssuerRE}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := verify.ParseBundle(data)
		if err != nil {
			return
		}
		for _, p := range []verify.Policy{keyless, {PublicKey: pub}} {
			_, err := verify.Verify(b, verify.ArtifactBytes(artifact), tr, p)
			checkTyped(t, err)
		}
	})
}

func addBundleSeeds(f *testing.F) {
	f.Add(readFile(f, goldenKeyless))
	f.Add(readFile(f, goldenKey))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Add([]byte(`{}`))
}

// FuzzParseTrustedRoot parses arbitrary trusted roots and verifies the
// golden bundle and its checkpoint against those that parse (real
// cryptography: run it with -fuzzminimizetime=5s).
func FuzzParseTrustedRoot(f *testing.F) {
	artifact := readFile(f, goldenArtifact)
	b, err := verify.ParseBundle(readFile(f, goldenKeyless))
	if err != nil {
		f.Fatal(err)
	}
	checkpoint := []byte(b.Entries[0].GetInclusionProof().GetCheckpoint().GetEnvelope())
	f.Add(readFile(f, goldenTrustedRoot))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{}]}`))
	f.Add([]byte(`{}`))
	p := verify.Policy{CertificateIdentity: goldenIdentity, CertificateOIDCIssuerRegexp: goldenIssuerRE}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := verify.ParseTrustedRoot(data)
		checkTyped(t, err)
		if err != nil {
			return
		}
		_, err = verify.Verify(b, verify.ArtifactBytes(artifact), tr, p)
		checkTyped(t, err)
		_, err = tr.VerifyCheckpoint(checkpoint)
		checkTyped(t, err)
	})
}

// FuzzParseArtifactDigest must not panic and must return typed errors.
func FuzzParseArtifactDigest(f *testing.F) {
	f.Add("sha256:" + "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd")
	f.Add("sha512:00")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := verify.ParseArtifactDigest(s)
		checkTyped(t, err)
	})
}

// FuzzVerifyConsistency feeds arbitrary checkpoints and proofs to the
// consistency check of the golden log.
func FuzzVerifyConsistency(f *testing.F) {
	tr, err := verify.ParseTrustedRoot(readFile(f, goldenTrustedRoot))
	if err != nil {
		f.Fatal(err)
	}
	b, err := verify.ParseBundle(readFile(f, goldenKeyless))
	if err != nil {
		f.Fatal(err)
	}
	cp := []byte(b.Entries[0].GetInclusionProof().GetCheckpoint().GetEnvelope())
	f.Add(cp, cp, []byte{})
	f.Add(cp, cp, make([]byte, 64))
	f.Fuzz(func(t *testing.T, older, newer, proofBytes []byte) {
		var proof [][]byte
		for len(proofBytes) >= 32 {
			proof, proofBytes = append(proof, proofBytes[:32]), proofBytes[32:]
		}
		_, err := verify.VerifyConsistency(tr.Tlogs[0], older, newer, proof)
		checkTyped(t, err)
	})
}
