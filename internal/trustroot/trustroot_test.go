package trustroot_test

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
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaiclog/mosaic/internal/pki"
	"github.com/mosaiclog/mosaic/internal/trustroot"
	"github.com/mosaiclog/mosaic/pkg/note"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

const baseURL = "http://127.0.0.1:3000"

// fullDeployment returns a deployment with every service on, made of fresh
// key material from pki.Init and an Ed25519 log key.
func fullDeployment(t *testing.T) trustroot.Deployment {
	t.Helper()
	files, err := pki.Init(filepath.Join(t.TempDir(), "keyless"), pki.InitOptions{Organization: "Example"})
	if err != nil {
		t.Fatal(err)
	}
	caChain, err := pki.LoadChain(files.CAChain)
	if err != nil {
		t.Fatal(err)
	}
	tsaChain, err := pki.LoadChain(files.TSAChain)
	if err != nil {
		t.Fatal(err)
	}
	ctKey, err := pki.LoadSigner(files.CTLogKey)
	if err != nil {
		t.Fatal(err)
	}
	logPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	origin := "127.0.0.1"
	logID, err := note.LogID(origin, logPub)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	return trustroot.Deployment{
		BaseURL: baseURL,
		OIDCURL: baseURL + "/dev-oidc",
		Log:     &trustroot.TLog{Origin: origin, PublicKey: logPub, LogID: logID, Start: start},
		CA:      caChain,
		CTLog:   &trustroot.TLog{Origin: origin + "/certlog", PublicKey: ctKey.Public(), Start: start.Add(time.Hour)},
		TSA:     tsaChain,
	}
}

func parseTrustedRoot(t *testing.T, js []byte) *prototrustroot.TrustedRoot {
	t.Helper()
	var tr prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(js, &tr); err != nil {
		t.Fatalf("trusted root does not parse: %v\n%s", err, js)
	}
	return &tr
}

func parseSigningConfig(t *testing.T, js []byte) *prototrustroot.SigningConfig {
	t.Helper()
	var sc prototrustroot.SigningConfig
	if err := protojson.Unmarshal(js, &sc); err != nil {
		t.Fatalf("signing config does not parse: %v\n%s", err, js)
	}
	return &sc
}

