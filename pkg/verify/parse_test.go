package verify_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mosaiclog/mosaic/pkg/verify"
)

// editJSON returns data changed by f, which edits the generic JSON tree.
func editJSON(t testing.TB, data []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// obj walks a JSON tree along keys; a number key indexes a list.
func obj(m map[string]any, keys ...any) map[string]any {
	var v any = m
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v.(map[string]any)
}

func TestParseBundleErrors(t *testing.T) {
	good := readFile(t, goldenKeyless)
	key := readFile(t, goldenKey)
	edit := func(f func(m map[string]any)) []byte { return editJSON(t, good, f) }
	entry := func(m map[string]any) map[string]any { return obj(m, "verificationMaterial", "tlogEntries", 0) }
	// dsse turns the bundle into a DSSE one and edits its envelope.
	dsse := func(f func(env map[string]any)) []byte {
		return edit(func(m map[string]any) {
			delete(m, "messageSignature")
			env := map[string]any{"payload": "e30=", "payloadType": "application/vnd.in-toto+json",
				"signatures": []any{map[string]any{"sig": "AAAA"}}}
			f(env)
			m["dsseEnvelope"] = env
		})
	}
	tests := map[string][]byte{
		"empty":           nil,
		"null":            []byte("null"),
		"not JSON":        []byte("bundle"),
		"a JSON list":     []byte("[]"),
		"truncated":       good[:len(good)/2],
		"truncated by 1":  good[:len(good)-2],
		"unknown field":   edit(func(m map[string]any) { m["extra"] = true }),
		"no media type":   edit(func(m map[string]any) { delete(m, "mediaType") }),
		"unknown media":   edit(func(m map[string]any) { m["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.4+json" }),
		"no material":     edit(func(m map[string]any) { delete(m, "verificationMaterial") }),
		"no certificate":  edit(func(m map[string]any) { delete(obj(m, "verificationMaterial"), "certificate") }),
		"bad certificate": edit(func(m map[string]any) { obj(m, "verificationMaterial", "certificate")["rawBytes"] = "AAAA" }),
		"bad base64":      edit(func(m map[string]any) { obj(m, "verificationMaterial", "certificate")["rawBytes"] = "!!" }),
		"v0.3 with a chain": edit(func(m map[string]any) {
			vm := obj(m, "verificationMaterial")
			vm["x509CertificateChain"] = map[string]any{"certificates": []any{vm["certificate"]}}
			delete(vm, "certificate")
		}),
		"v0.1 with a certificate": edit(func(m map[string]any) { m["mediaType"] = verify.BundleMediaType01 }),
		"v0.2 with an empty chain": edit(func(m map[string]any) {
			m["mediaType"] = verify.BundleMediaType02
			vm := obj(m, "verificationMaterial")
			vm["x509CertificateChain"] = map[string]any{"certificates": []any{}}
			delete(vm, "certificate")
		}),
		"DSSE envelope without payload type": dsse(func(env map[string]any) { delete(env, "payloadType") }),
		"DSSE envelope without payload":      dsse(func(env map[string]any) { delete(env, "payload") }),
		"DSSE envelope without signatures":   dsse(func(env map[string]any) { delete(env, "signatures") }),
		"DSSE envelope with 2 signatures": dsse(func(env map[string]any) {
			env["signatures"] = []any{map[string]any{"sig": "AAAA"}, map[string]any{"sig": "BBBB"}}
		}),
		"DSSE envelope with an empty signature": dsse(func(env map[string]any) { env["signatures"] = []any{map[string]any{"keyid": "k"}} }),
		"DSSE envelope and message signature": edit(func(m map[string]any) {
			m["dsseEnvelope"] = map[string]any{"payload": "e30=", "payloadType": "application/vnd.in-toto+json",
				"signatures": []any{map[string]any{"sig": "AAAA"}}}
		}),
		"no message signature": edit(func(m map[string]any) { delete(m, "messageSignature") }),
		"empty signature":      edit(func(m map[string]any) { delete(obj(m, "messageSignature"), "signature") }),
		"no digest":            edit(func(m map[string]any) { delete(obj(m, "messageSignature"), "messageDigest") }),
		"SHA3 digest": edit(func(m map[string]any) {
			obj(m, "messageSignature", "messageDigest")["algorithm"] = "SHA3_256"
		}),
		"short digest": edit(func(m map[string]any) {
			obj(m, "messageSignature", "messageDigest")["digest"] = "AAAA"
		}),
		"no tlog entries":      edit(func(m map[string]any) { delete(obj(m, "verificationMaterial"), "tlogEntries") }),
		"entry without body":   edit(func(m map[string]any) { delete(entry(m), "canonicalizedBody") }),
		"entry without log ID": edit(func(m map[string]any) { delete(entry(m), "logId") }),
		"entry without proof":  edit(func(m map[string]any) { delete(entry(m), "inclusionProof") }),
		"entry without checkpoint": edit(func(m map[string]any) {
			delete(obj(entry(m), "inclusionProof"), "checkpoint")
		}),
		"entry with a bad index": edit(func(m map[string]any) { entry(m)["logIndex"] = "one" }),
		"empty timestamp": edit(func(m map[string]any) {
			obj(m, "verificationMaterial", "timestampVerificationData", "rfc3161Timestamps", 0)["signedTimestamp"] = ""
		}),
		"key bundle with no key material": editJSON(t, key, func(m map[string]any) {
			delete(obj(m, "verificationMaterial"), "publicKey")
		}),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := verify.ParseBundle(data)
			if b != nil {
				t.Errorf("got a bundle")
			}
			wantCheck(t, err, verify.CheckBundle)
		})
	}
}

