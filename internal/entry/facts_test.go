package entry_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/mosaictest"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// leafOf decodes s's request for artifact into the leaf the log stores.
func leafOf(t testing.TB, s *mosaictest.Signer, artifact []byte) []byte {
	t.Helper()
	d, err := entry.NewDecoder(entry.DefaultLimits, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := d.Decode(s.Request(t, artifact))
	if err != nil {
		t.Fatal(err)
	}
	return e.Body
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestDescribePublicKey(t *testing.T) {
	for alg, digestAlg := range map[mosaictest.Algorithm]string{
		mosaictest.ECDSAP256: "sha256", mosaictest.ECDSAP384: "sha384", mosaictest.ECDSAP521: "sha512",
		mosaictest.Ed25519ph: "sha512", mosaictest.RSA2048: "sha256",
	} {
		t.Run(string(alg), func(t *testing.T) {
			s := mosaictest.NewSigner(t, alg)
			artifact := []byte("artifact " + string(alg))
			f, err := entry.Describe(leafOf(t, s, artifact))
			if err != nil {
				t.Fatal(err)
			}
			h := s.Hash().New()
			h.Write(artifact)
			if want := digestAlg + ":" + hex.EncodeToString(h.Sum(nil)); f.Digest != want {
				t.Errorf("Digest %q, want %q", f.Digest, want)
			}
			if want := sha256Hex(s.PublicKeyDER); f.KeyFingerprint != want {
				t.Errorf("KeyFingerprint %q, want %q", f.KeyFingerprint, want)
			}
			if f.Kind != "hashedrekord" || f.Version != "0.0.2" {
				t.Errorf("kind %q version %q", f.Kind, f.Version)
			}
			if f.Certificate != nil || f.CertFingerprint != "" || f.SANs != nil || f.Issuer != "" {
				t.Errorf("certificate facts for a public key: %+v", f)
			}
		})
	}
}

func TestDescribeCertSigner(t *testing.T) {
	s := mosaictest.NewCertSigner(t, "alice@example.com")
	f, err := entry.Describe(leafOf(t, s, []byte("a")))
	if err != nil {
		t.Fatal(err)
	}
	if f.Certificate == nil || f.CertFingerprint != sha256Hex(s.CertDER) {
		t.Errorf("certificate %v, fingerprint %q; want the signer's", f.Certificate != nil, f.CertFingerprint)
	}
	// The key fingerprint is the certificate's key, as for a public key.
	if f.KeyFingerprint != sha256Hex(s.PublicKeyDER) {
		t.Errorf("KeyFingerprint %q, want %q", f.KeyFingerprint, sha256Hex(s.PublicKeyDER))
	}
	if !slices.Equal(f.SANs, []string{"alice@example.com"}) || f.Issuer != "" {
		t.Errorf("SANs %q issuer %q; want alice@example.com and no issuer", f.SANs, f.Issuer)
	}
}

var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// certSigner is a P-256 signer with a self-signed certificate built from
// tmpl (serial, validity and key usage filled in).
func certSigner(t *testing.T, tmpl *x509.Certificate) *mosaictest.Signer {
	t.Helper()
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Key.Public(), s.Key)
	if err != nil {
		t.Fatal(err)
	}
	s.CertDER = der
	return s
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDescribeFulcioCertificate(t *testing.T) {
	issuer := "https://token.actions.githubusercontent.com"
	repo, _ := url.Parse("https://github.com/mosaiclog/mosaic/.github/workflows/release.yml@refs/heads/main")
	otherName, err := cryptoutils.MarshalOtherNameSAN("alice!example.org", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		tmpl       *x509.Certificate
		sans       []string
		wantIssuer string
	}{
		{"email and issuer v2", &x509.Certificate{EmailAddresses: []string{"a@example.com", "b@example.com"},
			ExtraExtensions: []pkix.Extension{{Id: oidIssuerV2, Value: mustMarshal(t, issuer)}}},
			[]string{"a@example.com", "b@example.com"}, issuer},
		{"uri and issuer v1", &x509.Certificate{URIs: []*url.URL{repo},
			ExtraExtensions: []pkix.Extension{{Id: oidIssuerV1, Value: []byte(issuer)}}},
			[]string{repo.String()}, issuer},
		{"v2 wins over v1", &x509.Certificate{EmailAddresses: []string{"a@example.com"},
			ExtraExtensions: []pkix.Extension{{Id: oidIssuerV1, Value: []byte("https://old")},
				{Id: oidIssuerV2, Value: mustMarshal(t, issuer)}}},
			[]string{"a@example.com"}, issuer},
		{"otherName username", &x509.Certificate{ExtraExtensions: []pkix.Extension{*otherName,
			{Id: oidIssuerV2, Value: mustMarshal(t, issuer)}}},
			[]string{"alice!example.org"}, issuer},
		{"malformed v2 issuer", &x509.Certificate{EmailAddresses: []string{"a@example.com"},
			ExtraExtensions: []pkix.Extension{{Id: oidIssuerV2, Value: []byte{0x0c, 0x7f}}}},
			[]string{"a@example.com"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := certSigner(t, c.tmpl)
			f, err := entry.Describe(leafOf(t, s, []byte(c.name)))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.SANs, c.sans) {
				t.Errorf("SANs %q, want %q", f.SANs, c.sans)
			}
			if f.Issuer != c.wantIssuer {
				t.Errorf("Issuer %q, want %q", f.Issuer, c.wantIssuer)
			}
			if f.KeyFingerprint != sha256Hex(s.PublicKeyDER) || f.CertFingerprint != sha256Hex(s.CertDER) {
				t.Errorf("fingerprints %q %q", f.KeyFingerprint, f.CertFingerprint)
			}
		})
	}
}

// mutateLeaf changes a leaf's JSON: the log holds whatever was appended, so
// Describe must cope with leaves no decoder of today would write.
func mutateLeaf(t *testing.T, leaf []byte, f func(hr map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(leaf, &m); err != nil {
		t.Fatal(err)
	}
	f(m["spec"].(map[string]any)["hashedRekordV002"].(map[string]any))
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDescribeUnparsableCertificate(t *testing.T) {
	s := mosaictest.NewCertSigner(t, "alice@example.com")
	garbage := []byte("not a certificate")
	leaf := mutateLeaf(t, leafOf(t, s, []byte("a")), func(hr map[string]any) {
		ver := hr["signature"].(map[string]any)["verifier"].(map[string]any)
		ver["x509Certificate"] = map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(garbage)}
	})
	f, err := entry.Describe(leaf)
	if err != nil {
		t.Fatalf("a leaf with an unparsable certificate: %v; want the other facts", err)
	}
	if !strings.HasPrefix(f.Digest, "sha256:") || f.CertFingerprint != sha256Hex(garbage) {
		t.Errorf("digest %q, cert fingerprint %q", f.Digest, f.CertFingerprint)
	}
	if f.Certificate != nil || f.KeyFingerprint != "" || f.SANs != nil || f.Issuer != "" {
		t.Errorf("facts from an unparsable certificate: %+v", f)
	}
}

func TestDescribeErrors(t *testing.T) {
	good := leafOf(t, mosaictest.NewSigner(t, mosaictest.ECDSAP256), []byte("a"))
	dsse := strings.Replace(string(good), `"hashedRekordV002"`, `"dsseV002"`, 1)
	for name, leaf := range map[string]string{
		"empty":           "",
		"not JSON":        "garbage",
		"JSON null":       "null",
		"JSON array":      "[]",
		"empty object":    "{}",
		"a certificate":   "\x30\x82\x01\x00",
		"dsse":            strings.Replace(dsse, `"hashedrekord"`, `"dsse"`, 1),
		"kind mismatch":   strings.Replace(string(good), `"hashedrekord"`, `"dsse"`, 1),
		"no spec":         `{"kind":"hashedrekord","apiVersion":"0.0.2"}`,
		"wrong spec type": `{"kind":"hashedrekord","apiVersion":"0.0.2","spec":"x"}`,
		"bad base64":      `{"kind":"hashedrekord","apiVersion":"0.0.2","spec":{"hashedRekordV002":{"data":{"digest":"!!"}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			f, err := entry.Describe([]byte(leaf))
			if err == nil {
				t.Fatalf("Describe(%q) = %+v, want an error", leaf, f)
			}
			if err.Error() == "" {
				t.Error("empty error message")
			}
		})
	}
}

func TestDigestString(t *testing.T) {
	d := []byte{0xAB, 0x01}
	for alg, want := range map[v1.HashAlgorithm]string{
		v1.HashAlgorithm_SHA2_256:                   "sha256:ab01",
		v1.HashAlgorithm_SHA2_384:                   "sha384:ab01",
		v1.HashAlgorithm_SHA2_512:                   "sha512:ab01",
		v1.HashAlgorithm_SHA3_256:                   "sha3-256:ab01",
		v1.HashAlgorithm_SHA3_384:                   "sha3-384:ab01",
		v1.HashAlgorithm_HASH_ALGORITHM_UNSPECIFIED: "hash_algorithm_unspecified:ab01",
	} {
		if got := entry.DigestString(alg, d); got != want {
			t.Errorf("DigestString(%v) = %q, want %q", alg, got, want)
		}
	}
	if got := entry.DigestString(v1.HashAlgorithm(99), nil); got != "99:" {
		t.Errorf("DigestString(99) = %q", got)
	}
}

func TestFingerprint(t *testing.T) {
	// SHA-256 of the empty string.
	const want = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := entry.Fingerprint(nil); got != want {
		t.Errorf("Fingerprint(nil) = %q, want %q", got, want)
	}
}

// TestCertificateSANsEmpty: a certificate without SANs has none, and
// without issuer extensions no issuer.
func TestCertificateSANsEmpty(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if sans := entry.CertificateSANs(cert); len(sans) != 0 {
		t.Errorf("SANs %q, want none", sans)
	}
	if iss := entry.CertificateIssuer(cert); iss != "" {
		t.Errorf("issuer %q, want none", iss)
	}
}

// FuzzDescribe checks that no leaf makes Describe panic, that it answers
// the same twice, and that the facts it returns are well formed.
func FuzzDescribe(f *testing.F) {
	f.Add(leafOf(f, mosaictest.NewSigner(f, mosaictest.ECDSAP256), []byte("seed")))
	f.Add(leafOf(f, mosaictest.NewCertSigner(f, "fuzz@example.com"), []byte("seed")))
	f.Add([]byte(`{"kind":"hashedrekord","apiVersion":"0.0.2","spec":{"hashedRekordV002":{}}}`))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		a, errA := entry.Describe(leaf)
		b, errB := entry.Describe(leaf)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("Describe answered %v then %v", errA, errB)
		}
		if errA != nil {
			if errA.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if a.Digest != b.Digest || a.KeyFingerprint != b.KeyFingerprint || a.Issuer != b.Issuer || !slices.Equal(a.SANs, b.SANs) {
			t.Fatalf("Describe answered %+v then %+v", a, b)
		}
		if a.Kind != entry.HashedRekordKind {
			t.Fatalf("kind %q", a.Kind)
		}
		for _, fp := range []string{a.KeyFingerprint, a.CertFingerprint} {
			if fp != "" && (len(fp) != len("sha256:")+64 || !strings.HasPrefix(fp, "sha256:")) {
				t.Fatalf("malformed fingerprint %q", fp)
			}
		}
		if a.Certificate == nil && (a.SANs != nil || a.Issuer != "") {
			t.Fatalf("certificate facts without a certificate: %+v", a)
		}
	})
}
