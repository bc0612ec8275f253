// Package trustroot writes the Sigstore client configuration of a Mosaic
// deployment, in the formats cosign and sigstore-go read:
//
//   - trusted_root.json (media type TrustedRootMediaType) lists what a
//     verifier trusts: the log's key, the CA's certificate chain, the
//     certificate log's key (for the SCTs the CA embeds) and the TSA's chain;
//   - signing_config.json (media type SigningConfigMediaType) tells a signer
//     where to get a certificate, an OIDC token, a log entry and a timestamp.
//
// Every service of a deployment is reached through mosaicd's one public base
// URL, so both files are derived from a Deployment and nothing else. A
// service that is off (nil or empty in the Deployment) is left out of both
// files. Outputs are protojson with two-space indentation, as Sigstore
// publishes its own, and are byte-identical for equal Deployments.
//
// The two files are data, not policy: Mosaic serves them at
// /api/v2/trustedRoot and /api/v2/signingConfig, and an operator hands them to
// users, who pass them to `cosign --trusted-root` and `--signing-config`.
package trustroot

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Media types of the two files; sigstore-go v1.3.0 accepts only these.
const (
	TrustedRootMediaType   = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
	SigningConfigMediaType = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
)

// Paths below the base URL, and the operator name in signing_config.json.
// Clients select at most one service per operator.
const (
	TimestampPath = "/api/v1/timestamp"
	CertLogPath   = "/api/v2/certlog"
	Operator      = "mosaic"
)

// Major API versions announced in signing_config.json: Fulcio v2's REST API
// (which protobuf-specs numbers 1), Rekor v2, RFC 3161 and OIDC discovery.
const (
	caAPIVersion   = 1
	rekorVersion   = 2
	tsaAPIVersion  = 1
	oidcAPIVersion = 1
)

// Deployment is what a Mosaic deployment offers clients.
type Deployment struct {
	// BaseURL is mosaicd's public URL, e.g. https://mosaic.example.com: the
	// base URL of the log, the CA and (below it) the TSA and certificate log.
	// A trailing slash is ignored.
	BaseURL string
	// OIDCURL is the OIDC issuer signers should get tokens from, if any.
	OIDCURL string

	// Log is the transparency log (Rekor v2 API) that takes entries now,
	// served at BaseURL. Required.
	Log *TLog
	// Shards are the deployment's other logs (its frozen shards), each
	// with its own BaseURL and, once frozen, End. Clients verify entries of
	// every log listed, and sign only into those valid now.
	Shards []*TLog

	// CA is the issuing CA's certificate, then its parents up to the root;
	// empty when the CA is off. CAStart is when clients start trusting it
	// (default: the issuing CA's NotBefore).
	CA      []*x509.Certificate
	CAStart time.Time
	// CTLog is the certificate log whose SCTs the CA embeds. Its LogID, if
	// set, must be the SHA-256 of its DER public key, as RFC 6962 defines it;
	// if empty it is computed.
	CTLog *TLog

	// TSA is the timestamping certificate, then its parents up to the root;
	// empty when the TSA is off. TSAStart defaults to the leaf's NotBefore.
	TSA      []*x509.Certificate
	TSAStart time.Time
}

// TLog is one transparency log.
type TLog struct {
	// Origin is the log's checkpoint origin. The trusted root has no field
	// for it: sigstore-go derives a Rekor v2 log's origin from the hostname
	// of its base URL, so the main log's Origin must be the hostname of
	// Deployment.BaseURL (mosaicd's default) for clients to verify its
	// checkpoints.
	Origin string
	// PublicKey is the log's key: Ed25519 or ECDSA P-256, P-384 or P-521.
	PublicKey crypto.PublicKey
	// LogID is the log's 32-byte ID (logId.keyId), as entries and SCTs name
	// it. For the main log, compute it with pkg/note.LogID.
	LogID []byte
	// Start is when clients start trusting the key. Required.
	Start time.Time
	// End, if set, is when the log stopped taking entries (a frozen
	// shard): signers no longer use it, verifiers still trust its entries.
	End time.Time
	// BaseURL is where a shard is served; empty for Deployment.Log, which
	// is served at Deployment.BaseURL.
	BaseURL string
}