func TestTrustedRootRoundTrip(t *testing.T) {
	d := fullDeployment(t)
	js, err := trustroot.TrustedRoot(d)
	if err != nil {
		t.Fatal(err)
	}
	tr := parseTrustedRoot(t, js)
	if tr.GetMediaType() != "application/vnd.dev.sigstore.trustedroot+json;version=0.1" {
		t.Errorf("media type %q", tr.GetMediaType())
	}

	if len(tr.GetTlogs()) != 1 {
		t.Fatalf("%d tlogs, want 1", len(tr.GetTlogs()))
	}
	checkLog(t, "tlog", tr.GetTlogs()[0], baseURL, d.Log.PublicKey, protocommon.PublicKeyDetails_PKIX_ED25519, d.Log.LogID, d.Log.Start)

	if len(tr.GetCtlogs()) != 1 {
		t.Fatalf("%d ctlogs, want 1", len(tr.GetCtlogs()))
	}
	ctDER, err := x509.MarshalPKIXPublicKey(d.CTLog.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ctID := sha256.Sum256(ctDER)
	checkLog(t, "ctlog", tr.GetCtlogs()[0], baseURL+"/api/v2/certlog", d.CTLog.PublicKey,
		protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, ctID[:], d.CTLog.Start)

	if len(tr.GetCertificateAuthorities()) != 1 {
		t.Fatalf("%d certificate authorities, want 1", len(tr.GetCertificateAuthorities()))
	}
	checkAuthority(t, "CA", tr.GetCertificateAuthorities()[0], baseURL, d.CA, "Example issuing CA")

	if len(tr.GetTimestampAuthorities()) != 1 {
		t.Fatalf("%d timestamp authorities, want 1", len(tr.GetTimestampAuthorities()))
	}
	checkAuthority(t, "TSA", tr.GetTimestampAuthorities()[0], baseURL+"/api/v1/timestamp", d.TSA, "Example timestamping")
}

func checkLog(t *testing.T, name string, l *prototrustroot.TransparencyLogInstance, url string,
	pub crypto.PublicKey, details protocommon.PublicKeyDetails, id []byte, start time.Time) {
	t.Helper()
	if l.GetBaseUrl() != url {
		t.Errorf("%s baseUrl %q, want %q", name, l.GetBaseUrl(), url)
	}
	if l.GetHashAlgorithm() != protocommon.HashAlgorithm_SHA2_256 {
		t.Errorf("%s hashAlgorithm %v", name, l.GetHashAlgorithm())
	}
	got, err := x509.ParsePKIXPublicKey(l.GetPublicKey().GetRawBytes())
	if err != nil {
		t.Fatalf("%s public key: %v", name, err)
	}
	if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(got) {
		t.Errorf("%s public key differs", name)
	}
	if l.GetPublicKey().GetKeyDetails() != details {
		t.Errorf("%s keyDetails %v, want %v", name, l.GetPublicKey().GetKeyDetails(), details)
	}
	if vf := l.GetPublicKey().GetValidFor(); !vf.GetStart().AsTime().Equal(start) || vf.GetEnd() != nil {
		t.Errorf("%s validFor %v, want start %v and no end", name, vf, start)
	}
	if !bytes.Equal(l.GetLogId().GetKeyId(), id) {
		t.Errorf("%s logId %x, want %x", name, l.GetLogId().GetKeyId(), id)
	}
}

func checkAuthority(t *testing.T, name string, a *prototrustroot.CertificateAuthority, uri string,
	chain []*x509.Certificate, cn string) {
	t.Helper()
	if a.GetUri() != uri {
		t.Errorf("%s uri %q, want %q", name, a.GetUri(), uri)
	}
	if s := a.GetSubject(); s.GetOrganization() != "Example" || s.GetCommonName() != cn {
		t.Errorf("%s subject %v, want O=Example CN=%s", name, s, cn)
	}
	certs := a.GetCertChain().GetCertificates()
	if len(certs) != len(chain) {
		t.Fatalf("%s chain has %d certificates, want %d", name, len(certs), len(chain))
	}
	for i, c := range certs {
		got, err := x509.ParseCertificate(c.GetRawBytes())
		if err != nil {
			t.Fatalf("%s certificate %d: %v", name, i+1, err)
		}
		if !got.Equal(chain[i]) {
			t.Errorf("%s certificate %d differs", name, i+1)
		}
	}
	if vf := a.GetValidFor(); !vf.GetStart().AsTime().Equal(chain[0].NotBefore) || vf.GetEnd() != nil {
		t.Errorf("%s validFor %v, want start %v (first NotBefore) and no end", name, vf, chain[0].NotBefore)
	}
}

func TestSigningConfigRoundTrip(t *testing.T) {
	d := fullDeployment(t)
	js, err := trustroot.SigningConfig(d)
	if err != nil {
		t.Fatal(err)
	}
	sc := parseSigningConfig(t, js)
	if sc.GetMediaType() != "application/vnd.dev.sigstore.signingconfig.v0.2+json" {
		t.Errorf("media type %q", sc.GetMediaType())
	}
	caStart, tsaStart := d.CA[0].NotBefore, d.TSA[0].NotBefore
	for _, c := range []struct {
		name     string
		services []*prototrustroot.Service
		url      string
		version  uint32
		start    time.Time
	}{
		{"caUrls", sc.GetCaUrls(), baseURL, 1, caStart},
		{"oidcUrls", sc.GetOidcUrls(), baseURL + "/dev-oidc", 1, caStart},
		{"rekorTlogUrls", sc.GetRekorTlogUrls(), baseURL, 2, d.Log.Start},
		{"tsaUrls", sc.GetTsaUrls(), baseURL + "/api/v1/timestamp", 1, tsaStart},
	} {
		if len(c.services) != 1 {
			t.Errorf("%s has %d services, want 1", c.name, len(c.services))
			continue
		}
		s := c.services[0]
		if s.GetUrl() != c.url || s.GetMajorApiVersion() != c.version || s.GetOperator() != "mosaic" {
			t.Errorf("%s: url %q version %d operator %q; want %q, %d, mosaic",
				c.name, s.GetUrl(), s.GetMajorApiVersion(), s.GetOperator(), c.url, c.version)
		}
		if vf := s.GetValidFor(); !vf.GetStart().AsTime().Equal(c.start) || vf.GetEnd() != nil {
			t.Errorf("%s validFor %v, want start %v and no end", c.name, vf, c.start)
		}
	}
	// sigstore-go dereferences both configurations unconditionally, and
	// selects a service only with selector ALL, ANY or EXACT.
	for name, cfg := range map[string]*prototrustroot.ServiceConfiguration{
		"rekorTlogConfig": sc.GetRekorTlogConfig(), "tsaConfig": sc.GetTsaConfig(),
	} {
		if cfg == nil || cfg.GetSelector() != prototrustroot.ServiceSelector_ANY {
			t.Errorf("%s = %v, want selector ANY", name, cfg)
		}
	}
}

// jsonKeys returns the top-level keys of a JSON object.
func jsonKeys(t *testing.T, js []byte) map[string]bool {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for k := range m {
		keys[k] = true
	}
	return keys
}

func TestServicesOffAreOmitted(t *testing.T) {
	full := fullDeployment(t)
	d := trustroot.Deployment{BaseURL: baseURL + "/", Log: full.Log}

	js, err := trustroot.TrustedRoot(d)
	if err != nil {
		t.Fatal(err)
	}
	tr := parseTrustedRoot(t, js)
	if len(tr.GetTlogs()) != 1 || tr.GetTlogs()[0].GetBaseUrl() != baseURL {
		t.Errorf("tlogs %v, want the log at %s (trailing slash dropped)", tr.GetTlogs(), baseURL)
	}
	keys := jsonKeys(t, js)
	for _, k := range []string{"certificateAuthorities", "ctlogs", "timestampAuthorities"} {
		if keys[k] {
			t.Errorf("trusted root has %q with the service off", k)
		}
	}
	if !keys["mediaType"] || !keys["tlogs"] {
		t.Errorf("trusted root keys %v, want mediaType and tlogs", keys)
	}

	js, err = trustroot.SigningConfig(d)
	if err != nil {
		t.Fatal(err)
	}
	keys = jsonKeys(t, js)
	for _, k := range []string{"caUrls", "oidcUrls", "tsaUrls"} {
		if keys[k] {
			t.Errorf("signing config has %q with the service off", k)
		}
	}
	for _, k := range []string{"mediaType", "rekorTlogUrls", "rekorTlogConfig", "tsaConfig"} {
		if !keys[k] {
			t.Errorf("signing config lacks %q", k)
		}
	}

	// Only the TSA on; the OIDC service then starts with the log.
	d.TSA, d.OIDCURL = full.TSA, "https://issuer.example.com"
	js, err = trustroot.TrustedRoot(d)
	if err != nil {
		t.Fatal(err)
	}
	if keys := jsonKeys(t, js); !keys["timestampAuthorities"] || keys["certificateAuthorities"] || keys["ctlogs"] {
		t.Errorf("trusted root with only the TSA on has keys %v", keys)
	}
	js, err = trustroot.SigningConfig(d)
	if err != nil {
		t.Fatal(err)
	}
	sc := parseSigningConfig(t, js)
	if len(sc.GetCaUrls()) != 0 || len(sc.GetTsaUrls()) != 1 || len(sc.GetOidcUrls()) != 1 ||
		!sc.GetOidcUrls()[0].GetValidFor().GetStart().AsTime().Equal(d.Log.Start) {
		t.Errorf("signing config with only the TSA and an issuer: %v", sc)
	}
}

func TestExplicitStarts(t *testing.T) {
	d := fullDeployment(t)
	d.CAStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	d.TSAStart = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	js, err := trustroot.TrustedRoot(d)
	if err != nil {
		t.Fatal(err)
	}
	tr := parseTrustedRoot(t, js)
	if got := tr.GetCertificateAuthorities()[0].GetValidFor().GetStart().AsTime(); !got.Equal(d.CAStart) {
		t.Errorf("CA start %v, want %v", got, d.CAStart)
	}
	if got := tr.GetTimestampAuthorities()[0].GetValidFor().GetStart().AsTime(); !got.Equal(d.TSAStart) {
		t.Errorf("TSA start %v, want %v", got, d.TSAStart)
	}
	js, err = trustroot.SigningConfig(d)
	if err != nil {
		t.Fatal(err)
	}
	sc := parseSigningConfig(t, js)
	if got := sc.GetCaUrls()[0].GetValidFor().GetStart().AsTime(); !got.Equal(d.CAStart) {
		t.Errorf("caUrls start %v, want %v", got, d.CAStart)
	}
	if got := sc.GetTsaUrls()[0].GetValidFor().GetStart().AsTime(); !got.Equal(d.TSAStart) {
		t.Errorf("tsaUrls start %v, want %v", got, d.TSAStart)
	}
}

func TestLogKeyTypes(t *testing.T) {
	for _, c := range []struct {
		curve elliptic.Curve
		want  protocommon.PublicKeyDetails
	}{
		{elliptic.P256(), protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256},
		{elliptic.P384(), protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384},
		{elliptic.P521(), protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512},
	} {
		key, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := note.LogID("127.0.0.1", key.Public())
		if c.curve != elliptic.P256() { // note.LogID supports P-256 only
			der, _ := x509.MarshalPKIXPublicKey(key.Public())
			sum := sha256.Sum256(der)
			id, err = sum[:], nil
		}
		if err != nil {
			t.Fatal(err)
		}
		d := trustroot.Deployment{BaseURL: baseURL, Log: &trustroot.TLog{PublicKey: key.Public(), LogID: id, Start: time.Unix(0, 0)}}
		js, err := trustroot.TrustedRoot(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := parseTrustedRoot(t, js).GetTlogs()[0].GetPublicKey().GetKeyDetails(); got != c.want {
			t.Errorf("%s: keyDetails %v, want %v", c.curve.Params().Name, got, c.want)
		}
	}
}

func TestInvalidDeployments(t *testing.T) {
	full := fullDeployment(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	withLog := func(mod func(l *trustroot.TLog)) *trustroot.TLog {
		l := *full.Log
		mod(&l)
		return &l
	}
	withCT := func(mod func(l *trustroot.TLog)) *trustroot.TLog {
		l := *full.CTLog
		mod(&l)
		return &l
	}
	for _, c := range []struct {
		name string
		mod  func(d *trustroot.Deployment)
		want string
		// root and signing say whether TrustedRoot and SigningConfig must
		// refuse it: each checks what it uses.
		root, signing bool
	}{
		{"no base URL", func(d *trustroot.Deployment) { d.BaseURL = "" }, "absolute http(s) URL", true, true},
		{"relative base URL", func(d *trustroot.Deployment) { d.BaseURL = "/mosaic" }, "absolute http(s) URL", true, true},
		{"host only", func(d *trustroot.Deployment) { d.BaseURL = "mosaic.example.com" }, "absolute http(s) URL", true, true},
		{"other scheme", func(d *trustroot.Deployment) { d.BaseURL = "ftp://mosaic.example.com" }, "absolute http(s) URL", true, true},
		{"query", func(d *trustroot.Deployment) { d.BaseURL = "https://mosaic.example.com/?x=1" }, "without query", true, true},
		{"unparsable", func(d *trustroot.Deployment) { d.BaseURL = "https://[::1" }, "base URL", true, true},
		{"no log", func(d *trustroot.Deployment) { d.Log = nil }, "no log", true, true},
		{"log start missing", func(d *trustroot.Deployment) { d.Log = withLog(func(l *trustroot.TLog) { l.Start = time.Time{} }) },
			"log: no validity start", true, true},
		{"bad OIDC URL", func(d *trustroot.Deployment) { d.OIDCURL = "issuer" }, "OIDC issuer", false, true},
		{"nil CA certificate", func(d *trustroot.Deployment) { d.CA = []*x509.Certificate{d.CA[0], nil} },
			"CA: certificate 2 of the chain is missing", true, true},
		{"nil TSA certificate", func(d *trustroot.Deployment) { d.TSA = []*x509.Certificate{nil} },
			"TSA: certificate 1 of the chain is missing", true, true},
		{"log without key", func(d *trustroot.Deployment) { d.Log = withLog(func(l *trustroot.TLog) { l.PublicKey = nil }) },
			"log: no public key", true, false},
		{"RSA log key", func(d *trustroot.Deployment) {
			d.Log = withLog(func(l *trustroot.TLog) { l.PublicKey = rsaKey.Public() })
		},
			"unsupported log key type *rsa.PublicKey", true, false},
		{"P-224 log key", func(d *trustroot.Deployment) {
			d.Log = withLog(func(l *trustroot.TLog) { l.PublicKey = p224.Public() })
		},
			"unsupported ECDSA curve P-224", true, false},
		{"no log ID", func(d *trustroot.Deployment) { d.Log = withLog(func(l *trustroot.TLog) { l.LogID = nil }) },
			"log: log ID is 0 bytes, want 32", true, false},
		{"short log ID", func(d *trustroot.Deployment) { d.Log = withLog(func(l *trustroot.TLog) { l.LogID = l.LogID[:4] }) },
			"log: log ID is 4 bytes, want 32", true, false},
		{"certificate log ID not RFC 6962", func(d *trustroot.Deployment) {
			d.CTLog = withCT(func(l *trustroot.TLog) { l.LogID = full.Log.LogID })
		}, "is not the SHA-256 of its public key", true, false},
		{"certificate log start missing", func(d *trustroot.Deployment) {
			d.CTLog = withCT(func(l *trustroot.TLog) { l.Start = time.Time{} })
		}, "certificate log: no validity start", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := full
			c.mod(&d)
			js, err := trustroot.TrustedRoot(d)
			switch {
			case !c.root && err != nil:
				t.Errorf("TrustedRoot: %v", err)
			case c.root && err == nil:
				t.Fatalf("TrustedRoot accepted it:\n%s", js)
			case c.root && !strings.Contains(err.Error(), c.want):
				t.Errorf("TrustedRoot: error %q does not say %q", err, c.want)
			}
			js, err = trustroot.SigningConfig(d)
			if !c.signing {
				if err != nil {
					t.Errorf("SigningConfig: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("SigningConfig accepted it:\n%s", js)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("SigningConfig: error %q does not say %q", err, c.want)
			}
		})
	}
}

// TestStableOutput checks that the files are indented JSON whose bytes
// depend only on the deployment (protojson alone varies its white space).
func TestStableOutput(t *testing.T) {
	d := fullDeployment(t)
	for name, fn := range map[string]func(trustroot.Deployment) ([]byte, error){
		"trusted root": trustroot.TrustedRoot, "signing config": trustroot.SigningConfig,
	} {
		js, err := fn(d)
		if err != nil {
			t.Fatal(err)
		}
		var compact, indented bytes.Buffer
		if err := json.Compact(&compact, js); err != nil {
			t.Fatal(err)
		}
		if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
			t.Fatal(err)
		}
		indented.WriteByte('\n')
		if !bytes.Equal(js, indented.Bytes()) {
			t.Errorf("%s is not canonically indented:\n%s", name, js)
		}
		again, err := fn(d)
		if err != nil || !bytes.Equal(again, js) {
			t.Errorf("%s differs between calls (%v)", name, err)
		}
	}
}