// TestParseBundleOldVersions reads the keyless golden bundle recast as
// v0.1 and v0.2 (certificate chain) bundles; both verify.
func TestParseBundleOldVersions(t *testing.T) {
	trJSON, artifact := readFile(t, goldenTrustedRoot), readFile(t, goldenArtifact)
	for _, mt := range []string{verify.BundleMediaType01, verify.BundleMediaType02, verify.BundleMediaType03Legacy} {
		t.Run(mt, func(t *testing.T) {
			data := editJSON(t, readFile(t, goldenKeyless), func(m map[string]any) {
				m["mediaType"] = mt
				if mt == verify.BundleMediaType03Legacy {
					return
				}
				vm := obj(m, "verificationMaterial")
				vm["x509CertificateChain"] = map[string]any{"certificates": []any{vm["certificate"]}}
				delete(vm, "certificate")
			})
			res, err := verifyJSON(t, data, verify.ArtifactBytes(artifact), trJSON,
				verify.Policy{CertificateIdentity: goldenIdentity, CertificateOIDCIssuerRegexp: goldenIssuerRE})
			if err != nil {
				t.Fatal(err)
			}
			if res.SAN != goldenIdentity {
				t.Errorf("SAN %q", res.SAN)
			}
		})
	}
}

func TestParseTrustedRootErrors(t *testing.T) {
	good := readFile(t, goldenTrustedRoot)
	edit := func(f func(m map[string]any)) []byte { return editJSON(t, good, f) }
	tlog := func(m map[string]any) map[string]any { return obj(m, "tlogs", 0) }
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKIXPublicKey(rsaKey.Public())
	tests := map[string][]byte{
		"empty":         nil,
		"not JSON":      []byte("{"),
		"truncated":     good[:len(good)/2],
		"unknown field": edit(func(m map[string]any) { m["extra"] = 1 }),
		"unknown media": edit(func(m map[string]any) { m["mediaType"] = "application/vnd.dev.sigstore.trustedroot+json;version=0.9" }),
		"no tlogs":      edit(func(m map[string]any) { delete(m, "tlogs") }),
		"empty tlogs":   edit(func(m map[string]any) { m["tlogs"] = []any{} }),
		"tlog no key":   edit(func(m map[string]any) { delete(tlog(m), "publicKey") }),
		"tlog bad key":  edit(func(m map[string]any) { obj(tlog(m), "publicKey")["rawBytes"] = "AAAA" }),
		"tlog RSA key": edit(func(m map[string]any) {
			obj(tlog(m), "publicKey")["rawBytes"] = base64.StdEncoding.EncodeToString(rsaDER)
		}),
		"tlog SHA-384":  edit(func(m map[string]any) { tlog(m)["hashAlgorithm"] = "SHA2_384" }),
		"tlog short ID": edit(func(m map[string]any) { tlog(m)["logId"] = map[string]any{"keyId": "AAAA"} }),
		"tlog no ID":    edit(func(m map[string]any) { delete(tlog(m), "logId") }),
		"tlog no start": edit(func(m map[string]any) { delete(obj(tlog(m), "publicKey"), "validFor") }),
		"tlog no host":  edit(func(m map[string]any) { tlog(m)["baseUrl"] = "/relative" }),
		"bad time":      edit(func(m map[string]any) { obj(tlog(m), "publicKey", "validFor")["start"] = "yesterday" }),
		"end before start": edit(func(m map[string]any) {
			obj(tlog(m), "publicKey")["validFor"] = map[string]any{"start": "2026-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}
		}),
		"ctlog bad key":  edit(func(m map[string]any) { obj(m, "ctlogs", 0, "publicKey")["rawBytes"] = "AAAA" }),
		"CA no chain":    edit(func(m map[string]any) { delete(obj(m, "certificateAuthorities", 0), "certChain") }),
		"CA empty chain": edit(func(m map[string]any) { obj(m, "certificateAuthorities", 0)["certChain"] = map[string]any{} }),
		"CA bad cert": edit(func(m map[string]any) {
			obj(m, "certificateAuthorities", 0, "certChain", "certificates", 0)["rawBytes"] = "AAAA"
		}),
		"TSA no validity": edit(func(m map[string]any) { delete(obj(m, "timestampAuthorities", 0), "validFor") }),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			tr, err := verify.ParseTrustedRoot(data)
			if tr != nil {
				t.Errorf("got a trusted root")
			}
			wantCheck(t, err, verify.CheckTrustedRoot)
		})
	}
}

