package interop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/mosaictest"
	"github.com/mosaiclog/mosaic/pkg/note"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	bundleMediaType      = "application/vnd.dev.sigstore.bundle.v0.3+json"
	trustedRootMediaType = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
	testEmail            = "signer@mosaic.test"
	testIssuer           = "https://issuer.mosaic.test"
)

// TestSigstoreGoVerifiesMosaicEntries signs with every key kind Mosaic
// accepts, submits through Mosaic's write API, wraps the returned entry in a
// Sigstore bundle v0.3 and has sigstore-go verify it offline against a
// trusted root naming only the log's URL, key and ID.
func TestSigstoreGoVerifiesMosaicEntries(t *testing.T) {
	lg := mosaictest.NewLog(t, mosaictest.Options{})
	// Entries ahead of the ones under test, so that their inclusion proofs
	// carry sibling hashes and the checkpoint covers a tree of several leaves.
	fill(t, lg, 3)

	for _, tc := range []struct {
		name   string
		signer func(t *testing.T) *mosaictest.Signer
	}{
		{"ecdsa-p256", keySigner(mosaictest.ECDSAP256)},
		{"ecdsa-p384", keySigner(mosaictest.ECDSAP384)},
		{"ecdsa-p521", keySigner(mosaictest.ECDSAP521)},
		{"ed25519ph", keySigner(mosaictest.Ed25519ph)},
		{"rsa-2048", keySigner(mosaictest.RSA2048)},
		{"certificate", func(t *testing.T) *mosaictest.Signer { return mosaictest.NewCertSigner(t, testEmail) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.signer(t)
			// A certificate signer's self-signed certificate is its own
			// certificate authority.
			tr := trustedRoot(t, trustedLog{URL: lg.URL, Key: lg.Key.Public(), LogID: specLogID(t, lg.URL, lg.Key.Public()), CA: parseCert(t, s.CertDER)})
			artifact := []byte("mosaic interop artifact, " + tc.name + "\n")
			sb := submitSigned(t, lg, s, artifact)

			// sigstore-go does not hash canonicalizedBody: it rebuilds the
			// entry from the bundle and hashes that. Mosaic's leaf must be
			// that rebuild byte for byte, or no proof could verify.
			if got, want := rfc6962.DefaultHasher.HashLeaf(sb.tle.GetCanonicalizedBody()), rebuiltLeafHash(t, s, sb.digest, sb.sig); !bytes.Equal(got, want) {
				t.Fatalf("Mosaic logged leaf %x; sigstore-go rebuilds %x from the bundle\nbody: %s", got, want, sb.tle.GetCanonicalizedBody())
			}
			if kv := sb.tle.GetKindVersion(); kv.GetKind() != "hashedrekord" || kv.GetVersion() != "0.0.2" {
				t.Errorf("kindVersion = %v, want hashedrekord 0.0.2", kv)
			}
			if len(sb.tle.GetInclusionProof().GetHashes()) == 0 {
				t.Errorf("inclusion proof for index %d has no hashes; the tree should hold several leaves", sb.tle.GetLogIndex())
			}

			b := loadBundle(t, sb.bundle)
			res, err := sb.verify(tr, b, artifact)
			if err != nil {
				t.Fatalf("sigstore-go rejected Mosaic's entry: %v\nbundle: %s", err, protojson.Format(sb.bundle))
			}
			if s.CertDER != nil {
				if res.VerifiedIdentity == nil || res.Signature.Certificate.SubjectAlternativeName != testEmail {
					t.Errorf("verified identity = %+v, want SAN %s", res.VerifiedIdentity, testEmail)
				}
			} else if res.Signature.PublicKeyID == nil || string(*res.Signature.PublicKeyID) != sb.hint {
				t.Errorf("verified public key ID = %v, want hint %q", res.Signature.PublicKeyID, sb.hint)
			}
		})
	}
}

