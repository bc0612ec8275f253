package backup

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/pkg/note"
	sumdbnote "golang.org/x/mod/sumdb/note"
)

// Format names the backup layout this package writes and reads.
const Format = "mosaic-backup/1"

// ManifestFile is the manifest's name in a backup directory; KeyFile the
// signing key's, when the backup includes it.
const (
	ManifestFile = "manifest.json"
	KeyFile      = "signing-key.pem"
)

// Manifest describes a backup. It is written last, once everything else is
// in place and checked: a directory without one is not a backup.
type Manifest struct {
	Format  string    `json:"format"`
	Created time.Time `json:"created"`
	// Origin and PublicKey (PKIX PEM) are the log's identity.
	Origin    string `json:"origin"`
	PublicKey string `json:"public_key"`
	// Size and RootHash are the tree Checkpoint (the signed note, as the
	// log published it) commits to.
	Size       uint64 `json:"size"`
	RootHash   []byte `json:"root_hash"`
	Checkpoint string `json:"checkpoint"`
	// Store is the kind of store the backup was taken from.
	Store string `json:"store"`
	// Tiles and Bundles count the files of each kind in the backup.
	Tiles   uint64 `json:"tiles"`
	Bundles uint64 `json:"entry_bundles"`
	// SigningKey is KeyFile when the backup holds the log's signing key
	// (mosaicd backup --include-keys), else empty.
	SigningKey string `json:"signing_key,omitempty"`
	// Excluded says what a restore rebuilds rather than copies.
	Excluded []string `json:"excluded"`
}

// excluded is what every backup leaves out, and why it may.
var excluded = []string{
	"duplicate index: rebuilt from the entries by restore (PostgreSQL) or by the first serve (file:)",
	"search index: rebuilt from the entries by the server's index follower",
	"signing key, unless --include-keys",
}

// ParseManifest parses and checks a backup manifest: a known format, a
// valid identity, and a checkpoint signed by that identity for the size and
// root hash the manifest names. It returns the manifest and the log's
// verifier.
func ParseManifest(data []byte) (*Manifest, sumdbnote.Verifier, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("not a backup manifest: %w", err)
	}
	if dec.More() {
		return nil, nil, errors.New("not a backup manifest: data after the JSON object")
	}
	if m.Format != Format {
		return nil, nil, fmt.Errorf("backup format %q: this mosaicd reads %q", m.Format, Format)
	}
	if err := note.ValidOrigin(m.Origin); err != nil {
		return nil, nil, fmt.Errorf("origin: %w", err)
	}
	pub, err := note.ParsePublicKey([]byte(m.PublicKey))
	if err != nil {
		return nil, nil, fmt.Errorf("public_key: %w", err)
	}
	v, err := note.NewVerifier(m.Origin, pub)
	if err != nil {
		return nil, nil, fmt.Errorf("public_key: %w", err)
	}
	cp, err := note.VerifyCheckpoint([]byte(m.Checkpoint), m.Origin, v)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	if cp.Size != m.Size || !bytes.Equal(cp.Hash, m.RootHash) {
		return nil, nil, fmt.Errorf("the checkpoint is of size %d, root %x; the manifest says size %d, root %x",
			cp.Size, cp.Hash, m.Size, m.RootHash)
	}
	if m.SigningKey != "" && m.SigningKey != KeyFile {
		return nil, nil, fmt.Errorf("signing_key %q: want %q or nothing", m.SigningKey, KeyFile)
	}
	return &m, v, nil
}

// PublicKeyDER returns the manifest's public key, PKIX DER.
func (m *Manifest) PublicKeyDER() ([]byte, error) {
	pub, err := note.ParsePublicKey([]byte(m.PublicKey))
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKIXPublicKey(pub)
}

// Identity is a log's name and key as import takes them on the command
// line: a signed-note verifier key string, or an origin and a PEM key.
type Identity struct {
	Origin   string
	Verifier sumdbnote.Verifier
	// PublicKey is PKIX DER: what the store records.
	PublicKey []byte
}

// ParseIdentity builds the identity of a log to import from a verifier key
// string (vkey, "<name>+<hash>+<base64 key>"; only Ed25519 ones carry the
// key itself) or an origin and a PEM public key (any key Mosaic signs
// with). origin, if set, overrides the vkey's name.
func ParseIdentity(vkey, origin string, publicKeyPEM []byte) (*Identity, error) {
	v, origin, err := note.LogVerifier(vkey, origin, publicKeyPEM)
	if err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	if vkey != "" {
		if pub, err = vkeyEd25519(vkey); err != nil {
			return nil, err
		}
	} else if pub, err = note.ParsePublicKey(publicKeyPEM); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := note.ValidOrigin(origin); err != nil {
		return nil, err
	}
	return &Identity{Origin: origin, Verifier: v, PublicKey: der}, nil
}

// vkeyEd25519 returns the Ed25519 key of a verifier key string.
func vkeyEd25519(vkey string) (ed25519.PublicKey, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("verifier key %q: want <name>+<hash>+<key>", vkey)
	}
	k, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("verifier key %q: %w", vkey, err)
	}
	if len(k) != 1+ed25519.PublicKeySize || k[0] != 1 {
		return nil, fmt.Errorf("verifier key %q is not an Ed25519 key: give the log's origin (--origin) and PEM public key (--public-key) instead", vkey)
	}
	return ed25519.PublicKey(k[1:]), nil
}
