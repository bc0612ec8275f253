package verify

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/mosaiclog/mosaic/pkg/note"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	sumdbnote "golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
)

// Trusted root media types ParseTrustedRoot accepts.
const (
	TrustedRootMediaType01 = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
	TrustedRootMediaType02 = "application/vnd.dev.sigstore.trustedroot.v0.2+json"
)

// TrustedRoot is a parsed Sigstore trusted_root.json: what a verifier
// trusts. Every key and certificate in it has been decoded.
type TrustedRoot struct {
	MediaType string
	// Tlogs are the transparency logs whose checkpoints are trusted; there
	// is at least one.
	Tlogs []*TransparencyLog
	// CTLogs are the certificate transparency logs whose SCTs are trusted.
	CTLogs []*TransparencyLog
	// CertificateAuthorities issue signing certificates.
	CertificateAuthorities []*CertificateAuthority
	// TimestampAuthorities issue RFC 3161 timestamps.
	TimestampAuthorities []*CertificateAuthority
}

// TransparencyLog is one log of a trusted root.
type TransparencyLog struct {
	// BaseURL is the log's URL as the trusted root lists it.
	BaseURL string
	// Origin is the checkpoint origin: the hostname of BaseURL, as
	// sigstore-go derives it. Set it yourself for a log you build by hand.
	Origin string
	// LogID is the 32-byte log ID entries and SCTs name the log by.
	LogID []byte
	// PublicKey is the log's key (Ed25519 or ECDSA for tlogs).
	PublicKey crypto.PublicKey
	// ValidFor is when the key may be used.
	ValidFor TimeRange
}

// CertificateAuthority is a CA or TSA of a trusted root.
type CertificateAuthority struct {
	URI string
	// Chain runs from the issuing (or timestamping) certificate to the
	// root; the last certificate is the trust anchor.
	Chain []*x509.Certificate
	// ValidFor is when the authority may be trusted.
	ValidFor TimeRange
}

// TimeRange is a validity period. A zero End means open-ended.
type TimeRange struct {
	Start, End time.Time
}

// Contains reports whether t lies within r, bounds included.
func (r TimeRange) Contains(t time.Time) bool {
	if t.Before(r.Start) {
		return false
	}
	return r.End.IsZero() || !t.After(r.End)
}

// ParseTrustedRoot decodes a trusted_root.json strictly: a known media
// type, no unknown fields, at least one tlog, and every key, certificate
// and validity period well formed. Its errors have Check CheckTrustedRoot.
func ParseTrustedRoot(data []byte) (*TrustedRoot, error) {
	var pb prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(data, &pb); err != nil {
		return nil, fail(CheckTrustedRoot, "not a trusted_root.json (protobuf-JSON TrustedRoot): %w", err)
	}
	switch pb.GetMediaType() {
	case TrustedRootMediaType01, TrustedRootMediaType02:
	default:
		return nil, fail(CheckTrustedRoot, "unknown media type %q (want %q or %q)",
			pb.GetMediaType(), TrustedRootMediaType01, TrustedRootMediaType02)
	}
	if len(pb.GetTlogs()) == 0 {
		return nil, fail(CheckTrustedRoot, "no tlogs: a verifier needs at least one trusted transparency log")
	}
	tr := &TrustedRoot{MediaType: pb.GetMediaType()}
	var err error
	if tr.Tlogs, err = parseLogs("tlogs", pb.GetTlogs(), true); err != nil {
		return nil, err
	}
	if tr.CTLogs, err = parseLogs("ctlogs", pb.GetCtlogs(), false); err != nil {
		return nil, err
	}
	if tr.CertificateAuthorities, err = parseAuthorities("certificateAuthorities", pb.GetCertificateAuthorities()); err != nil {
		return nil, err
	}
	if tr.TimestampAuthorities, err = parseAuthorities("timestampAuthorities", pb.GetTimestampAuthorities()); err != nil {
		return nil, err
	}
	return tr, nil
}

func parseLogs(field string, pbs []*prototrustroot.TransparencyLogInstance, tlog bool) ([]*TransparencyLog, error) {
	logs := make([]*TransparencyLog, 0, len(pbs))
	for i, p := range pbs {
		l, err := parseLog(p, tlog)
		if err != nil {
			return nil, fail(CheckTrustedRoot, "%s[%d] (%s): %w", field, i, p.GetBaseUrl(), err)
		}
		logs = append(logs, l)
	}
	return logs, nil
}