// TestSigstoreGoRejectsTampering is the negative control for the test above:
// the same verifier, given a bundle or trusted root that differs in one
// place, must fail, and fail at the step that checks that place.
func TestSigstoreGoRejectsTampering(t *testing.T) {
	lg := mosaictest.NewLog(t, mosaictest.Options{})
	fill(t, lg, 3)
	certSigner := mosaictest.NewCertSigner(t, testEmail)
	ca := parseCert(t, certSigner.CertDER)
	logID := specLogID(t, lg.URL, lg.Key.Public())
	good := trustedLog{URL: lg.URL, Key: lg.Key.Public(), LogID: logID, CA: ca}

	otherKey, err := note.GenerateKey(note.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	otherID := specLogID(t, lg.URL, otherKey.Public())
	u, _ := url.Parse(lg.URL)
	otherHostURL := "http://localhost:" + u.Port()

	artifact := []byte("mosaic interop artifact, tamper controls\n")
	keyEntry := submitSigned(t, lg, mosaictest.NewSigner(t, mosaictest.ECDSAP256), artifact)
	certEntry := submitSigned(t, lg, certSigner, artifact)
	if len(keyEntry.tle.GetInclusionProof().GetHashes()) == 0 {
		t.Fatal("inclusion proof has no hashes to flip")
	}

	for _, tc := range []struct {
		name     string
		entry    *signedEntry
		root     trustedLog
		mutate   func(t *testing.T, b *protobundle.Bundle, artifact []byte) []byte
		identity string // SAN to require, for the certificate entry
		wantErr  string // empty: must verify
	}{
		{name: "unchanged key bundle", entry: keyEntry, root: good},
		{name: "unchanged certificate bundle", entry: certEntry, root: good},
		{
			// A trusted root made for another log key (with that key's log
			// ID, as cosign trusted-root create would write it) does not
			// name this log at all: the entry is skipped.
			name: "trusted root holds another log key", entry: keyEntry,
			root:    trustedLog{URL: lg.URL, Key: otherKey.Public(), LogID: otherID, CA: ca},
			wantErr: "not enough verified log entries from transparency log: 0 < 1",
		},
		{
			// The same log ID bound to another key: the checkpoint's
			// signature is checked and does not verify.
			name: "trusted root binds this log ID to another key", entry: keyEntry,
			root:    trustedLog{URL: lg.URL, Key: otherKey.Public(), LogID: logID, CA: ca},
			wantErr: "note has no verifiable signatures",
		},
		{
			// The note verifier is named for the hostname of baseUrl, so a
			// root for localhost cannot verify a checkpoint for 127.0.0.1.
			name: "trusted root names another hostname", entry: keyEntry,
			root:    trustedLog{URL: otherHostURL, Key: lg.Key.Public(), LogID: logID, CA: ca},
			wantErr: "note has no verifiable signatures",
		},
		{
			name: "one proof hash flipped", entry: keyEntry, root: good,
			mutate: func(t *testing.T, b *protobundle.Bundle, a []byte) []byte {
				b.GetVerificationMaterial().GetTlogEntries()[0].GetInclusionProof().GetHashes()[0][7] ^= 0x10
				return a
			},
			wantErr: "verifying inclusion",
		},
		{
			name: "artifact changed by one byte", entry: keyEntry, root: good,
			mutate: func(t *testing.T, b *protobundle.Bundle, a []byte) []byte {
				a = bytes.Clone(a)
				a[0] ^= 0x01
				return a
			},
			wantErr: "failed to verify signature",
		},
		{
			// A second, equally valid signature over the same artifact was
			// never logged: the rebuilt leaf differs, so the proof fails
			// before the signature is even looked at.
			name: "bundle carries a valid signature that was not logged", entry: keyEntry, root: good,
			mutate: func(t *testing.T, b *protobundle.Bundle, a []byte) []byte {
				_, sig := keyEntry.signer.Sign(t, a)
				if bytes.Equal(sig, b.GetMessageSignature().GetSignature()) {
					t.Fatal("ECDSA produced the same signature twice")
				}
				b.GetMessageSignature().Signature = sig
				return a
			},
			wantErr: "verifying inclusion",
		},
		{
			name: "certificate names another identity", entry: certEntry, root: good,
			identity: "mallory@mosaic.test",
			wantErr:  "failed to verify certificate identity",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pb := proto.Clone(tc.entry.bundle).(*protobundle.Bundle)
			a := artifact
			if tc.mutate != nil {
				a = tc.mutate(t, pb, a)
			}
			e := *tc.entry
			if tc.identity != "" {
				e.identity = tc.identity
			}
			_, err := e.verify(trustedRoot(t, tc.root), loadBundle(t, pb), a)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("control bundle did not verify: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("sigstore-go accepted the bundle; want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			case err != nil:
				t.Logf("rejected as expected: %v", err)
			}
		})
	}
}

