package verify

import (
	"crypto"
	"crypto/x509"
	"slices"
	"time"
)

// Result is what a verified bundle establishes.
type Result struct {
	// SigningTime is the earliest verified RFC 3161 timestamp: a time at
	// which the signature existed. It is zero for a key-signed bundle
	// without timestamps (Rekor v2 entries carry no integrated time).
	SigningTime time.Time
	// Timestamps are the times of all verified timestamps, in bundle order.
	Timestamps []time.Time

	// Certificate, SAN and Issuer describe a keyless bundle's signer; they
	// are empty for a key-signed bundle.
	Certificate *x509.Certificate
	SAN         string
	Issuer      string
	// PublicKey is the key that verified the signature.
	PublicKey crypto.PublicKey

	// DigestAlgorithm and Digest identify the artifact (for an attestation,
	// by the strongest digest of its subject that was compared).
	DigestAlgorithm crypto.Hash
	Digest          []byte

	// Statement is an attestation's verified in-toto statement, Subject
	// the subject that is the artifact, and PredicateType the statement's;
	// all are unset for a message signature.
	Statement     *Statement
	Subject       *Subject
	PredicateType string

	// Entries are the verified log entries, in bundle order (at least one).
	// LogIndex and LogOrigin repeat the first's index and log origin.
	Entries   []*Entry
	LogIndex  int64
	LogOrigin string
}

// Verify checks a bundle offline against an artifact, a trusted root and
// a policy. It returns a Result only if every check passes; otherwise the
// error is an *Error naming the first check that failed. In order:
//
//  1. the policy is well formed and fits the bundle (CheckPolicy);
//  2. the bundle's digest is the artifact's (CheckArtifactDigest);
//  3. the signature verifies with the certificate's key, or the policy's
//     public key for a key-signed bundle (CheckSignature);
//     for an attestation (a DSSE envelope) instead: the envelope's
//     signature over its PAE verifies with that key
//     (CheckEnvelopeSignature), its payload is an in-toto statement
//     (CheckStatement), one of whose subjects is the artifact by digest and,
//     when the policy names one, by name (CheckAttestationSubject), with the
//     predicate type the policy asks for, if any (CheckPredicateType);
//  4. every RFC 3161 timestamp is over the signature and signed by a TSA
//     trusted at its time; a keyless bundle needs at least one, as nothing
//     else gives a trustworthy time (CheckTimestamp);
//  5. keyless only: at each timestamp the certificate is within its
//     validity (CheckCertificateValidity) and chains to a CA trusted then,
//     for code signing (CheckCertificateChain); it carries an SCT from a
//     trusted certificate log when the trusted root lists any (CheckSCT);
//     its SAN and OIDC issuer match the policy (CheckIdentitySAN,
//     CheckIdentityIssuer);
//  6. every log entry is the hashedrekord v0.0.2 entry of this signature,
//     digest (for an attestation: of the envelope's PAE) and signer
//     (CheckTlogEntryBody), its inclusion proof verifies
//     (CheckInclusionProof), a trusted log whose key was valid at the
//     signing time signed the checkpoint (CheckCheckpointSignature), whose
//     size and root are the proof's (CheckCheckpointRoot), and enough of the
//     policy's witnesses cosigned it (CheckWitnessCosignatures).
func Verify(b *Bundle, a Artifact, tr *TrustedRoot, p Policy) (*Result, error) {
	if b == nil {
		return nil, fail(CheckBundle, "no bundle")
	}
	if tr == nil {
		return nil, fail(CheckTrustedRoot, "no trusted root")
	}
	cp, err := p.compile()
	if err != nil {
		return nil, err
	}
	s, pub, err := signerOf(b, cp)
	if err != nil {
		return nil, err
	}
	res := &Result{PublicKey: pub, DigestAlgorithm: b.DigestAlgorithm, Digest: b.Digest, Certificate: b.Certificate}
	if b, err = res.verifyContent(b, pub, a, cp); err != nil {
		return nil, err
	}
	if err := res.verifyTime(b, tr); err != nil {
		return nil, err
	}
	if b.Certificate != nil {
		id, err := verifyCertificate(b.Certificate, res.Timestamps, tr, cp)
		if err != nil {
			return nil, err
		}
		res.SAN, res.Issuer = id.san, id.issuer
	}
	for _, e := range b.Entries {
		entry, err := verifyEntry(e, b, s, tr, cp, res.SigningTime)
		if err != nil {
			return nil, err
		}
		res.Entries = append(res.Entries, entry)
	}
	res.LogIndex, res.LogOrigin = res.Entries[0].Index, res.Entries[0].Log.Origin
	return res, nil
}

// verifyContent checks the artifact and the signature: a message
// signature's digest and signature, or an attestation's envelope,
// statement, subject and predicate type. It returns the bundle as its log
// entries must record it.
func (res *Result) verifyContent(b *Bundle, pub crypto.PublicKey, a Artifact, p *compiledPolicy) (*Bundle, error) {
	if b.Envelope == nil {
		if p.PredicateType != "" {
			return nil, fail(CheckPredicateType, "the policy asks for an attestation of predicate type %q; the bundle is a plain signature", p.PredicateType)
		}
		if p.SubjectName != "" {
			return nil, fail(CheckAttestationSubject, "the policy asks for an attestation subject named %q; the bundle is a plain signature", p.SubjectName)
		}
		if err := checkArtifact(b, a); err != nil {
			return nil, err
		}
		return b, checkSignature(pub, b, a)
	}
	att, err := verifyAttestation(b, pub, a, p)
	if err != nil {
		return nil, err
	}
	res.DigestAlgorithm, res.Digest = att.hash, att.digest
	res.Statement, res.Subject, res.PredicateType = att.statement, att.subject, att.statement.PredicateType
	return att.logged, nil
}

// signerOf returns who signed b as its log entry must name them, and the
// key that verifies the signature, after checking that the policy fits the
// kind of bundle.
func signerOf(b *Bundle, p *compiledPolicy) (signer, crypto.PublicKey, error) {
	if b.Certificate != nil {
		if err := p.checkKeyless(); err != nil {
			return signer{}, nil, err
		}
		return signer{der: b.Certificate.Raw, cert: true}, b.Certificate.PublicKey, nil
	}
	if p.PublicKey == nil {
		return signer{}, nil, fail(CheckPolicy, "the bundle is signed with a key (hint %q); the policy names no public key", b.PublicKeyHint)
	}
	der, err := x509.MarshalPKIXPublicKey(p.PublicKey)
	if err != nil {
		return signer{}, nil, fail(CheckPolicy, "the policy's public key: %w", err)
	}
	return signer{der: der}, p.PublicKey, nil
}

// verifyTime verifies the bundle's timestamps and sets the signing time.
func (res *Result) verifyTime(b *Bundle, tr *TrustedRoot) error {
	times, err := verifyTimestamps(b, tr)
	if err != nil {
		return err
	}
	if len(times) == 0 && b.Certificate != nil {
		return fail(CheckTimestamp, "a keyless bundle needs an RFC 3161 timestamp: without one there is no trustworthy time "+
			"at which to check the short-lived certificate (Rekor v2 entries carry no integrated time)")
	}
	res.Timestamps = times
	if len(times) > 0 {
		res.SigningTime = slices.MinFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	}
	return nil
}