// parseLog decodes one log. A tlog must also have an origin and a key that
// can verify checkpoints.
func parseLog(p *prototrustroot.TransparencyLogInstance, tlog bool) (*TransparencyLog, error) {
	if p.GetHashAlgorithm() != protocommon.HashAlgorithm_SHA2_256 {
		return nil, fmt.Errorf("hash algorithm %v, want SHA2_256", p.GetHashAlgorithm())
	}
	if len(p.GetLogId().GetKeyId()) != sha256.Size {
		return nil, fmt.Errorf("logId.keyId is %d bytes, want %d", len(p.GetLogId().GetKeyId()), sha256.Size)
	}
	pub, err := x509.ParsePKIXPublicKey(p.GetPublicKey().GetRawBytes())
	if err != nil {
		return nil, fmt.Errorf("publicKey.rawBytes: %w", err)
	}
	validFor, err := parseTimeRange(p.GetPublicKey().GetValidFor())
	if err != nil {
		return nil, fmt.Errorf("publicKey.validFor: %w", err)
	}
	l := &TransparencyLog{BaseURL: p.GetBaseUrl(), LogID: p.GetLogId().GetKeyId(), PublicKey: pub, ValidFor: validFor}
	if !tlog {
		return l, nil
	}
	if l.Origin, err = note.OriginFromURL(p.GetBaseUrl()); err != nil {
		return nil, err
	}
	if _, err := l.noteVerifier(); err != nil {
		return nil, err
	}
	return l, nil
}

func parseAuthorities(field string, pbs []*prototrustroot.CertificateAuthority) ([]*CertificateAuthority, error) {
	cas := make([]*CertificateAuthority, 0, len(pbs))
	for i, p := range pbs {
		ca, err := parseAuthority(p)
		if err != nil {
			return nil, fail(CheckTrustedRoot, "%s[%d] (%s): %w", field, i, p.GetUri(), err)
		}
		cas = append(cas, ca)
	}
	return cas, nil
}

func parseAuthority(p *prototrustroot.CertificateAuthority) (*CertificateAuthority, error) {
	certs := p.GetCertChain().GetCertificates()
	if len(certs) == 0 {
		return nil, errors.New("certChain has no certificates")
	}
	ca := &CertificateAuthority{URI: p.GetUri()}
	for i, c := range certs {
		cert, err := x509.ParseCertificate(c.GetRawBytes())
		if err != nil {
			return nil, fmt.Errorf("certChain.certificates[%d]: %w", i, err)
		}
		ca.Chain = append(ca.Chain, cert)
	}
	var err error
	if ca.ValidFor, err = parseTimeRange(p.GetValidFor()); err != nil {
		return nil, fmt.Errorf("validFor: %w", err)
	}
	return ca, nil
}

// parseTimeRange requires a start, as cosign and sigstore-go do.
func parseTimeRange(r *protocommon.TimeRange) (TimeRange, error) {
	if r.GetStart() == nil {
		return TimeRange{}, errors.New("no start time")
	}
	if err := r.GetStart().CheckValid(); err != nil {
		return TimeRange{}, fmt.Errorf("start: %w", err)
	}
	tr := TimeRange{Start: r.GetStart().AsTime()}
	if r.GetEnd() != nil {
		if err := r.GetEnd().CheckValid(); err != nil {
			return TimeRange{}, fmt.Errorf("end: %w", err)
		}
		tr.End = r.GetEnd().AsTime()
		if tr.End.Before(tr.Start) {
			return TimeRange{}, fmt.Errorf("end %s is before start %s", tr.End.Format(time.RFC3339), tr.Start.Format(time.RFC3339))
		}
	}
	return tr, nil
}

// noteVerifier returns the signed-note verifier for the log's checkpoints.
func (l *TransparencyLog) noteVerifier() (sumdbnote.Verifier, error) {
	return note.NewVerifier(l.Origin, l.PublicKey)
}

// tlog returns the trusted tlog whose log ID is id, or nil.
func (tr *TrustedRoot) tlog(id []byte) *TransparencyLog {
	for _, l := range tr.Tlogs {
		if string(l.LogID) == string(id) {
			return l
		}
	}
	return nil
}
