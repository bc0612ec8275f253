// Package idtile reads and writes identity tiles: for each full entry
// bundle of a Mosaic log, a small compressed object listing, per entry, the
// artifact digest and who signed it (certificate SANs and OIDC issuer, or
// the public key's fingerprint), so that a monitor can look for its
// identities without downloading every bundle. The format is specified in
// docs/identity-tiles.md.
//
// An identity tile is a summary the log writes, not part of the Merkle
// tree: a monitor that finds a match reads the entry bundle and verifies it
// against the tree before acting on it.
package idtile

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Width is the number of records in an identity tile: one per entry of a
// full entry bundle.
const Width = 256

// MaxSize bounds the decompressed size of an identity tile that Parse
// accepts (4 KiB per record on average).
const MaxSize = Width * 4096

// Path returns the path of the identity tile of entry bundle n, relative
// to the log's tlog-tiles root: tile/identities/<N> with N spelled as
// tlog-tiles spells bundle indices (x001/234 for 1234).
func Path(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	return "tile/identities/" + s
}

// Record is what an identity tile says of one entry. Empty fields are
// unknown or not applicable (a key-signed entry has no SANs or issuer).
type Record struct {
	// Digest is the artifact digest, "<alg>:<hex>" (sha256, sha384, sha512).
	Digest string `json:"digest,omitempty"`
	// Key is "sha256:<hex>" of the verifier's public key (PKIX DER); for
	// a certificate, of its key.
	Key string `json:"key,omitempty"`
	// SANs are the certificate's subject alternative names.
	SANs []string `json:"sans,omitempty"`
	// Issuer is the OIDC issuer recorded in the certificate.
	Issuer string `json:"issuer,omitempty"`
}

// Marshal encodes exactly Width records as an identity tile.
func Marshal(recs []Record) ([]byte, error) {
	if len(recs) != Width {
		return nil, fmt.Errorf("idtile: %d records, want %d", len(recs), Width)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for i, r := range recs {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("idtile: record %d: %w", i, err)
		}
		line, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("idtile: record %d: %w", i, err)
		}
		zw.Write(line)
		zw.Write([]byte{'\n'})
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("idtile: compressing: %w", err)
	}
	return buf.Bytes(), nil
}

// check refuses what a reader could not tell apart: text that is not
// UTF-8 (JSON would silently replace it) and empty SANs.
func (r Record) check() error {
	for _, s := range append([]string{r.Digest, r.Key, r.Issuer}, r.SANs...) {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not UTF-8", s)
		}
	}
	for _, s := range r.SANs {
		if s == "" {
			return errors.New("empty SAN")
		}
	}
	return nil
}

// Parse decodes an identity tile strictly: gzip of exactly Width lines,
// each one JSON object with only the fields of Record, at most MaxSize
// bytes once decompressed.
func Parse(data []byte) ([]Record, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("idtile: not gzip: %w", err)
	}
	text, err := io.ReadAll(io.LimitReader(zr, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("idtile: decompressing: %w", err)
	}
	if len(text) > MaxSize {
		return nil, fmt.Errorf("idtile: more than %d bytes decompressed", MaxSize)
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return nil, errors.New("idtile: the last line does not end in a newline")
	}
	// One decoder reads every line (a decoder per line costs more than
	// the rest of Parse); each value must start its line and end at the
	// line's newline.
	recs := make([]Record, 0, Width)
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	for start := 0; start < len(text); {
		end := start + bytes.IndexByte(text[start:], '\n') // text ends in a newline
		if len(recs) == Width {
			return nil, fmt.Errorf("idtile: more than %d records", Width)
		}
		if text[start] != '{' {
			return nil, fmt.Errorf("idtile: record %d is not a JSON object", len(recs))
		}
		var r Record
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("idtile: record %d: %w", len(recs), err)
		}
		switch off := dec.InputOffset(); {
		case off < int64(end):
			return nil, fmt.Errorf("idtile: record %d: text after the object", len(recs))
		case off > int64(end):
			return nil, fmt.Errorf("idtile: record %d: the object spans more than one line", len(recs))
		}
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("idtile: record %d: %w", len(recs), err)
		}
		if len(r.SANs) == 0 {
			r.SANs = nil // "sans": [] says what an absent member says
		}
		recs = append(recs, r)
		start = end + 1
	}
	if len(recs) != Width {
		return nil, fmt.Errorf("idtile: %d records, want %d", len(recs), Width)
	}
	return recs, nil
}
