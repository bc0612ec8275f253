package verify

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	sumdbnote "golang.org/x/mod/sumdb/note"
)

// Policy says what a bundle must satisfy beyond being well signed and
// logged.
type Policy struct {
	// CertificateIdentity is the exact certificate SAN (an email, a URI, or
	// a Fulcio username otherName) a keyless bundle must carry, and
	// CertificateIdentityRegexp a regular expression the SAN must match as a
	// whole (it is anchored: "alice@example.com" does not match
	// "alice@example.com.evil"). A keyless verification needs at least one
	// of the two; when both are set both must match.
	CertificateIdentity       string
	CertificateIdentityRegexp string
	// CertificateOIDCIssuer and CertificateOIDCIssuerRegexp constrain the
	// OIDC issuer recorded in the certificate in the same way; a keyless
	// verification needs at least one of them.
	CertificateOIDCIssuer       string
	CertificateOIDCIssuerRegexp string

	// PredicateType, when set, is the predicate type an attestation's
	// in-toto statement must have; a bundle that is not an attestation is
	// then refused. SubjectName, when set, is the name the statement's
	// subject matching the artifact must carry.
	PredicateType string
	SubjectName   string

	// PublicKey verifies bundles signed with a key rather than a
	// certificate. It must be set for such bundles, and not for keyless
	// ones.
	PublicKey crypto.PublicKey

	// IgnoreSCT skips the embedded SCT check that a keyless bundle must
	// otherwise pass whenever the trusted root lists certificate logs.
	// INSECURE: the certificate may then be unknown to any log.
	IgnoreSCT bool

	// WitnessThreshold is how many of Witnesses (signed-note verifier keys,
	// name+hash+base64) must have cosigned each checkpoint
	// (C2SP tlog-cosignature, cosignature/v1). Zero asks for none. It is
	// shorthand for a WitnessPolicy with one group; give one or the other.
	WitnessThreshold int
	Witnesses        []string
	// WitnessPolicy, when set, is the quorum of witnesses that must have
	// cosigned each checkpoint (see ParseWitnessPolicy).
	WitnessPolicy *WitnessPolicy
}

// compiledPolicy is a Policy checked and ready to match.
type compiledPolicy struct {
	Policy
	sanRE, issuerRE *regexp.Regexp
	// witnesses is WitnessPolicy, or the one built from WitnessThreshold
	// and Witnesses.
	witnesses *WitnessPolicy
}

// witness is one witness key, by its position in Policy.Witnesses.
type witness struct {
	name     string
	verifier sumdbnote.Verifier
}

func (p Policy) compile() (*compiledPolicy, error) {
	cp := &compiledPolicy{Policy: p}
	var err error
	if cp.sanRE, err = anchored(p.CertificateIdentityRegexp); err != nil {
		return nil, fail(CheckPolicy, "CertificateIdentityRegexp: %w", err)
	}
	if cp.issuerRE, err = anchored(p.CertificateOIDCIssuerRegexp); err != nil {
		return nil, fail(CheckPolicy, "CertificateOIDCIssuerRegexp: %w", err)
	}
	if p.WitnessPolicy != nil && (p.WitnessThreshold != 0 || len(p.Witnesses) > 0) {
		return nil, fail(CheckPolicy, "give a WitnessPolicy or Witnesses with a WitnessThreshold, not both")
	}
	cp.witnesses = p.WitnessPolicy
	if p.WitnessPolicy == nil {
		if cp.witnesses, err = ThresholdWitnessPolicy(p.WitnessThreshold, p.Witnesses); err != nil {
			return nil, &Error{Check: CheckPolicy, Err: err}
		}
	}
	return cp, nil
}

// anchored compiles re to match whole strings only; "" gives nil.
func anchored(re string) (*regexp.Regexp, error) {
	if re == "" {
		return nil, nil
	}
	return regexp.Compile(`^(?:` + re + `)$`)
}

// checkKeyless refuses a keyless verification that names no identity, as
// cosign does: any certificate from the CA would otherwise pass.
func (p *compiledPolicy) checkKeyless() error {
	if p.PublicKey != nil {
		return fail(CheckPolicy, "the bundle is signed with a certificate; verify it with an identity, not a public key")
	}
	if p.CertificateIdentity == "" && p.sanRE == nil {
		return fail(CheckPolicy, "a keyless bundle needs a certificate identity (exact or regexp) to verify against")
	}
	if p.CertificateOIDCIssuer == "" && p.issuerRE == nil {
		return fail(CheckPolicy, "a keyless bundle needs a certificate OIDC issuer (exact or regexp) to verify against")
	}
	return nil
}

// match reports whether v satisfies an exact value and a regexp, each
// when set.
func match(v, exact string, re *regexp.Regexp) bool {
	if exact != "" && v != exact {
		return false
	}
	return re == nil || re.MatchString(v)
}

// Artifact is what a bundle's signature is checked against: the signed
// bytes, or only their digest.
type Artifact struct {
	set    bool
	data   []byte // nil when only the digest is known
	hash   crypto.Hash
	digest []byte
}

// ArtifactBytes is an artifact known by its content. Pure Ed25519
// signatures (over the message, not a digest) can only be verified this way.
func ArtifactBytes(data []byte) Artifact {
	if data == nil {
		data = []byte{}
	}
	return Artifact{set: true, data: data}
}

// ArtifactDigest is an artifact known only by its digest under hash.
func ArtifactDigest(hash crypto.Hash, digest []byte) Artifact {
	return Artifact{set: true, hash: hash, digest: digest}
}

// ParseArtifactDigest reads "sha256:<hex>", "sha384:<hex>", "sha512:<hex>"
// or a bare hex SHA-256 digest.
func ParseArtifactDigest(s string) (Artifact, error) {
	alg, hexDigest, ok := strings.Cut(s, ":")
	if !ok {
		alg, hexDigest = "sha256", s
	}
	hashes := map[string]crypto.Hash{"sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}
	h, known := hashes[strings.ToLower(alg)]
	if !known {
		return Artifact{}, fail(CheckArtifactDigest, "unknown digest algorithm %q (want sha256, sha384 or sha512)", alg)
	}
	d, err := hex.DecodeString(hexDigest)
	if err != nil || len(d) != h.Size() {
		return Artifact{}, fail(CheckArtifactDigest, "%q is not a %s digest (%d hex digits)", s, alg, 2*h.Size())
	}
	return ArtifactDigest(h, d), nil
}

// digestFor returns the artifact's digest under h.
func (a Artifact) digestFor(h crypto.Hash) ([]byte, error) {
	if a.data == nil {
		if a.hash != h {
			return nil, fmt.Errorf("the bundle signs a %v digest but the artifact is given by its %v digest", h, a.hash)
		}
		return a.digest, nil
	}
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(a.data)
		return d[:], nil
	case crypto.SHA384:
		d := sha512.Sum384(a.data)
		return d[:], nil
	case crypto.SHA512:
		d := sha512.Sum512(a.data)
		return d[:], nil
	}
	return nil, errors.New("unsupported digest algorithm")
}
