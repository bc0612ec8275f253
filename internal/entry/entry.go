// Package entry turns a Rekor v2 CreateEntryRequest into the canonical leaf
// Mosaic logs.
//
// Decoding is strict: the request must be protobuf-JSON of
// dev.sigstore.rekor.v2.CreateEntryRequest with exactly one known entry kind;
// every field is validated, the signature is verified over the digest, and the
// logged leaf is the RFC 8785 (JCS) canonical JSON of the Entry that Rekor v2
// logs for the same input. Equal input therefore yields byte-identical leaves,
// which is what deduplication and sigstore-go's verification (which rebuilds
// the leaf from a bundle) rely on.
//
// Each entry kind lives in its own file. Errors are typed so the HTTP layer
// can map them: *InvalidError (the request is wrong: 400) and *LimitError (a
// size limit was exceeded: 413).
package entry

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
)

// Entry is a validated submission, ready to be appended.
type Entry struct {
	// Kind and Version name the entry type, e.g. "hashedrekord", "0.0.2".
	Kind, Version string
	// Body is the canonicalized Entry JSON: the Merkle leaf.
	Body []byte
	// Identity is LeafIdentity(Body): what the log deduplicates on, equal
	// for an entry and its ECDSA-malleated twin.
	Identity []byte
}

// InvalidError says what is wrong with a request. Its message is meant for
// the client, verbatim.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalidf(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// LimitError says which size limit a request exceeded, the limit's value and
// what was sent.
type LimitError struct {
	// Limit names the limit as an operator configures it (a flag name).
	Limit string
	// Max is the limit's value and Got what the request had, both in bytes.
	Max, Got int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: %d bytes exceeds the limit of %d bytes (%s)", e.what(), e.Got, e.Max, e.Limit)
}

func (e *LimitError) what() string {
	switch e.Limit {
	case "max-key-bytes":
		return "public key"
	case "max-certificate-bytes":
		return "certificate"
	case "max-signature-bytes":
		return "signature"
	default:
		return "request"
	}
}

// Limits bound the sizes of the parts of a request.
type Limits struct {
	MaxKeyBytes         int // DER public key
	MaxCertificateBytes int // DER certificate
	MaxSignatureBytes   int
}

// DefaultLimits comfortably fit RSA-4096 keys and Fulcio certificates.
var DefaultLimits = Limits{MaxKeyBytes: 2048, MaxCertificateBytes: 16 << 10, MaxSignatureBytes: 1024}

// DefaultAlgorithms is the allow-list of signing algorithms accepted by
// default: ECDSA P-256/P-384/P-521 with their matching SHA-2, Ed25519ph, and
// RSA PKCS#1 v1.5 2048/3072/4096 with SHA-256.
var DefaultAlgorithms = []v1.PublicKeyDetails{
	v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
	v1.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
	v1.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
	v1.PublicKeyDetails_PKIX_ED25519_PH,
	v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
	v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256,
	v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256,
}

// ParseAlgorithms parses a comma-separated list of algorithm names as
// sigstore names them (e.g. "ecdsa-sha2-256-nistp256,ed25519-ph").
func ParseAlgorithms(list string) ([]v1.PublicKeyDetails, error) {
	var out []v1.PublicKeyDetails
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		kd, err := signature.ParseSignatureAlgorithmFlag(name)
		if err != nil {
			return nil, fmt.Errorf("unknown signing algorithm %q", name)
		}
		if _, err := signature.GetAlgorithmDetails(kd); err != nil {
			return nil, err
		}
		out = append(out, kd)
	}
	if len(out) == 0 {
		return nil, errors.New("the algorithm allow-list is empty")
	}
	return out, nil
}

// AlgorithmNames returns the sigstore names of algs, for messages and docs.
func AlgorithmNames(algs []v1.PublicKeyDetails) []string {
	names := make([]string, 0, len(algs))
	for _, a := range algs {
		n, err := signature.FormatSignatureAlgorithmFlag(a)
		if err != nil {
			n = a.String()
		}
		names = append(names, n)
	}
	return names
}

// Decoder validates requests against fixed limits and an algorithm allow-list.
// It is safe for concurrent use.
type Decoder struct {
	limits  Limits
	allowed map[v1.PublicKeyDetails]bool
	names   string
}

// NewDecoder returns a Decoder. An empty allow-list means DefaultAlgorithms.
func NewDecoder(limits Limits, allowed []v1.PublicKeyDetails) (*Decoder, error) {
	if len(allowed) == 0 {
		allowed = DefaultAlgorithms
	}
	d := &Decoder{limits: limits, allowed: map[v1.PublicKeyDetails]bool{}}
	for _, a := range allowed {
		if _, err := signature.GetAlgorithmDetails(a); err != nil {
			return nil, fmt.Errorf("algorithm %s: %w", a, err)
		}
		d.allowed[a] = true
	}
	d.names = strings.Join(AlgorithmNames(allowed), ", ")
	return d, nil
}

var strictJSON = protojson.UnmarshalOptions{DiscardUnknown: false}

// Decode parses and validates a protobuf-JSON CreateEntryRequest: the
// common spelling through decodeCommon, anything else through protojson.
func (d *Decoder) Decode(body []byte) (*Entry, error) {
	req, ok := decodeCommon(body)
	if !ok {
		req = &pb.CreateEntryRequest{}
		if err := strictJSON.Unmarshal(body, req); err != nil {
			return nil, invalidf("malformed request: %s", cleanProtoErr(err))
		}
	}
	switch spec := req.GetSpec().(type) {
	case *pb.CreateEntryRequest_HashedRekordRequestV002:
		return d.hashedRekord(spec.HashedRekordRequestV002)
	case *pb.CreateEntryRequest_DsseRequestV002:
		return nil, invalidf("dsseRequestV002 entries are not accepted by this log; " +
			"log the DSSE envelope's PAE digest as a hashedRekordRequestV002 instead")
	default:
		return nil, invalidf("request must contain hashedRekordRequestV002")
	}
}

// cleanProtoErr strips protojson's unstable "proto: " prefix and the
// non-breaking spaces it inserts to discourage string matching.
func cleanProtoErr(err error) string {
	s := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	s = strings.TrimPrefix(s, "proto:")
	return strings.TrimSpace(s)
}