// TestSigstoreGoSignerWritesToMosaic has sigstore-go's own signer
// (sign.Bundle with a Rekor v2 transparency log) submit entries to Mosaic:
// the write API is wire-compatible with an unmodified client, and the
// bundles it writes verify.
func TestSigstoreGoSignerWritesToMosaic(t *testing.T) {
	lg := mosaictest.NewLog(t, mosaictest.Options{})
	fill(t, lg, 2)
	ca := newTestCA(t)
	tr := trustedRoot(t, trustedLog{URL: lg.URL, Key: lg.Key.Public(), LogID: specLogID(t, lg.URL, lg.Key.Public()), CA: ca.cert})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name string
		alg  protocommon.PublicKeyDetails
		cert bool
	}{
		{"ecdsa-p256", protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, false},
		{"ecdsa-p384", protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, false},
		{"ed25519ph", protocommon.PublicKeyDetails_PKIX_ED25519_PH, false},
		{"rsa-2048", protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, false},
		{"certificate", protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := sign.NewEphemeralKeypair(&sign.EphemeralKeypairOptions{Algorithm: tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			artifact := []byte("signed by sigstore-go, " + tc.name + "\n")
			rekor := sign.NewRekor(&sign.RekorOptions{BaseURL: lg.URL, Version: 2, Timeout: 20 * time.Second})
			opts := sign.BundleOptions{Context: ctx, TransparencyLogs: []sign.Transparency{rekor}}
			tm := root.TrustedMaterial(tr)
			vopts := []verify.VerifierOption{verify.WithTransparencyLog(1)}
			var policy verify.PolicyOption
			if tc.cert {
				opts.CertificateProvider = ca
				// Not opts.TrustedRoot: with a certificate, a Rekor log and
				// no TSA, sign.Bundle's self-check demands the log's
				// integrated time, which no Rekor v2 log provides.
				vopts = append(vopts, verify.WithCurrentTime())
				id, err := verify.NewShortCertificateIdentity(testIssuer, "", testEmail, "")
				if err != nil {
					t.Fatal(err)
				}
				policy = verify.WithCertificateIdentity(id)
			} else {
				tm = root.TrustedMaterialCollection{tr, keyMaterial(t, string(kp.GetHint()), kp.GetPublicKey())}
				// With a trusted root, sign.Bundle also verifies what it
				// built before returning it.
				opts.TrustedRoot = tm
				vopts = append(vopts, verify.WithNoObserverTimestamps())
				policy = verify.WithKey()
			}

			pb, err := sign.Bundle(&sign.PlainData{Data: artifact}, kp, opts)
			if err != nil {
				t.Fatalf("sigstore-go could not sign with Mosaic as its Rekor v2 log: %v", err)
			}
			tles := pb.GetVerificationMaterial().GetTlogEntries()
			if len(tles) != 1 {
				t.Fatalf("bundle has %d tlog entries, want 1", len(tles))
			}
			// What the client kept must still pass Mosaic's own strict check
			// (which, unlike sigstore-go, hashes canonicalizedBody and
			// compares the proof's size and root with the checkpoint).
			raw, err := protojson.Marshal(tles[0])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := lg.CheckEntry(raw); err != nil {
				t.Fatalf("entry sigstore-go received fails Mosaic's check: %v", err)
			}

			v, err := verify.NewVerifier(tm, vopts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(loadBundle(t, pb), verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), policy)); err != nil {
				t.Fatalf("sigstore-go rejected its own bundle from Mosaic: %v", err)
			}
		})
	}
}

