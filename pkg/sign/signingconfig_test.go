package sign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// svc is a service valid from start (relative to now) for life (0: no end).
func svc(url string, version uint32, operator string, start, life time.Duration) *prototrustroot.Service {
	vf := &v1.TimeRange{Start: timestamppb.New(now.Add(start))}
	if life != 0 {
		vf.End = timestamppb.New(now.Add(start + life))
	}
	return &prototrustroot.Service{Url: url, MajorApiVersion: version, Operator: operator, ValidFor: vf}
}

func selector(s prototrustroot.ServiceSelector, count uint32) *prototrustroot.ServiceConfiguration {
	return &prototrustroot.ServiceConfiguration{Selector: s, Count: count}
}

func TestConfigFromSigningConfig(t *testing.T) {
	const day = 24 * time.Hour
	rekor := func(svcs ...*prototrustroot.Service) []*prototrustroot.Service { return svcs }
	anyLog := []*prototrustroot.Service{svc("https://log", 2, "a", -day, 0)}
	for _, tc := range []struct {
		name    string
		sc      *prototrustroot.SigningConfig
		logs    [][]string // each acceptable answer (ANY and EXACT pick at random)
		ca, tsa string
		err     string
	}{
		{name: "one of each",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: anyLog, RekorTlogConfig: selector(prototrustroot.ServiceSelector_ANY, 0),
				CaUrls:  []*prototrustroot.Service{svc("https://ca", 1, "a", -day, 0)},
				TsaUrls: []*prototrustroot.Service{svc("https://tsa/api/v1/timestamp", 1, "a", -day, 0)}, TsaConfig: selector(prototrustroot.ServiceSelector_ANY, 0)},
			logs: [][]string{{"https://log"}}, ca: "https://ca", tsa: "https://tsa/api/v1/timestamp"},
		{name: "no log",
			sc:  &prototrustroot.SigningConfig{RekorTlogConfig: selector(prototrustroot.ServiceSelector_ANY, 0)},
			err: "lists 0 Rekor log"},
		{name: "Rekor v1 only",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: rekor(svc("https://v1", 1, "a", -day, 0)),
				RekorTlogConfig: selector(prototrustroot.ServiceSelector_ANY, 0)},
			err: "API version 2"},
		{name: "v1 and v2: v2 chosen",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: rekor(svc("https://v1", 1, "a", -day, 0), svc("https://v2", 2, "b", -2*day, 0)),
				RekorTlogConfig: selector(prototrustroot.ServiceSelector_ALL, 0)},
			logs: [][]string{{"https://v2"}}},
		{name: "expired log",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: rekor(svc("https://old", 2, "a", -2*day, day)),
				RekorTlogConfig: selector(prototrustroot.ServiceSelector_ANY, 0)},
			err: "valid at"},
		{name: "log not yet valid",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: rekor(svc("https://new", 2, "a", day, 0)),
				RekorTlogConfig: selector(prototrustroot.ServiceSelector_ANY, 0)},
			err: "valid at"},
		{name: "ALL: newest per operator",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: rekor(svc("https://a-old", 2, "a", -2*day, 0), svc("https://a-new", 2, "a", -day, 0),
				svc("https://b", 2, "b", -day, 0), svc("https://c-expired", 2, "c", -2*day, day)),
				RekorTlogConfig: selector(prototrustroot.ServiceSelector_ALL, 0)},
			logs: [][]string{{"https://a-new", "https://b"}}},
		{name: "ANY: one",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: rekor(svc("https://a", 2, "a", -day, 0), svc("https://b", 2, "b", -day, 0)),
				RekorTlogConfig: selector(prototrustroot.ServiceSelector_ANY, 0)},
			logs: [][]string{{"https://a"}, {"https://b"}}},
		{name: "EXACT 2 of 3",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: rekor(svc("https://a", 2, "a", -day, 0), svc("https://b", 2, "b", -day, 0), svc("https://c", 2, "c", -day, 0)),
				RekorTlogConfig: selector(prototrustroot.ServiceSelector_EXACT, 2)},
			logs: [][]string{{"https://a", "https://b"}, {"https://a", "https://c"}, {"https://b", "https://c"}}},
		{name: "EXACT more than available",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: rekor(svc("https://a", 2, "a", -day, 0), svc("https://a2", 2, "a", -day, 0)),
				RekorTlogConfig: selector(prototrustroot.ServiceSelector_EXACT, 2)},
			err: "EXACT 2 but 1"},
		{name: "EXACT 0",
			sc:  &prototrustroot.SigningConfig{RekorTlogUrls: anyLog, RekorTlogConfig: selector(prototrustroot.ServiceSelector_EXACT, 0)},
			err: "EXACT 0"},
		{name: "no selector",
			sc:  &prototrustroot.SigningConfig{RekorTlogUrls: anyLog},
			err: "want ALL, ANY or EXACT"},
		{name: "newest valid CA",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: anyLog, RekorTlogConfig: selector(prototrustroot.ServiceSelector_ANY, 0),
				CaUrls: []*prototrustroot.Service{svc("https://ca-old", 1, "a", -2*day, 0), svc("https://ca-new", 1, "a", -day, 0),
					svc("https://ca-future", 1, "a", day, 0), svc("https://ca-v2", 2, "a", -time.Hour, 0)}},
			logs: [][]string{{"https://log"}}, ca: "https://ca-new"},
		{name: "expired CA",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: anyLog, RekorTlogConfig: selector(prototrustroot.ServiceSelector_ANY, 0),
				CaUrls: []*prototrustroot.Service{svc("https://ca", 1, "a", -2*day, day)}},
			err: "CA service"},
		{name: "TSA of another API version",
			sc: &prototrustroot.SigningConfig{RekorTlogUrls: anyLog, RekorTlogConfig: selector(prototrustroot.ServiceSelector_ANY, 0),
				TsaUrls: []*prototrustroot.Service{svc("https://tsa", 2, "a", -day, 0)}, TsaConfig: selector(prototrustroot.ServiceSelector_ANY, 0)},
			err: "TSA service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ConfigFromSigningConfig(tc.sc, now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Clone(cfg.LogURLs)
			slices.Sort(got)
			if !slices.ContainsFunc(tc.logs, func(want []string) bool { return slices.Equal(got, want) }) {
				t.Errorf("logs %v, want one of %v", got, tc.logs)
			}
			if cfg.CAURL != tc.ca || strings.Join(cfg.TSAURLs, ",") != tc.tsa {
				t.Errorf("CA %q TSAs %v, want %q %q", cfg.CAURL, cfg.TSAURLs, tc.ca, tc.tsa)
			}
		})
	}
	t.Run("no service is ErrNoService", func(t *testing.T) {
		_, err := ConfigFromSigningConfig(&prototrustroot.SigningConfig{}, now)
		if !errors.Is(err, ErrNoService) {
			t.Errorf("err %v", err)
		}
	})
}

