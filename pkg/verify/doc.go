// Package verify checks Sigstore bundles and transparency log checkpoints
// offline, against a Sigstore trusted_root.json and nothing else: no
// network, no clock (every time-dependent check uses the bundle's verified
// RFC 3161 timestamps).
//
// A bundle (protobuf-specs Bundle v0.3 JSON; v0.1 and v0.2 are also read)
// signs an artifact with a message signature, or is an attestation: a DSSE
// envelope whose in-toto statement names the artifact among its subjects
// (ParseStatement; what cosign v3 attest-blob and sigstore-go make, logged
// as a hashedrekord of the envelope's PAE digest). It is either keyless (a
// short-lived certificate from a Fulcio-compatible CA, naming an OIDC
// identity) or signed with a key the verifier already holds. Either way it
// carries a Rekor v2 log entry (hashedrekord v0.0.2) with an inclusion
// proof and a signed checkpoint. Verify performs every check, in a fixed
// order, and reports the first that fails as an *Error whose Check names
// it, so that callers and tests can tell "wrong identity" from "bad proof".
//
// What is stricter than sigstore-go: identity regexps are anchored (they
// must match the whole SAN or issuer); the log entry's body is parsed and
// compared with the bundle's digest, signature and signer, and the proof's
// root and size with the checkpoint's; every timestamp in a bundle must
// verify, not just enough of them.
//
// For auditors, VerifyCheckpoint and VerifyConsistency check signed
// checkpoints and consistency proofs between them, and VerifyCosignatures
// counts witness cosignatures (C2SP tlog-cosignature). A WitnessPolicy
// (Tessera's policy format: witnesses, N-of-M groups, a quorum) in
// Policy.WitnessPolicy makes Verify require the quorum's cosignatures.
//
// Remember gives a verifier memory: per log, the largest checkpoint it
// verified, kept by a CheckpointMemory (DirMemory: a directory, written
// atomically). A later checkpoint must agree with it (same size, same
// root; otherwise a consistency proof, fetched by a ConsistencyProver);
// a contradiction is a split view, reported with Evidence that anyone can
// re-check (ParseEvidence, Evidence.Verify).
//
// The log ID and checkpoint origin rules are those of Rekor v2 and
// sigstore-go (see package github.com/mosaiclog/mosaic/pkg/note): a tlog's
// origin is the hostname of its base URL in the trusted root.
package verify
