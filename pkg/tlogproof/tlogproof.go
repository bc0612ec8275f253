// Package tlogproof reads, writes and verifies C2SP tlog-proof files
// (https://c2sp.org/tlog-proof): an offline proof that an entry is in a
// transparency log, made of the entry's index, its Merkle inclusion proof
// and the log's signed checkpoint (with any witness cosignatures), verbatim.
//
//	c2sp.org/tlog-proof@v1
//	[extra <base64>]
//	index <decimal>
//	<base64 proof hash, one per line, from the leaf's sibling up>
//	<empty line>
//	<signed checkpoint, verbatim>
//
// The entry itself travels beside the proof: a verifier needs its bytes (a
// Mosaic leaf is the canonicalized Rekor v2 entry) to compute the RFC 6962
// leaf hash the proof binds to the checkpoint's root.
//
// Parse is strict: it accepts exactly what Marshal writes, so
// Marshal(Parse(x)) == x for every x Parse accepts. Beyond the format it
// checks what can be checked without the log's key: that the checkpoint is
// a signed note whose body is a checkpoint, that the index is inside its
// tree and that the proof has the length an inclusion proof of that index in
// that tree has. Verify then checks the checkpoint's signature by the log
// and the inclusion of a leaf. Cosignatures are carried, not checked.
package tlogproof

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// Header is the first line of every tlog-proof.
const Header = "c2sp.org/tlog-proof@v1"

// Extension is the file extension the spec recommends for proofs.
const Extension = ".tlog-proof"

// MaxHashes is the longest inclusion proof there is: a tree of at most
// 2^64-1 entries is at most 64 levels deep.
const MaxHashes = 64

// MaxSize bounds the proof files Parse reads (1 MiB): the checkpoint, its
// cosignatures (a signed note holds at most 100 signatures) and the
// extra data fit in far less.
const MaxSize = 1 << 20

// Proof is a parsed tlog-proof.
type Proof struct {
	// Extra is the optional, unauthenticated application data of the extra
	// line; nil when the proof has none (an empty extra line is not nil).
	Extra []byte
	// Index is the entry's zero-based index in the log.
	Index uint64
	// Hashes is the inclusion proof of Index in the checkpoint's tree, from
	// the leaf's sibling up to the root's child; each is 32 bytes.
	Hashes [][]byte
	// Checkpoint is the log's signed checkpoint, verbatim, with any
	// cosignatures.
	Checkpoint []byte
}

// Error is a proof that does not parse or does not verify. Check names
// what refused it.
type Error struct {
	Check Check
	Err   error
}

// Check names one check of Parse or Verify.
type Check string

// The checks, in the order they run.
const (
	CheckFormat     Check = "tlog-proof format"
	CheckCheckpoint Check = "checkpoint"
	CheckInclusion  Check = "inclusion proof"
)

// Error starts with the check's name.
func (e *Error) Error() string { return string(e.Check) + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }

func fail(check Check, format string, args ...any) *Error {
	return &Error{Check: check, Err: fmt.Errorf(format, args...)}
}

// New returns the proof of entry index by hashes against a signed
// checkpoint, after checking it as Parse would.
func New(index uint64, hashes [][]byte, checkpoint []byte) (*Proof, error) {
	p := &Proof{Index: index, Hashes: hashes, Checkpoint: checkpoint}
	if _, err := p.Marshal(); err != nil {
		return nil, err
	}
	return p, nil
}