func TestParseTrustedRoot(t *testing.T) {
	good := readFile(t, goldenTrustedRoot)
	tr, err := verify.ParseTrustedRoot(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Tlogs) != 1 || len(tr.CTLogs) != 1 || len(tr.CertificateAuthorities) != 1 || len(tr.TimestampAuthorities) != 1 {
		t.Fatalf("trusted root: %+v", tr)
	}
	if tl := tr.Tlogs[0]; tl.Origin != "127.0.0.1" || len(tl.LogID) != 32 || tl.ValidFor.Start.IsZero() || !tl.ValidFor.End.IsZero() {
		t.Errorf("tlog: %+v", tl)
	}
	v2 := editJSON(t, good, func(m map[string]any) { m["mediaType"] = verify.TrustedRootMediaType02 })
	if _, err := verify.ParseTrustedRoot(v2); err != nil {
		t.Errorf("v0.2 media type: %v", err)
	}
}

func TestParseArtifactDigest(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	good := map[string]crypto.Hash{
		hex64:                                crypto.SHA256,
		"sha256:" + hex64:                    crypto.SHA256,
		"SHA256:" + hex64:                    crypto.SHA256,
		"sha384:" + strings.Repeat("01", 48): crypto.SHA384,
		"sha512:" + strings.Repeat("ff", 64): crypto.SHA512,
	}
	for s := range good {
		if _, err := verify.ParseArtifactDigest(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "sha256:", "sha256:" + hex64[:62], "sha256:" + hex64 + "00", "md5:" + hex64, "sha384:" + hex64,
		"sha256:" + strings.Repeat("zz", 32), ":" + hex64} {
		_, err := verify.ParseArtifactDigest(s)
		wantCheck(t, err, verify.CheckArtifactDigest)
	}
}

// TestVerifyByDigest verifies the golden bundle by digest only, and
// refuses a digest under another algorithm.
func TestVerifyByDigest(t *testing.T) {
	trJSON := readFile(t, goldenTrustedRoot)
	p := verify.Policy{CertificateIdentity: goldenIdentity, CertificateOIDCIssuerRegexp: goldenIssuerRE}
	b, err := verify.ParseBundle(readFile(t, goldenKeyless))
	if err != nil {
		t.Fatal(err)
	}
	a, err := verify.ParseArtifactDigest("sha256:" + hex.EncodeToString(b.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyJSON(t, readFile(t, goldenKeyless), a, trJSON, p); err != nil {
		t.Fatal(err)
	}
	a384, _ := verify.ParseArtifactDigest("sha384:" + strings.Repeat("00", 48))
	_, err = verifyJSON(t, readFile(t, goldenKeyless), a384, trJSON, p)
	wantCheck(t, err, verify.CheckArtifactDigest)
	_, err = verifyJSON(t, readFile(t, goldenKeyless), verify.Artifact{}, trJSON, p)
	wantCheck(t, err, verify.CheckArtifactDigest)
}

// TestVerifyNil refuses nil inputs with typed errors.
func TestVerifyNil(t *testing.T) {
	tr, err := verify.ParseTrustedRoot(readFile(t, goldenTrustedRoot))
	if err != nil {
		t.Fatal(err)
	}
	b, err := verify.ParseBundle(readFile(t, goldenKeyless))
	if err != nil {
		t.Fatal(err)
	}
	_, err = verify.Verify(nil, verify.ArtifactBytes(nil), tr, verify.Policy{})
	wantCheck(t, err, verify.CheckBundle)
	_, err = verify.Verify(b, verify.ArtifactBytes(nil), nil, verify.Policy{})
	wantCheck(t, err, verify.CheckTrustedRoot)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err = verify.VerifyConsistency(tr.Tlogs[0], nil, nil, nil)
	wantCheck(t, err, verify.CheckCheckpointSignature)
	_, err = verify.VerifyCosignatures(nil, 1, []string{"bad"})
	wantCheck(t, err, verify.CheckWitnessCosignatures)
	bad := &verify.TransparencyLog{Origin: "x", PublicKey: k.Public()}
	_, err = bad.VerifyCheckpoint([]byte("x\n1\nAAAA\n\n— x AAAA\n"))
	wantCheck(t, err, verify.CheckCheckpointSignature)
}