// shards returns every log of d with its base URL: Log first.
func (d Deployment) shards(base string) ([]*TLog, []string, error) {
	logs, urls := []*TLog{d.Log}, []string{base}
	for i, l := range d.Shards {
		u, err := baseURL(l.BaseURL)
		if err != nil {
			return nil, nil, fmt.Errorf("shard %d: %w", i+1, err)
		}
		logs, urls = append(logs, l), append(urls, u)
	}
	return logs, urls, nil
}

// TrustedRoot returns trusted_root.json for d.
func TrustedRoot(d Deployment) ([]byte, error) {
	base, err := baseURL(d.BaseURL)
	if err != nil {
		return nil, err
	}
	if d.Log == nil {
		return nil, errors.New("the deployment has no log")
	}
	logs, urls, err := d.shards(base)
	if err != nil {
		return nil, err
	}
	tr := &prototrustroot.TrustedRoot{MediaType: TrustedRootMediaType}
	for i, l := range logs {
		tlog, err := logInstance("log", urls[i], l, false)
		if err != nil {
			return nil, err
		}
		tr.Tlogs = append(tr.Tlogs, tlog)
	}
	if len(d.CA) > 0 {
		ca, err := authority("CA", base, d.CA, d.CAStart)
		if err != nil {
			return nil, err
		}
		tr.CertificateAuthorities = []*prototrustroot.CertificateAuthority{ca}
	}
	if d.CTLog != nil {
		ct, err := logInstance("certificate log", base+CertLogPath, d.CTLog, true)
		if err != nil {
			return nil, err
		}
		tr.Ctlogs = []*prototrustroot.TransparencyLogInstance{ct}
	}
	if len(d.TSA) > 0 {
		tsa, err := authority("TSA", base+TimestampPath, d.TSA, d.TSAStart)
		if err != nil {
			return nil, err
		}
		tr.TimestampAuthorities = []*prototrustroot.CertificateAuthority{tsa}
	}
	return marshal(tr)
}

// SigningConfig returns signing_config.json for d, as `cosign
// signing-config create` would write it for the same services. Both service
// selections are ANY, and both are always present: sigstore-go reads them
// without checking for their absence.
func SigningConfig(d Deployment) ([]byte, error) {
	base, err := baseURL(d.BaseURL)
	if err != nil {
		return nil, err
	}
	if d.Log == nil {
		return nil, errors.New("the deployment has no log")
	}
	logs, urls, err := d.shards(base)
	if err != nil {
		return nil, err
	}
	var rekors []*prototrustroot.Service
	for i, l := range logs {
		if l.Start.IsZero() {
			return nil, errors.New("log: no validity start time")
		}
		svc := service(urls[i], rekorVersion, l.Start)
		if !l.End.IsZero() {
			svc.ValidFor.End = timestamppb.New(l.End)
		}
		rekors = append(rekors, svc)
	}
	sc := &prototrustroot.SigningConfig{
		MediaType:       SigningConfigMediaType,
		RekorTlogUrls:   rekors,
		RekorTlogConfig: &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
		TsaConfig:       &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
	}
	oidcStart := d.Log.Start
	if len(d.CA) > 0 {
		start, err := chainStart("CA", d.CA, d.CAStart)
		if err != nil {
			return nil, err
		}
		sc.CaUrls = []*prototrustroot.Service{service(base, caAPIVersion, start)}
		oidcStart = start
	}
	if d.OIDCURL != "" {
		oidc, err := baseURL(d.OIDCURL)
		if err != nil {
			return nil, fmt.Errorf("OIDC issuer: %w", err)
		}
		sc.OidcUrls = []*prototrustroot.Service{service(oidc, oidcAPIVersion, oidcStart)}
	}
	if len(d.TSA) > 0 {
		start, err := chainStart("TSA", d.TSA, d.TSAStart)
		if err != nil {
			return nil, err
		}
		sc.TsaUrls = []*prototrustroot.Service{service(base+TimestampPath, tsaAPIVersion, start)}
	}
	return marshal(sc)
}