// Marshal encodes p as a tlog-proof. It refuses a proof Parse would
// refuse (a hash that is not 32 bytes, an index outside the checkpoint's
// tree, a proof of the wrong length, a checkpoint that is no signed note),
// so what it writes always parses back to p.
func (p *Proof) Marshal() ([]byte, error) {
	for i, h := range p.Hashes {
		if len(h) != sha256.Size {
			return nil, fail(CheckFormat, "proof hash %d is %d bytes, want %d", i, len(h), sha256.Size)
		}
	}
	var b bytes.Buffer
	b.WriteString(Header + "\n")
	if p.Extra != nil {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Extra) + "\n")
	}
	b.WriteString("index " + strconv.FormatUint(p.Index, 10) + "\n")
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	if _, err := Parse(b.Bytes()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Parse decodes a tlog-proof strictly: lines end in a bare newline; the
// header, then at most one extra line of canonical base64, then the index
// in decimal without leading zeros, then at most MaxHashes lines each the
// canonical base64 of 32 bytes, an empty line, and a signed checkpoint
// with at least one signature and nothing after it. The index must be in
// the checkpoint's tree and the proof as long as that index's inclusion
// proof in that tree. Signatures are not verified (see Verify). The proof
// returned does not share memory with data. Every error is an *Error.
func Parse(data []byte) (*Proof, error) {
	if len(data) > MaxSize {
		return nil, fail(CheckFormat, "the proof is %d bytes, more than the %d allowed", len(data), MaxSize)
	}
	r := lineReader{rest: data}
	p, err := parseHead(&r)
	if err != nil {
		return nil, err
	}
	p.Checkpoint = bytes.Clone(r.rest)
	if err := p.checkCheckpoint(); err != nil {
		return nil, err
	}
	return p, nil
}

// parseHead reads the lines before the checkpoint, and the empty line.
func parseHead(r *lineReader) (*Proof, error) {
	first, _, _ := bytes.Cut(r.rest, []byte("\n"))
	empty := len(r.rest) == 0
	line, err := r.next("the header")
	switch {
	case empty || err != nil && string(first) == Header+"\r":
		return nil, err
	case err != nil || line != Header:
		return nil, fail(CheckFormat, "the first line is %.40q, want %q (is this a tlog-proof?)", first, Header)
	}
	p := &Proof{}
	if line, err = r.next("the index line"); err != nil {
		return nil, err
	}
	if b64, ok := strings.CutPrefix(line, "extra "); ok {
		if p.Extra, err = decodeCanonical(b64); err != nil {
			return nil, fail(CheckFormat, "the extra line: %w", err)
		}
		if line, err = r.next("the index line"); err != nil {
			return nil, err
		}
	}
	if p.Index, err = parseIndexLine(line); err != nil {
		return nil, err
	}
	for {
		if line, err = r.next("the empty line before the checkpoint"); err != nil {
			return nil, err
		}
		if line == "" {
			return p, nil
		}
		if len(p.Hashes) == MaxHashes {
			return nil, fail(CheckFormat, "more than %d proof hashes", MaxHashes)
		}
		h, err := decodeCanonical(line)
		if err != nil {
			return nil, fail(CheckFormat, "proof hash %d: %w", len(p.Hashes), err)
		}
		if len(h) != sha256.Size {
			return nil, fail(CheckFormat, "proof hash %d is %d bytes, want %d", len(p.Hashes), len(h), sha256.Size)
		}
		p.Hashes = append(p.Hashes, h)
	}
}

// parseIndexLine reads "index N": N decimal, no sign, no leading zeros.
func parseIndexLine(line string) (uint64, error) {
	s, ok := strings.CutPrefix(line, "index ")
	if !ok {
		return 0, fail(CheckFormat, "want the line %q, got %.40q", "index <N>", line)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fail(CheckFormat, "index %q has a leading zero", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, fail(CheckFormat, "index %s is larger than 2^64-1", s)
		}
		return 0, fail(CheckFormat, "index %.40q is not a decimal number", s)
	}
	return n, nil
}

// checkCheckpoint checks, without any key, that p.Checkpoint is a signed
// checkpoint and that p's index and proof fit its tree.
func (p *Proof) checkCheckpoint() error {
	if len(p.Checkpoint) == 0 {
		return fail(CheckFormat, "no checkpoint after the empty line")
	}
	_, err := sumdbnote.Open(p.Checkpoint, sumdbnote.VerifierList())
	var unverified *sumdbnote.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return fail(CheckCheckpoint, "not a signed note with at least one signature and nothing after them: %v", err)
	}
	cp, err := note.ParseCheckpoint(p.Checkpoint)
	if err != nil {
		return &Error{Check: CheckCheckpoint, Err: err}
	}
	return p.checkFits(cp)
}

// checkFits checks that p's index is in a tree of cp's size and that p's
// proof has the length of that index's inclusion proof there.
func (p *Proof) checkFits(cp *log.Checkpoint) error {
	if p.Index >= cp.Size {
		return fail(CheckFormat, "index %d is not in the checkpoint's tree of size %d", p.Index, cp.Size)
	}
	// The root from a zero leaf hash is meaningless; only the length check
	// of the library that verifies inclusion matters here.
	zero := make([]byte, sha256.Size)
	if _, err := proof.RootFromInclusionProof(rfc6962.DefaultHasher, p.Index, cp.Size, zero, p.Hashes); err != nil {
		return fail(CheckFormat, "%d proof hashes do not fit entry %d of a tree of size %d: %w", len(p.Hashes), p.Index, cp.Size, err)
	}
	return nil
}

// decodeCanonical decodes standard padded base64, refusing any encoding
// but the canonical one (no stray padding bits, no embedded newlines).
func decodeCanonical(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("%.60q is not canonical standard base64", s)
	}
	return b, nil
}

// lineReader hands out newline-terminated lines.
type lineReader struct{ rest []byte }

// next returns the next line without its newline. A line that does not
// end in a newline, or that holds a carriage return, is an error naming
// what was expected there.
func (r *lineReader) next(what string) (string, error) {
	i := bytes.IndexByte(r.rest, '\n')
	if i < 0 {
		return "", fail(CheckFormat, "the proof ends before %s", what)
	}
	line := r.rest[:i]
	if bytes.IndexByte(line, '\r') >= 0 {
		return "", fail(CheckFormat, "a line before the checkpoint ends in CRLF or holds a carriage return; lines end in a bare newline")
	}
	r.rest = r.rest[i+1:]
	return string(line), nil
}
