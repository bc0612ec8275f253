package trustroot

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/pkg/note"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const (
	createBase   = "https://mosaic.example.com"
	createOrigin = "mosaic.example.com"
	createStart  = "2026-02-03T04:05:06Z"
)

// createFixture is a deployment on disk, as `mosaicd ca init` leaves it plus
// the public keys of the log and the certificate log.
type createFixture struct {
	files          *pki.Files
	logPub, ctPub  string // paths of the PEM public keys
	logKey, ctKey  crypto.PublicKey
	caChain, tsa   []*x509.Certificate
	start          time.Time
	mosaicdRoot    []byte // what TrustedRoot writes for the same deployment
	mosaicdSigning []byte // what SigningConfig writes
}

func newCreateFixture(t *testing.T, alg note.Algorithm) *createFixture {
	t.Helper()
	files, err := pki.Init(filepath.Join(t.TempDir(), "keyless"), pki.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := &createFixture{files: files, start: mustTime(t, createStart)}
	if f.caChain, err = pki.LoadChain(files.CAChain); err != nil {
		t.Fatal(err)
	}
	if f.tsa, err = pki.LoadChain(files.TSAChain); err != nil {
		t.Fatal(err)
	}
	ctSigner, err := pki.LoadSigner(files.CTLogKey)
	if err != nil {
		t.Fatal(err)
	}
	logSigner, err := note.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	f.logKey, f.ctKey = logSigner.Public(), ctSigner.Public()
	f.logPub = writePublicKey(t, files.Dir, "log.pub", f.logKey)
	f.ctPub = writePublicKey(t, files.Dir, "ctlog.pub", f.ctKey)

	logID, err := note.LogID(createOrigin, f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	d := Deployment{
		BaseURL: createBase,
		OIDCURL: createBase + "/dev-oidc",
		Log:     &TLog{Origin: createOrigin, PublicKey: f.logKey, LogID: logID, Start: f.start},
		CA:      f.caChain,
		CTLog:   &TLog{Origin: createOrigin + "/certlog", PublicKey: f.ctKey, Start: f.start},
		TSA:     f.tsa,
	}
	if f.mosaicdRoot, err = TrustedRoot(d); err != nil {
		t.Fatal(err)
	}
	if f.mosaicdSigning, err = SigningConfig(d); err != nil {
		t.Fatal(err)
	}
	return f
}

// specs returns the trusted root specifications of the fixture's mosaicd.
func (f *createFixture) specs() TrustedRootSpecs {
	return TrustedRootSpecs{
		Fulcio: []string{"url=" + createBase + ",certificate-chain=" + f.files.CAChain},
		Rekor:  []string{"url=" + createBase + ",public-key=" + f.logPub + ",start-time=" + createStart},
		CTFE:   []string{"url=" + createBase + CertLogPath + ",public-key=" + f.ctPub + ",start-time=" + createStart},
		TSA:    []string{"url=" + createBase + TimestampPath + ",certificate-chain=" + f.files.TSAChain},
	}
}

func writePublicKey(t *testing.T, dir, name string, pub crypto.PublicKey) string {
	t.Helper()
	pemBytes, err := note.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func unmarshalRoot(t *testing.T, js []byte) *prototrustroot.TrustedRoot {
	t.Helper()
	var tr prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(js, &tr); err != nil {
		t.Fatalf("trusted root does not parse: %v\n%s", err, js)
	}
	return &tr
}

func unmarshalSigning(t *testing.T, js []byte) *prototrustroot.SigningConfig {
	t.Helper()
	var sc prototrustroot.SigningConfig
	if err := protojson.Unmarshal(js, &sc); err != nil {
		t.Fatalf("signing config does not parse: %v\n%s", err, js)
	}
	return &sc
}

// TestCreateTrustedRootMatchesMosaicd builds the trusted root of a mosaicd
// deployment from the files `mosaicd ca init` writes, with cosign's flags,
// and compares it with what mosaicd serves.
func TestCreateTrustedRootMatchesMosaicd(t *testing.T) {
	for _, alg := range []note.Algorithm{note.Ed25519, note.ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			f := newCreateFixture(t, alg)
			got, err := CreateTrustedRoot(f.specs(), os.ReadFile)
			if err != nil {
				t.Fatal(err)
			}
			if tr := unmarshalRoot(t, got); !proto.Equal(tr, unmarshalRoot(t, f.mosaicdRoot)) {
				t.Errorf("trusted root differs from mosaicd's:\ngot  %s\nwant %s", got, f.mosaicdRoot)
			}
			// A named origin equal to the hostname gives the same log ID.
			s := f.specs()
			s.Rekor[0] += ",origin=" + createOrigin
			s.CTFE[0] += ",origin=" + createOrigin + "/certlog"
			again, err := CreateTrustedRoot(s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, got) {
				t.Errorf("explicit origins changed the trusted root:\n%s", again)
			}
		})
	}
}

func TestCreateSigningConfigMatchesMosaicd(t *testing.T) {
	f := newCreateFixture(t, note.Ed25519)
	caStart := f.caChain[0].NotBefore.UTC().Format(time.RFC3339)
	tsaStart := f.tsa[0].NotBefore.UTC().Format(time.RFC3339)
	svc := func(url string, version int, start string) string {
		return fmt.Sprintf("url=%s,api-version=%d,start-time=%s,operator=mosaic", url, version, start)
	}
	got, err := CreateSigningConfig(SigningConfigSpecs{
		Fulcio:      []string{svc(createBase, 1, caStart)},
		OIDC:        []string{svc(createBase+"/dev-oidc", 1, caStart)},
		Rekor:       []string{svc(createBase, 2, createStart)},
		TSA:         []string{svc(createBase+TimestampPath, 1, tsaStart)},
		RekorConfig: "ANY",
		TSAConfig:   "any",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, f.mosaicdSigning) {
		t.Errorf("signing config differs from mosaicd's:\ngot  %s\nwant %s", got, f.mosaicdSigning)
	}
}

// TestCreateTrustedRootRoundTrip checks every value of a trusted root with
// several logs, end times and origins.
func TestCreateTrustedRootRoundTrip(t *testing.T) {
	f := newCreateFixture(t, note.Ed25519)
	oldPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	oldPath := writePublicKey(t, f.files.Dir, "old.pub", oldPub)
	s := TrustedRootSpecs{
		Fulcio: []string{" url = https://ca.example.com , certificate-chain=" + f.files.CAChain +
			",start-time=2026-01-01T00:00:00+01:00,end-time=2027-01-01T00:00:00Z"},
		Rekor: []string{
			"url=https://old.example.com/log,public-key=" + oldPath + ",start-time=2025-01-01T00:00:00Z,end-time=2026-01-01T00:00:00Z,origin=old.example.com/log",
			"url=https://log.example.com:8443,public-key=" + f.logPub + ",start-time=2026-01-01T00:00:00Z,end-time=",
		},
		CTFE: []string{"url=https://ct.example.com,public-key=" + f.ctPub + ",start-time=2026-01-01T00:00:00Z,origin=ct.example.com"},
		TSA:  []string{"url=https://tsa.example.com,certificate-chain=" + f.files.TSAChain + ",end-time=2030-01-01T00:00:00Z"},
	}
	js, err := CreateTrustedRoot(s, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	tr := unmarshalRoot(t, js)
	if tr.GetMediaType() != "application/vnd.dev.sigstore.trustedroot+json;version=0.1" {
		t.Errorf("media type %q", tr.GetMediaType())
	}
	if len(tr.GetTlogs()) != 2 || len(tr.GetCtlogs()) != 1 || len(tr.GetCertificateAuthorities()) != 1 || len(tr.GetTimestampAuthorities()) != 1 {
		t.Fatalf("got %d tlogs, %d ctlogs, %d CAs, %d TSAs; want 2, 1, 1, 1", len(tr.GetTlogs()), len(tr.GetCtlogs()),
			len(tr.GetCertificateAuthorities()), len(tr.GetTimestampAuthorities()))
	}
	oldID, _ := note.LogID("old.example.com/log", oldPub)
	checkCreatedLog(t, tr.GetTlogs()[0], "https://old.example.com/log", oldPub, oldID, "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
	logID, _ := note.LogID("log.example.com", f.logKey) // the hostname, without the port
	checkCreatedLog(t, tr.GetTlogs()[1], "https://log.example.com:8443", f.logKey, logID, "2026-01-01T00:00:00Z", "")
	ctDER, _ := x509.MarshalPKIXPublicKey(f.ctKey)
	ctID := sha256.Sum256(ctDER) // an ECDSA key's checkpoint ID is its RFC 6962 ID
	checkCreatedLog(t, tr.GetCtlogs()[0], "https://ct.example.com", f.ctKey, ctID[:], "2026-01-01T00:00:00Z", "")

	checkCreatedAuthority(t, tr.GetCertificateAuthorities()[0], "https://ca.example.com", f.caChain, "2025-12-31T23:00:00Z", "2027-01-01T00:00:00Z")
	tsaStart := f.tsa[0].NotBefore.UTC().Format(time.RFC3339)
	checkCreatedAuthority(t, tr.GetTimestampAuthorities()[0], "https://tsa.example.com", f.tsa, tsaStart, "2030-01-01T00:00:00Z")
}

func checkCreatedLog(t *testing.T, l *prototrustroot.TransparencyLogInstance, url string, pub crypto.PublicKey, id []byte, start, end string) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	details, err := keyDetails(pub)
	if err != nil {
		t.Fatal(err)
	}
	if l.GetBaseUrl() != url {
		t.Errorf("%s: base URL %q", url, l.GetBaseUrl())
	}
	if l.GetHashAlgorithm() != protocommon.HashAlgorithm_SHA2_256 {
		t.Errorf("%s: hash algorithm %v", url, l.GetHashAlgorithm())
	}
	if !bytes.Equal(l.GetPublicKey().GetRawBytes(), der) || l.GetPublicKey().GetKeyDetails() != details {
		t.Errorf("%s: public key %x (%v), want %x (%v)", url, l.GetPublicKey().GetRawBytes(), l.GetPublicKey().GetKeyDetails(), der, details)
	}
	if !bytes.Equal(l.GetLogId().GetKeyId(), id) {
		t.Errorf("%s: log ID %x, want %x", url, l.GetLogId().GetKeyId(), id)
	}
	checkRange(t, url, l.GetPublicKey().GetValidFor(), start, end)
}

func checkCreatedAuthority(t *testing.T, a *prototrustroot.CertificateAuthority, uri string, chain []*x509.Certificate, start, end string) {
	t.Helper()
	if a.GetUri() != uri {
		t.Errorf("%s: URI %q", uri, a.GetUri())
	}
	certs := a.GetCertChain().GetCertificates()
	if len(certs) != len(chain) {
		t.Fatalf("%s: %d certificates, want %d", uri, len(certs), len(chain))
	}
	for i, c := range certs {
		if !bytes.Equal(c.GetRawBytes(), chain[i].Raw) {
			t.Errorf("%s: certificate %d differs", uri, i+1)
		}
	}
	checkRange(t, uri, a.GetValidFor(), start, end)
}

func checkRange(t *testing.T, name string, r *protocommon.TimeRange, start, end string) {
	t.Helper()
	if got := r.GetStart().AsTime().Format(time.RFC3339); r.GetStart() == nil || got != start {
		t.Errorf("%s: start %s, want %s", name, got, start)
	}
	switch {
	case end == "" && r.GetEnd() != nil:
		t.Errorf("%s: end %s, want none", name, r.GetEnd().AsTime())
	case end != "" && (r.GetEnd() == nil || r.GetEnd().AsTime().Format(time.RFC3339) != end):
		t.Errorf("%s: end %v, want %s", name, r.GetEnd(), end)
	}
}

func TestCreateSigningConfigRoundTrip(t *testing.T) {
	js, err := CreateSigningConfig(SigningConfigSpecs{
		Fulcio: []string{"url=https://ca.example.com,api-version=1,start-time=2026-01-01T00:00:00Z,operator=ca.example"},
		Rekor: []string{
			"url=https://log1.example.com,api-version=2,start-time=2026-01-01T00:00:00Z,operator=one,end-time=2027-01-01T00:00:00Z",
			"url=https://log2.example.com,api-version=2,start-time=2026-01-01T00:00:00Z,operator=two",
		},
		OIDC:        []string{"url=https://issuer.example.com/,api-version=1,start-time=2026-01-01T00:00:00Z,operator=idp"},
		RekorConfig: "EXACT:2",
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := unmarshalSigning(t, js)
	if sc.GetMediaType() != "application/vnd.dev.sigstore.signingconfig.v0.2+json" {
		t.Errorf("media type %q", sc.GetMediaType())
	}
	type want struct {
		url      string
		version  uint32
		operator string
		end      string
	}
	for _, c := range []struct {
		name string
		got  []*prototrustroot.Service
		want []want
	}{
		{"CA", sc.GetCaUrls(), []want{{"https://ca.example.com", 1, "ca.example", ""}}},
		{"OIDC", sc.GetOidcUrls(), []want{{"https://issuer.example.com/", 1, "idp", ""}}},
		{"Rekor", sc.GetRekorTlogUrls(), []want{
			{"https://log1.example.com", 2, "one", "2027-01-01T00:00:00Z"},
			{"https://log2.example.com", 2, "two", ""},
		}},
		{"TSA", sc.GetTsaUrls(), nil},
	} {
		if len(c.got) != len(c.want) {
			t.Errorf("%s: %d services, want %d", c.name, len(c.got), len(c.want))
			continue
		}
		for i, w := range c.want {
			g := c.got[i]
			if g.GetUrl() != w.url || g.GetMajorApiVersion() != w.version || g.GetOperator() != w.operator {
				t.Errorf("%s %d: %v, want %+v", c.name, i, g, w)
			}
			checkRange(t, w.url, g.GetValidFor(), "2026-01-01T00:00:00Z", w.end)
		}
	}
	if c := sc.GetRekorTlogConfig(); c.GetSelector() != prototrustroot.ServiceSelector_EXACT || c.GetCount() != 2 {
		t.Errorf("rekor config %v, want EXACT 2", c)
	}
	if c := sc.GetTsaConfig(); c.GetSelector() != prototrustroot.ServiceSelector_ANY {
		t.Errorf("TSA config without TSAs %v, want ANY", c)
	}
}

func TestParseServiceSpec(t *testing.T) {
	for _, c := range []struct {
		spec string
		keys specKeys
		want map[string]string // nil: an error containing err
		err  string
	}{
		{"url=https://a,public-key=k.pub,start-time=T", logKeys,
			map[string]string{"url": "https://a", "public-key": "k.pub", "start-time": "T"}, ""},
		{" url = https://a?x=1 , public-key=k=v.pub ,start-time=T,end-time=,origin=", logKeys,
			map[string]string{"url": "https://a?x=1", "public-key": "k=v.pub", "start-time": "T"}, ""},
		{"certificate-chain=c.pem,url=u", authorityKeys, map[string]string{"url": "u", "certificate-chain": "c.pem"}, ""},
		{"", logKeys, nil, "empty specification (want url=...,public-key=...,start-time=...[,end-time=...][,origin=...])"},
		{"  ", serviceKeys, nil, "empty specification"},
		{"url=u,public-key", logKeys, nil, `"public-key" is not key=value`},
		{"url=u,,public-key=k,start-time=T", logKeys, nil, `"" is not key=value`},
		{"url=u,public-key=k,start-time=T,", logKeys, nil, `"" is not key=value`},
		{"url=u,public-key=k,start-time=T,colour=red", logKeys, nil, `unknown key "colour"`},
		{"url=u,certificate-chain=c,origin=o", authorityKeys, nil, `unknown key "origin"`},
		{"URL=u,public-key=k,start-time=T", logKeys, nil, `unknown key "URL"`},
		{"=u", logKeys, nil, `unknown key ""`},
		{"url=u,url=v,public-key=k,start-time=T", logKeys, nil, "duplicate key url"},
		{"url=u,end-time=,end-time=x,public-key=k,start-time=T", logKeys, nil, "duplicate key end-time"},
		{"url=u,start-time=T", logKeys, nil, "missing required key public-key"},
		{"url=u,public-key=,start-time=T", logKeys, nil, "required key public-key is empty"},
		{"url=u,api-version=1,start-time=T", serviceKeys, nil, "missing required key operator"},
	} {
		got, err := parseServiceSpec(c.spec, c.keys)
		if c.want == nil {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseServiceSpec(%q) = %v, %v; want error containing %q", c.spec, got, err, c.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("parseServiceSpec(%q) = %v, %v; want %v", c.spec, got, err, c.want)
		}
	}
}

// badFiles returns a reader of files that are wrong in different ways, next
// to the fixture's good ones.
func badFiles(t *testing.T, f *createFixture) func(string) ([]byte, error) {
	t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM, _ := note.MarshalPublicKey(rsaKey.Public())
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224PEM, _ := note.MarshalPublicKey(p224.Public())
	selfSigned := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "self"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	selfDER, err := x509.CreateCertificate(rand.Reader, selfSigned, selfSigned, p224.Public(), p224)
	if err != nil {
		t.Fatal(err)
	}
	ca, tsa, root := read(f.files.CAChain), read(f.files.TSAChain), read(f.files.RootCert)
	caOnly, _, _ := bytes.Cut(ca, []byte("-----END CERTIFICATE-----\n"))
	caOnly = append(caOnly, "-----END CERTIFICATE-----\n"...)
	tsaOnly, _, _ := bytes.Cut(tsa, []byte("-----END CERTIFICATE-----\n"))
	tsaOnly = append(tsaOnly, "-----END CERTIFICATE-----\n"...)
	files := map[string][]byte{
		"ca.pem": ca, "tsa.pem": tsa, "root.pem": root, "log.pub": read(f.logPub),
		"private.pem":     read(f.files.CTLogKey),
		"rsa.pub":         rsaPEM,
		"p224.pub":        p224PEM,
		"garbage":         []byte("not a PEM file"),
		"reversed.pem":    append(append([]byte{}, root...), caOnly...),
		"ca-only.pem":     caOnly,
		"tsa-only.pem":    tsaOnly,
		"empty.pem":       nil,
		"cert-as-key":     root,
		"key-as-chain":    read(f.logPub),
		"truncated.pem":   ca[:len(ca)-40],
		"self-signed.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfDER}),
	}
	return func(p string) ([]byte, error) {
		b, ok := files[p]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		return b, nil
	}
}

func TestCreateTrustedRootErrors(t *testing.T) {
	f := newCreateFixture(t, note.Ed25519)
	readFile := badFiles(t, f)
	const (
		ca  = "url=https://ca.example.com,certificate-chain="
		tsa = "url=https://tsa.example.com,certificate-chain="
		log = "url=https://log.example.com,start-time=2026-01-01T00:00:00Z,public-key="
	)
	for _, c := range []struct {
		name  string
		specs TrustedRootSpecs
		err   string
	}{
		{"nothing", TrustedRootSpecs{}, "nothing to trust"},
		{"bad start", TrustedRootSpecs{Rekor: []string{"url=https://log.example.com,public-key=log.pub,start-time=yesterday"}},
			`--rekor: start-time "yesterday" is not RFC 3339`},
		{"date only", TrustedRootSpecs{Rekor: []string{"url=https://l.example.com,public-key=log.pub,start-time=2026-01-01"}},
			`start-time "2026-01-01" is not RFC 3339`},
		{"out of range", TrustedRootSpecs{Rekor: []string{"url=https://l.example.com,public-key=log.pub,start-time=0001-01-01T00:00:00+01:00"}},
			`start-time "0001-01-01T00:00:00+01:00" is out of range`},
		{"bad end", TrustedRootSpecs{Fulcio: []string{ca + "ca.pem,end-time=never"}}, `--fulcio: end-time "never" is not RFC 3339`},
		{"end before start", TrustedRootSpecs{Rekor: []string{log + "log.pub,end-time=2025-01-01T00:00:00Z"}},
			"--rekor: end-time 2025-01-01T00:00:00Z is not after the start time 2026-01-01T00:00:00Z"},
		{"end before cert start", TrustedRootSpecs{TSA: []string{tsa + "tsa.pem,end-time=2000-01-01T00:00:00Z"}},
			"--tsa: end-time 2000-01-01T00:00:00Z is not after"},
		{"no key", TrustedRootSpecs{Rekor: []string{"url=https://log.example.com,start-time=2026-01-01T00:00:00Z"}},
			"--rekor: missing required key public-key"},
		{"no start", TrustedRootSpecs{CTFE: []string{"url=https://ct.example.com,public-key=log.pub"}},
			"--ctfe: missing required key start-time"},
		{"unknown key", TrustedRootSpecs{TSA: []string{tsa + "tsa.pem,api-version=1"}}, `--tsa: unknown key "api-version"`},
		{"duplicate key", TrustedRootSpecs{Fulcio: []string{ca + "ca.pem,url=https://other.example.com"}}, "--fulcio: duplicate key url"},
		{"which value", TrustedRootSpecs{Rekor: []string{log + "log.pub", log + "nope.pub"}},
			`--rekor #2: public-key "nope.pub": open nope.pub: file does not exist`},
		{"relative url", TrustedRootSpecs{Rekor: []string{"url=log.example.com,public-key=log.pub,start-time=2026-01-01T00:00:00Z"}},
			`--rekor: url "log.example.com" is not an absolute http(s) URL`},
		{"ftp url", TrustedRootSpecs{Fulcio: []string{"url=ftp://ca.example.com,certificate-chain=ca.pem"}}, `url "ftp://ca.example.com"`},
		{"no host", TrustedRootSpecs{TSA: []string{"url=https://:443/x,certificate-chain=tsa.pem"}}, `url "https://:443/x"`},
		{"private key", TrustedRootSpecs{CTFE: []string{log + "private.pem"}},
			`--ctfe: public-key "private.pem" holds a private key; give its public key`},
		{"rsa key", TrustedRootSpecs{Rekor: []string{log + "rsa.pub"}}, "unsupported log key type *rsa.PublicKey"},
		{"p224 key", TrustedRootSpecs{CTFE: []string{log + "p224.pub"}}, "unsupported ECDSA curve P-224"},
		{"garbage key", TrustedRootSpecs{Rekor: []string{log + "garbage"}}, `public-key "garbage": no PKIX "PUBLIC KEY"`},
		{"certificate as key", TrustedRootSpecs{Rekor: []string{log + "cert-as-key"}}, `public-key "cert-as-key": no PKIX`},
		{"bad origin", TrustedRootSpecs{Rekor: []string{log + "log.pub,origin=a b"}}, `--rekor: origin: invalid checkpoint origin "a b"`},
		{"same log twice", TrustedRootSpecs{Rekor: []string{log + "log.pub", log + "log.pub,end-time=2027-01-01T00:00:00Z"}},
			"--rekor #2: log ID"},
		{"missing chain", TrustedRootSpecs{Fulcio: []string{ca + "nope.pem"}}, `--fulcio: certificate-chain "nope.pem": open nope.pem`},
		{"empty chain", TrustedRootSpecs{Fulcio: []string{ca + "empty.pem"}}, `certificate-chain "empty.pem": empty certificate chain`},
		{"key as chain", TrustedRootSpecs{TSA: []string{tsa + "key-as-chain"}}, `certificate-chain "key-as-chain": PEM block 1 is "PUBLIC KEY"`},
		{"reversed chain", TrustedRootSpecs{Fulcio: []string{ca + "reversed.pem"}}, "is not issued by certificate 2"},
		{"no root", TrustedRootSpecs{Fulcio: []string{ca + "ca-only.pem"}}, "is not a self-signed root"},
		{"truncated chain", TrustedRootSpecs{Fulcio: []string{ca + "truncated.pem"}}, "malformed"},
		{"TSA chain as CA", TrustedRootSpecs{Fulcio: []string{ca + "tsa.pem"}}, "not a CA certificate"},
		{"CA chain as TSA", TrustedRootSpecs{TSA: []string{tsa + "ca.pem"}}, "starts with the CA certificate"},
		{"TSA without root", TrustedRootSpecs{TSA: []string{tsa + "root.pem"}}, "starts with the CA certificate"},
		{"TSA leaf alone", TrustedRootSpecs{TSA: []string{tsa + "tsa-only.pem"}}, "is not a self-signed root"},
		{"self-signed TSA", TrustedRootSpecs{TSA: []string{tsa + "self-signed.pem"}}, "is not a self-signed root"},
	} {
		t.Run(c.name, func(t *testing.T) {
			js, err := CreateTrustedRoot(c.specs, readFile)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("got %v (%s), want an error containing %q", err, js, c.err)
			}
			var se *SpecError
			if c.name != "nothing" && !errors.As(err, &se) {
				t.Errorf("error %v is not a *SpecError", err)
			}
		})
	}
}

func TestCreateSigningConfigErrors(t *testing.T) {
	const svc = "url=https://s.example.com,api-version=1,start-time=2026-01-01T00:00:00Z,operator="
	for _, c := range []struct {
		name  string
		specs SigningConfigSpecs
		err   string
	}{
		{"nothing", SigningConfigSpecs{RekorConfig: "ANY"}, "no services"},
		{"rekor without config", SigningConfigSpecs{Rekor: []string{svc + "a"}}, "--rekor-config is required with --rekor"},
		{"tsa without config", SigningConfigSpecs{TSA: []string{svc + "a"}}, "--tsa-config is required with --tsa"},
		{"config without tsa", SigningConfigSpecs{Fulcio: []string{svc + "a"}, TSAConfig: "ANY"}, "--tsa-config is given without --tsa"},
		{"exact zero", SigningConfigSpecs{TSA: []string{svc + "a"}, TSAConfig: "EXACT:0"}, `--tsa-config: "EXACT:0": EXACT needs a count of at least 1`},
		{"exact no count", SigningConfigSpecs{TSA: []string{svc + "a"}, TSAConfig: "EXACT"}, "EXACT needs a count"},
		{"exact bad count", SigningConfigSpecs{TSA: []string{svc + "a"}, TSAConfig: "EXACT:-1"}, "EXACT needs a count"},
		{"exact too many", SigningConfigSpecs{Rekor: []string{svc + "a", svc + "a"}, RekorConfig: "EXACT:2"},
			`--rekor-config: "EXACT:2": the services have only 1 distinct operators`},
		{"any with count", SigningConfigSpecs{Rekor: []string{svc + "a"}, RekorConfig: "ANY:1"}, "ANY takes no count"},
		{"bad mode", SigningConfigSpecs{Rekor: []string{svc + "a"}, RekorConfig: "SOME"}, `--rekor-config: "SOME" is not ANY, ALL or EXACT:<count>`},
		{"bad version", SigningConfigSpecs{Fulcio: []string{"url=https://ca.example.com,api-version=v1,start-time=2026-01-01T00:00:00Z,operator=a"}},
			`--fulcio: api-version "v1" is not a positive integer`},
		{"zero version", SigningConfigSpecs{OIDC: []string{"url=https://ca.example.com,api-version=0,start-time=2026-01-01T00:00:00Z,operator=a"}},
			`--oidc-provider: api-version "0" is not a positive integer`},
		{"huge version", SigningConfigSpecs{OIDC: []string{"url=https://ca.example.com,api-version=4294967296,start-time=2026-01-01T00:00:00Z,operator=a"}},
			`api-version "4294967296"`},
		{"bad start", SigningConfigSpecs{Rekor: []string{"url=https://l.example.com,api-version=2,start-time=yesterday,operator=a"}, RekorConfig: "ANY"},
			`--rekor: start-time "yesterday" is not RFC 3339`},
		{"end before start", SigningConfigSpecs{Rekor: []string{svc + "a,end-time=2025-01-01T00:00:00Z"}, RekorConfig: "ANY"},
			"--rekor: end-time 2025-01-01T00:00:00Z is not after"},
		{"no operator", SigningConfigSpecs{Fulcio: []string{"url=https://ca.example.com,api-version=1,start-time=2026-01-01T00:00:00Z"}},
			"--fulcio: missing required key operator"},
		{"trusted root keys", SigningConfigSpecs{Fulcio: []string{svc + "a,certificate-chain=c.pem"}}, `--fulcio: unknown key "certificate-chain"`},
		{"duplicate key", SigningConfigSpecs{TSA: []string{svc + "a,operator=b"}, TSAConfig: "ANY"}, "--tsa: duplicate key operator"},
		{"which value", SigningConfigSpecs{OIDC: []string{svc + "a", "url=issuer,api-version=1,start-time=2026-01-01T00:00:00Z,operator=a"}},
			`--oidc-provider #2: url "issuer" is not an absolute http(s) URL`},
	} {
		t.Run(c.name, func(t *testing.T) {
			js, err := CreateSigningConfig(c.specs)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("got %v (%s), want an error containing %q", err, js, c.err)
			}
		})
	}
}

func TestSelectors(t *testing.T) {
	const svc = "url=https://s.example.com,api-version=1,start-time=2026-01-01T00:00:00Z,operator="
	for _, c := range []struct {
		value string
		want  *prototrustroot.ServiceConfiguration
	}{
		{"ANY", &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY}},
		{" all ", &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ALL}},
		{"EXACT:1", &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_EXACT, Count: 1}},
		{"exact:2", &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_EXACT, Count: 2}},
	} {
		js, err := CreateSigningConfig(SigningConfigSpecs{
			Rekor: []string{svc + "one", svc + "two"}, RekorConfig: c.value,
			TSA: []string{svc + "one", svc + "two"}, TSAConfig: c.value,
		})
		if err != nil {
			t.Errorf("%q: %v", c.value, err)
			continue
		}
		sc := unmarshalSigning(t, js)
		if got := sc.GetRekorTlogConfig(); !proto.Equal(got, c.want) {
			t.Errorf("--rekor-config %q: %v, want %v", c.value, got, c.want)
		}
		if got := sc.GetTsaConfig(); !proto.Equal(got, c.want) {
			t.Errorf("--tsa-config %q: %v, want %v", c.value, got, c.want)
		}
	}
}