// keySigner returns a constructor for a key-based mosaictest signer.
func keySigner(alg mosaictest.Algorithm) func(t *testing.T) *mosaictest.Signer {
	return func(t *testing.T) *mosaictest.Signer { return mosaictest.NewSigner(t, alg) }
}

// signedEntry is one submission to Mosaic and the bundle built from it.
type signedEntry struct {
	signer      *mosaictest.Signer
	digest, sig []byte
	tle         *rekorpb.TransparencyLogEntry
	hint        string // public-key hint, for key signers
	identity    string // SAN to require, for certificate signers
	bundle      *protobundle.Bundle
}

// submitSigned signs artifact with s, submits it to lg and builds the bundle
// a client would write: the message signature, the key hint or certificate,
// and Mosaic's TransparencyLogEntry verbatim.
func submitSigned(t *testing.T, lg *mosaictest.Log, s *mosaictest.Signer, artifact []byte) *signedEntry {
	t.Helper()
	req := s.RequestProto(t, artifact)
	body, err := protojson.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	hr := req.GetHashedRekordRequestV002()
	e := &signedEntry{
		signer: s,
		digest: hr.GetDigest(),
		sig:    hr.GetSignature().GetContent(),
		tle:    submit(t, lg, body),
	}
	vm := &protobundle.VerificationMaterial{TlogEntries: []*rekorpb.TransparencyLogEntry{e.tle}}
	if s.CertDER != nil {
		e.identity = testEmail
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: s.CertDER}}
	} else {
		e.hint = keyHint(s.PublicKeyDER)
		vm.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: e.hint}}
	}
	e.bundle = &protobundle.Bundle{
		MediaType:            bundleMediaType,
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: hashAlgorithm(t, s.Hash()), Digest: e.digest},
			Signature:     e.sig,
		}},
	}
	return e
}

// verify runs sigstore-go's verifier on b the way a user would: a key
// signature needs the key supplied as trusted material (looked up by the
// bundle's hint) and, Rekor v2 entries carrying no time, no observer
// timestamps; a certificate needs a time to check its validity at, and the
// only one available without a TSA is the current time.
func (e *signedEntry) verify(tr *root.TrustedRoot, b *bundle.Bundle, artifact []byte) (*verify.VerificationResult, error) {
	var (
		tm     root.TrustedMaterial = tr
		opts                        = []verify.VerifierOption{verify.WithTransparencyLog(1)}
		policy verify.PolicyOption
	)
	if e.identity != "" {
		// mosaictest's certificate has no Fulcio OIDC-issuer extension, so
		// the issuer sigstore-go reads is empty; match exactly that.
		id, err := verify.NewShortCertificateIdentity("", "^$", e.identity, "")
		if err != nil {
			return nil, err
		}
		opts = append(opts, verify.WithCurrentTime())
		policy = verify.WithCertificateIdentity(id)
	} else {
		pub, err := x509.ParsePKIXPublicKey(e.signer.PublicKeyDER)
		if err != nil {
			return nil, err
		}
		km, err := newKeyMaterial(e.hint, pub)
		if err != nil {
			return nil, err
		}
		tm = root.TrustedMaterialCollection{tr, km}
		opts = append(opts, verify.WithNoObserverTimestamps())
		policy = verify.WithKey()
	}
	v, err := verify.NewVerifier(tm, opts...)
	if err != nil {
		return nil, err
	}
	return v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), policy))
}

