// Package explorer serves the log's web pages under "/": the log (origin,
// key, size, checkpoint and its age, witnesses, index lag, add rate over the
// last hour), an entry (the decoded hashedrekord, its canonical body and
// inclusion proof), search by digest, identity, issuer or key fingerprint,
// a consistency check between two sizes, the recent entries of a watched
// identity, and a page that checks a pasted Sigstore bundle.
//
// Pages are rendered on the server by html/template, so every value a log
// entry carries (a SAN, an issuer, a certificate subject) is escaped for the
// place it is written, and reading works with JavaScript off. Every asset is
// embedded in the binary and served from /static/; no page loads anything
// from elsewhere, and every answer carries a Content-Security-Policy of
// default-src 'self' with no inline script.
//
// Verification in the browser. The entry and bundle pages load
// /static/verify.js, which fetches the entry's inclusion proof and the
// signed checkpoint from the log's JSON API and checks, with WebCrypto and
// its own few dozen lines of RFC 6962 code: the checkpoint's signature
// against the log key written into the page, that the checkpoint's size and
// root are the proof's, the leaf hash of the entry bytes the page shows, and
// the inclusion proof from that leaf to the root. The trust point is the
// page itself: the key the script trusts is the one the server embedded
// (<meta name="mosaic-log-key">). A reader who fetched the page from the log
// they are checking trusts that log for the key; checking the key against
// one obtained elsewhere (a trusted_root.json, the log's published vkey) is
// what makes the check independent of the server. What the script removes
// is trust in every later answer: a proxy, cache or compromised frontend
// that changes a proof, a checkpoint or an entry after the page was served
// is caught, and the page says which check failed.
package explorer
