package verify

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/sigstore/timestamp-authority/v2/pkg/verification"
)

// verifyTimestamps verifies every RFC 3161 timestamp of b and returns their
// times. Each must be signed by a trusted TSA, at a time within the TSA's
// validity, over the bundle's signature bytes. A bundle that carries a
// timestamp no trusted TSA vouches for is refused rather than verified on
// its other timestamps.
func verifyTimestamps(b *Bundle, tr *TrustedRoot) ([]time.Time, error) {
	if len(b.Timestamps) > 0 && len(tr.TimestampAuthorities) == 0 {
		return nil, fail(CheckTimestamp, "the bundle has %d timestamps but the trusted root lists no timestamp authorities", len(b.Timestamps))
	}
	times := make([]time.Time, 0, len(b.Timestamps))
	for i, der := range b.Timestamps {
		t, err := verifyTimestamp(der, b.Signature, tr.TimestampAuthorities)
		if err != nil {
			return nil, fail(CheckTimestamp, "timestamp %d: %w", i, err)
		}
		times = append(times, t)
	}
	return times, nil
}

// verifyTimestamp returns the time of the timestamp response der over
// signed, once one of tsas vouches for it.
func verifyTimestamp(der, signed []byte, tsas []*CertificateAuthority) (time.Time, error) {
	var errs []error
	for _, tsa := range tsas {
		n := len(tsa.Chain)
		ts, err := verification.VerifyTimestampResponse(der, bytes.NewReader(signed), verification.VerifyOpts{
			TSACertificate: tsa.Chain[0],
			Intermediates:  tsa.Chain[1:max(n-1, 1)],
			Roots:          tsa.Chain[n-1:],
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("TSA %s: %w", tsa.URI, err))
			continue
		}
		if !tsa.ValidFor.Contains(ts.Time) {
			errs = append(errs, fmt.Errorf("TSA %s: the time %s is outside the TSA's validity in the trusted root",
				tsa.URI, ts.Time.UTC().Format(time.RFC3339)))
			continue
		}
		return ts.Time, nil
	}
	return time.Time{}, fmt.Errorf("no trusted timestamp authority vouches for it: %w", errors.Join(errs...))
}
