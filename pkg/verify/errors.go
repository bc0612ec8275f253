package verify

import "fmt"

// Check names one step of verification. Every error this package returns
// is an *Error whose Check says which step refused the input.
type Check string

// The checks, in the order Verify runs them. A bundle whose content is a
// DSSE envelope (an attestation) runs CheckEnvelopeSignature to
// CheckPredicateType in place of CheckArtifactDigest and CheckSignature.
const (
	CheckTrustedRoot         Check = "trusted root"
	CheckBundle              Check = "bundle"
	CheckPolicy              Check = "policy"
	CheckArtifactDigest      Check = "artifact digest"
	CheckSignature           Check = "signature"
	CheckEnvelopeSignature   Check = "envelope signature"
	CheckStatement           Check = "in-toto statement"
	CheckAttestationSubject  Check = "attestation subject"
	CheckPredicateType       Check = "predicate type"
	CheckTimestamp           Check = "timestamp"
	CheckCertificateValidity Check = "certificate validity"
	CheckCertificateChain    Check = "certificate chain"
	CheckSCT                 Check = "SCT"
	CheckIdentitySAN         Check = "identity (SAN)"
	CheckIdentityIssuer      Check = "identity (issuer)"
	CheckTlogEntryBody       Check = "tlog entry body"
	CheckInclusionProof      Check = "inclusion proof"
	CheckCheckpointSignature Check = "checkpoint signature"
	CheckCheckpointRoot      Check = "checkpoint root"
	CheckWitnessCosignatures Check = "witness cosignatures"
	CheckConsistencyProof    Check = "consistency proof"
)

// Error is a failed check. Its message starts with the check's name.
type Error struct {
	Check Check
	Err   error
}

func (e *Error) Error() string { return string(e.Check) + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// fail returns an *Error for check with a formatted message; %w verbs wrap.
func fail(check Check, format string, args ...any) *Error {
	return &Error{Check: check, Err: fmt.Errorf(format, args...)}
}