// submit POSTs a CreateEntryRequest body to lg and returns the entry after
// checking the response's status and type and running Mosaic's own strict
// entry check on it.
func submit(t *testing.T, lg *mosaictest.Log, body []byte) *rekorpb.TransparencyLogEntry {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Post(lg.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v2/log/entries: %s: %s", resp.Status, out)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	tle, err := lg.CheckEntry(out)
	if err != nil {
		t.Fatalf("response fails Mosaic's entry check: %v\n%s", err, out)
	}
	return tle
}

// fill submits n entries from a throwaway signer.
func fill(t *testing.T, lg *mosaictest.Log, n int) {
	t.Helper()
	s := mosaictest.NewSigner(t, mosaictest.ECDSAP256)
	for i := range n {
		submit(t, lg, s.Request(t, fmt.Appendf(nil, "filler %d", i)))
	}
}

// rebuiltLeafHash is the leaf hash sigstore-go derives from a bundle (see
// reconstructV2EntryHash in its pkg/verify/tlog.go): key details from the
// key (Ed25519 as Ed25519ph), the certificate DER or the re-marshalled PKIX
// key, the bundle's digest and signature.
func rebuiltLeafHash(t *testing.T, s *mosaictest.Signer, digest, sig []byte) []byte {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(s.PublicKeyDER)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := signature.GetDefaultAlgorithmDetails(pub, options.WithED25519ph())
	if err != nil {
		t.Fatal(err)
	}
	v := &rekortilespb.Verifier{KeyDetails: ad.GetSignatureAlgorithm()}
	if s.CertDER != nil {
		v.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: s.CertDER}}
	} else {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		v.Verifier = &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: der}}
	}
	h, err := hashedrekord.ToEntryHash(digest, &rekortilespb.Signature{Content: sig, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// specLogID derives the log ID of an Ed25519-keyed log at baseURL from the
// spec (the rule cosign trusted-root create and Rekor v2 follow), not from
// Mosaic's code: SHA-256(origin || "\n" || 0x01 || key), the origin being
// the URL's hostname.
func specLogID(t *testing.T, baseURL string, key crypto.PublicKey) []byte {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		t.Fatalf("log key is %T, want Ed25519", key)
	}
	h := sha256.New()
	h.Write([]byte(u.Hostname() + "\n"))
	h.Write([]byte{0x01})
	h.Write(pub)
	return h.Sum(nil)
}

// trustedLog is what a trusted root says about the one log it names.
type trustedLog struct {
	URL   string
	Key   crypto.PublicKey // Ed25519 checkpoint key
	LogID []byte
	CA    *x509.Certificate // optional certificate authority root
}

// trustedRoot writes trusted_root.json for l, as an operator would hand it
// to users, and loads it with sigstore-go.
func trustedRoot(t *testing.T, l trustedLog) *root.TrustedRoot {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(l.Key)
	if err != nil {
		t.Fatal(err)
	}
	tr := &prototrustroot.TrustedRoot{
		MediaType: trustedRootMediaType,
		Tlogs: []*prototrustroot.TransparencyLogInstance{{
			BaseUrl:       l.URL,
			HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
			PublicKey: &protocommon.PublicKey{
				RawBytes:   der,
				KeyDetails: protocommon.PublicKeyDetails_PKIX_ED25519,
				ValidFor:   &protocommon.TimeRange{Start: timestamppb.New(time.Now().Add(-time.Hour))},
			},
			LogId: &protocommon.LogId{KeyId: l.LogID},
		}},
	}
	if l.CA != nil {
		tr.CertificateAuthorities = []*prototrustroot.CertificateAuthority{caEntry(l.CA)}
	}
	js, err := protojson.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := root.NewTrustedRootFromJSON(js)
	if err != nil {
		t.Fatalf("sigstore-go rejects the trusted root: %v\n%s", err, js)
	}
	return r
}

// parseCert parses der, or returns nil for nil.
func parseCert(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	if der == nil {
		return nil
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caEntry(c *x509.Certificate) *prototrustroot.CertificateAuthority {
	return &prototrustroot.CertificateAuthority{
		Subject:   &protocommon.DistinguishedName{Organization: "Mosaic tests", CommonName: "interop"},
		Uri:       "https://ca.mosaic.test",
		CertChain: &protocommon.X509CertificateChain{Certificates: []*protocommon.X509Certificate{{RawBytes: c.Raw}}},
		ValidFor:  &protocommon.TimeRange{Start: timestamppb.New(c.NotBefore), End: timestamppb.New(c.NotAfter)},
	}
}

// loadBundle round-trips pb through its JSON form and sigstore-go's
// loader, which is how a bundle file reaches a verifier.
func loadBundle(t *testing.T, pb *protobundle.Bundle) *bundle.Bundle {
	t.Helper()
	js, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(js); err != nil {
		t.Fatalf("sigstore-go cannot load the bundle: %v\n%s", err, js)
	}
	return &b
}

// keyHint names a public key in a bundle: base64 of SHA-256 of its PKIX DER,
// as sigstore-go's own signer does.
func keyHint(der []byte) string {
	h := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(h[:])
}

// newKeyMaterial supplies a signer's public key to the verifier under hint,
// with the default algorithm for its type (Ed25519 as Ed25519ph, which is
// what hashedrekord requires).
func newKeyMaterial(hint string, pub crypto.PublicKey) (root.TrustedMaterial, error) {
	v, err := signature.LoadDefaultVerifier(pub, options.WithED25519ph())
	if err != nil {
		return nil, err
	}
	k := root.NewExpiringKey(v, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	return root.NewTrustedPublicKeyMaterialFromMapping(map[string]*root.ExpiringKey{hint: k}), nil
}

func keyMaterial(t *testing.T, hint string, pub crypto.PublicKey) root.TrustedMaterial {
	t.Helper()
	m, err := newKeyMaterial(hint, pub)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func hashAlgorithm(t *testing.T, h crypto.Hash) protocommon.HashAlgorithm {
	t.Helper()
	switch h {
	case crypto.SHA256:
		return protocommon.HashAlgorithm_SHA2_256
	case crypto.SHA384:
		return protocommon.HashAlgorithm_SHA2_384
	case crypto.SHA512:
		return protocommon.HashAlgorithm_SHA2_512
	}
	t.Fatalf("no Sigstore hash algorithm for %v", h)
	return 0
}

// testCA is a stand-in for Fulcio: it issues short-lived code-signing
// certificates, shaped like Fulcio's, for whatever key sigstore-go asks
// about. It implements sign.CertificateProvider.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

var _ sign.CertificateProvider = (*testCA)(nil)

// oidIssuerV2 is Fulcio's OIDC issuer extension (a DER UTF8String).
var oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"Mosaic tests"}, CommonName: "interop CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{key: key, cert: cert}
}

// GetCertificate issues a certificate for the keypair's public key naming
// testEmail, issued by testIssuer, valid for ten minutes.
func (ca *testCA) GetCertificate(_ context.Context, kp sign.Keypair, _ *sign.CertificateProviderOptions) ([]byte, error) {
	issuer, err := asn1.MarshalWithParams(testIssuer, "utf8")
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		NotBefore:       time.Now().Add(-time.Minute),
		NotAfter:        time.Now().Add(10 * time.Minute),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses:  []string{testEmail},
		ExtraExtensions: []pkix.Extension{{Id: oidIssuerV2, Value: issuer}},
	}
	return x509.CreateCertificate(rand.Reader, tmpl, ca.cert, kp.GetPublicKey(), ca.key)
}
