// Package interop checks Mosaic against the unmodified Sigstore Go client,
// sigstore-go: its verifier must accept bundles built from Mosaic's
// responses (and reject tampered ones), and its Rekor v2 signer must be able
// to write to Mosaic.
//
// It is a separate Go module so that sigstore-go, which links some eighty
// modules, never becomes a dependency of Mosaic itself. sigstore-go is pinned
// at v1.3.0, the last release that builds with Go 1.26; do not `go get -u`.
// The package holds tests only.
package interop