func TestParseSigningConfig(t *testing.T) {
	good := `{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json",
		"rekorTlogUrls":[{"url":"https://log","majorApiVersion":2,"validFor":{"start":"2026-01-01T00:00:00Z"},"operator":"x"}],
		"rekorTlogConfig":{"selector":"ANY"},"futureField":1}`
	sc, err := ParseSigningConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := ConfigFromSigningConfig(sc, now); err != nil || !slices.Equal(cfg.LogURLs, []string{"https://log"}) {
		t.Errorf("config %+v, %v", cfg, err)
	}
	for _, bad := range []string{
		"", "{}", "[]", "null",
		`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.1+json"}`,
		`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json","rekorTlogUrls":{}}`,
		strings.Repeat(" ", maxSigningConfigBytes+1),
	} {
		if _, err := ParseSigningConfig([]byte(bad)); err == nil {
			t.Errorf("ParseSigningConfig(%.60q) accepted", bad)
		}
	}
}

func TestUnknownSelector(t *testing.T) {
	// A selector from a newer spec parses (as unspecified) but selects nothing.
	sc, err := ParseSigningConfig([]byte(`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json",
		"rekorTlogUrls":[{"url":"https://log","majorApiVersion":2}],"rekorTlogConfig":{"selector":"SOME"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ConfigFromSigningConfig(sc, now); err == nil || !strings.Contains(err.Error(), "want ALL, ANY or EXACT") {
		t.Errorf("err %v", err)
	}
}

// FuzzParseSigningConfig: parsing and selecting never panic.
func FuzzParseSigningConfig(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json","rekorTlogUrls":[{"url":"u","majorApiVersion":2}],"rekorTlogConfig":{"selector":"EXACT","count":1}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json","caUrls":[{"url":"u","majorApiVersion":1,"validFor":{"end":"1970-01-01T00:00:00Z"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseSigningConfig(data)
		if err != nil {
			return
		}
		cfg, err := ConfigFromSigningConfig(sc, now)
		if err == nil && len(cfg.LogURLs) == 0 {
			t.Error("a config without logs was accepted")
		}
	})
}

func TestLoadPrivateKey(t *testing.T) {
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224DER, _ := x509.MarshalPKCS8PrivateKey(p224)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(p256.Public())
	//nolint:staticcheck // legacy encrypted PEM is what the password path reads
	enc, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", mustEC(t, p256), []byte("pw"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	encPEM := pem.EncodeToMemory(enc)
	for name, tc := range map[string]struct {
		pem      []byte
		password []byte
		ok       bool
	}{
		"empty":              {nil, nil, false},
		"not PEM":            {[]byte("hello"), nil, false},
		"public key":         {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil, false},
		"garbage PKCS#8":     {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), nil, false},
		"P-224":              {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p224DER}), nil, false},
		"encrypted, no pass": {encPEM, nil, false},
		"encrypted, wrong":   {encPEM, []byte("nope"), false},
		"encrypted":          {encPEM, []byte("pw"), true},
	} {
		_, err := LoadPrivateKey(tc.pem, tc.password)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok %v", name, err, tc.ok)
		}
	}
}

func mustEC(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestZeroKey(t *testing.T) {
	k, err := generateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	zeroKey(k)
	if k.(*ecdsa.PrivateKey).D.Sign() != 0 {
		t.Error("the ECDSA scalar survived")
	}
	e, err := generateKey(Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	zeroKey(e)
	for _, b := range e.(interface{ Seed() []byte }).Seed() {
		if b != 0 {
			t.Fatal("the Ed25519 seed survived")
		}
	}
	if _, err := generateKey("rsa"); err == nil {
		t.Error("an unknown algorithm was accepted")
	}
}

// FuzzLoadPrivateKey: any bytes yield a usable key or an error.
func FuzzLoadPrivateKey(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), []byte(nil))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), []byte("pw"))
	f.Fuzz(func(t *testing.T, data, password []byte) {
		key, err := LoadPrivateKey(data, password)
		if err == nil {
			if _, _, err := algorithmFor(key.Public()); err != nil {
				t.Errorf("loaded a key it cannot sign with: %v", err)
			}
		}
	})
}