// baseURL checks that raw is an absolute http(s) URL and returns it without
// a trailing slash, ready for paths to be appended.
func baseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("base URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base URL %q: want an absolute http(s) URL without query, such as https://mosaic.example.com", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// logInstance describes l, served at url. For a certificate log (ct) the log
// ID is RFC 6962's: the SHA-256 of the DER public key.
func logInstance(what, url string, l *TLog, ct bool) (*prototrustroot.TransparencyLogInstance, error) {
	if l.PublicKey == nil {
		return nil, fmt.Errorf("%s: no public key", what)
	}
	der, err := x509.MarshalPKIXPublicKey(l.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding public key: %w", what, err)
	}
	details, err := keyDetails(l.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if l.Start.IsZero() {
		return nil, fmt.Errorf("%s: no validity start time", what)
	}
	id := l.LogID
	if ct {
		want := sha256.Sum256(der)
		if len(id) == 0 {
			id = want[:]
		} else if !bytes.Equal(id, want[:]) {
			return nil, fmt.Errorf("%s: log ID %s is not the SHA-256 of its public key (%s)", what,
				base64.StdEncoding.EncodeToString(id), base64.StdEncoding.EncodeToString(want[:]))
		}
	}
	if len(id) != sha256.Size {
		return nil, fmt.Errorf("%s: log ID is %d bytes, want %d", what, len(id), sha256.Size)
	}
	validFor := &protocommon.TimeRange{Start: timestamppb.New(l.Start)}
	if !l.End.IsZero() {
		validFor.End = timestamppb.New(l.End)
	}
	return &prototrustroot.TransparencyLogInstance{
		BaseUrl:       url,
		HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
		PublicKey: &protocommon.PublicKey{
			RawBytes:   der,
			KeyDetails: details,
			ValidFor:   validFor,
		},
		LogId: &protocommon.LogId{KeyId: id},
	}, nil
}

// keyDetails names the signature scheme of a log key.
func keyDetails(pub crypto.PublicKey) (protocommon.PublicKeyDetails, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return protocommon.PublicKeyDetails_PKIX_ED25519, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, nil
		case elliptic.P384():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, nil
		case elliptic.P521():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, nil
		}
		return 0, fmt.Errorf("unsupported ECDSA curve %s (want P-256, P-384 or P-521)", k.Curve.Params().Name)
	default:
		return 0, fmt.Errorf("unsupported log key type %T (want Ed25519 or ECDSA)", pub)
	}
}

// authority describes a CA or TSA reached at uri, whose chain runs from the
// issuing (or timestamping) certificate to the root.
func authority(what, uri string, chain []*x509.Certificate, start time.Time) (*prototrustroot.CertificateAuthority, error) {
	start, err := chainStart(what, chain, start)
	if err != nil {
		return nil, err
	}
	certs := make([]*protocommon.X509Certificate, len(chain))
	for i, c := range chain {
		certs[i] = &protocommon.X509Certificate{RawBytes: c.Raw}
	}
	var org string
	if o := chain[0].Subject.Organization; len(o) > 0 {
		org = o[0]
	}
	return &prototrustroot.CertificateAuthority{
		Subject:   &protocommon.DistinguishedName{Organization: org, CommonName: chain[0].Subject.CommonName},
		Uri:       uri,
		CertChain: &protocommon.X509CertificateChain{Certificates: certs},
		ValidFor:  &protocommon.TimeRange{Start: timestamppb.New(start)},
	}, nil
}

// chainStart checks chain and returns start, or by default the NotBefore of
// its first certificate.
func chainStart(what string, chain []*x509.Certificate, start time.Time) (time.Time, error) {
	for i, c := range chain {
		if c == nil || len(c.Raw) == 0 {
			return time.Time{}, fmt.Errorf("%s: certificate %d of the chain is missing", what, i+1)
		}
	}
	if start.IsZero() {
		start = chain[0].NotBefore
	}
	return start, nil
}

func service(url string, version uint32, start time.Time) *prototrustroot.Service {
	return &prototrustroot.Service{
		Url:             url,
		MajorApiVersion: version,
		ValidFor:        &protocommon.TimeRange{Start: timestamppb.New(start)},
		Operator:        Operator,
	}
}

// marshal encodes m as indented protojson. protojson varies its white space
// at random from build to build, so that nobody depends on its exact bytes;
// re-indenting makes the files identical across builds and frontends, which
// matters to anyone who pins or compares them.
func marshal(m proto.Message) ([]byte, error) {
	js, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, js, "", "  "); err != nil {
		return nil, fmt.Errorf("indenting %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
