package explorer

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/internal/tlog"
)

// entryData is an entry as its page shows it.
type entryData struct {
	Index uint64
	// Leaf is the logged bytes as text, and LeafB64 the same bytes in
	// base64 for verify.js, which hashes them itself.
	Leaf, LeafB64 string
	// Err says why the leaf could not be decoded; the bytes and proof are
	// still shown.
	Err   string
	Facts *entry.Facts
	// KeyDetails is the signature algorithm (sigstore's name), Signature
	// the signature in base64.
	KeyDetails, Signature string
	Cert                  *certData
	Proof                 *tlog.InclusionProof
}

type certData struct {
	Subject, IssuerDN   string
	NotBefore, NotAfter time.Time
	Serial              string
}

// hashedRekordLeaf is the part of a canonical hashedrekord leaf the page
// shows beyond entry.Facts.
type hashedRekordLeaf struct {
	Spec struct {
		HashedRekordV002 struct {
			Signature struct {
				Content  string `json:"content"`
				Verifier struct {
					KeyDetails string `json:"keyDetails"`
				} `json:"verifier"`
			} `json:"signature"`
		} `json:"hashedRekordV002"`
	} `json:"spec"`
}

func describeEntry(i uint64, leaf []byte) *entryData {
	d := &entryData{Index: i, Leaf: string(leaf), LeafB64: base64.StdEncoding.EncodeToString(leaf)}
	f, err := entry.Describe(leaf)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	d.Facts = f
	var hr hashedRekordLeaf
	if json.Unmarshal(leaf, &hr) == nil {
		d.KeyDetails = hr.Spec.HashedRekordV002.Signature.Verifier.KeyDetails
		d.Signature = hr.Spec.HashedRekordV002.Signature.Content
	}
	if c := f.Certificate; c != nil {
		d.Cert = describeCert(c)
	}
	return d
}

func describeCert(c *x509.Certificate) *certData {
	return &certData{Subject: c.Subject.String(), IssuerDN: c.Issuer.String(),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, Serial: c.SerialNumber.Text(16)}
}

// entrySummary is one row of a search or watch result.
type entrySummary struct {
	Index  uint64
	Digest string
	// Who is the certificate's first SAN, or the key fingerprint.
	Who, Issuer string
	Err         string
}

func summarize(i uint64, leaf []byte) entrySummary {
	s := entrySummary{Index: i}
	f, err := entry.Describe(leaf)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	s.Digest, s.Issuer, s.Who = f.Digest, f.Issuer, "key "+f.KeyFingerprint
	if len(f.SANs) > 0 {
		s.Who = f.SANs[0]
	}
	return s
}