func FuzzParseServiceSpec(f *testing.F) {
	for _, s := range []string{
		"url=https://log.example.com,public-key=log.pub,start-time=2026-01-01T00:00:00Z,origin=log.example.com",
		"url=https://ca.example.com,certificate-chain=ca.pem,start-time=2026-01-01T00:00:00Z,end-time=",
		"url=https://a,api-version=1,start-time=2026-01-01T00:00:00Z,operator=x,end-time=2027-01-01T00:00:00-07:00",
		"", ",", "=", "url==,url", " a = b ,",
	} {
		f.Add(s, "EXACT:1")
	}
	f.Fuzz(func(t *testing.T, spec, selector string) {
		for _, keys := range []specKeys{authorityKeys, logKeys, serviceKeys} {
			kv, err := parseServiceSpec(spec, keys)
			if err != nil {
				continue
			}
			for _, k := range keys.required {
				if kv[k] == "" {
					t.Fatalf("parseServiceSpec(%q) accepted it without %s", spec, k)
				}
			}
		}
		// Whole signing configs need no files: anything accepted must
		// parse back.
		js, err := CreateSigningConfig(SigningConfigSpecs{Rekor: []string{spec}, RekorConfig: selector, OIDC: []string{spec}})
		if err == nil {
			unmarshalSigning(t, js)
		}
		noFiles := func(p string) ([]byte, error) { return nil, fs.ErrNotExist }
		if js, err := CreateTrustedRoot(TrustedRootSpecs{Rekor: []string{spec}}, noFiles); err == nil {
			t.Fatalf("trusted root without files: %s", js)
		}
	})
}
