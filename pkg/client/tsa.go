package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/http"

	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Content types of RFC 3161 over HTTP (RFC 3161 section 3.4).
const (
	contentTSQuery = "application/timestamp-query"
	contentTSReply = "application/timestamp-reply"
)

// Timestamp sends a DER TimeStampReq to the timestamp authority (POST
// /api/v1/timestamp, or WithTimestampURL) and returns the DER
// TimeStampResp as received. Timestamp requests are safe to repeat.
func (c *Client) Timestamp(ctx context.Context, tsq []byte) ([]byte, error) {
	if len(tsq) == 0 {
		return nil, fmt.Errorf("timestamp: empty request")
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, url: c.timestampURL, body: tsq,
		contentType: contentTSQuery, accept: contentTSReply, idempotent: true})
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}

// TimestampData timestamps the SHA-256 digest of data: it sends a request
// with a random nonce that asks for the TSA's certificate, and checks that
// the reply is a granted timestamp over that digest with that nonce. It
// returns the DER TimeStampResp (what a Sigstore bundle's
// rfc3161Timestamps[].signedTimestamp holds) and its parsed token. The
// TSA's signature is NOT verified against any trust root here.
func (c *Client) TimestampData(ctx context.Context, data []byte) ([]byte, *timestamp.Timestamp, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("timestamp nonce: %w", err)
	}
	tsq, err := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{
		Hash: crypto.SHA256, Certificates: true, Nonce: nonce,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("building the timestamp request: %w", err)
	}
	tsr, err := c.Timestamp(ctx, tsq)
	if err != nil {
		return nil, nil, err
	}
	ts, err := checkTimestamp(tsr, data, nonce)
	if err != nil {
		return nil, nil, fmt.Errorf("POST %s: %w", c.timestampURL, err)
	}
	return tsr, ts, nil
}

// checkTimestamp parses a TimeStampResp and checks it answers a SHA-256
// request over data with nonce.
func checkTimestamp(tsr, data []byte, nonce *big.Int) (*timestamp.Timestamp, error) {
	ts, err := timestamp.ParseResponse(tsr)
	if err != nil {
		return nil, fmt.Errorf("%w: not a granted RFC 3161 timestamp: %v", ErrBadResponse, err)
	}
	h := crypto.SHA256.New()
	h.Write(data)
	switch {
	case ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, h.Sum(nil)):
		return nil, fmt.Errorf("%w: the timestamp is over another digest", ErrBadResponse)
	case ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0:
		return nil, fmt.Errorf("%w: the timestamp does not carry the request's nonce", ErrBadResponse)
	}
	return ts, nil
}

// TimestampCertChain returns the TSA's certificate chain, TSA certificate
// first (GET /api/v1/timestamp/certchain).
func (c *Client) TimestampCertChain(ctx context.Context) ([]*x509.Certificate, error) {
	u := c.timestampURL + "/certchain"
	resp, err := c.do(ctx, request{method: http.MethodGet, url: u, accept: "application/pem-certificate-chain", idempotent: true})
	if err != nil {
		return nil, err
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEMLimited(resp.body, maxChainCerts)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("GET %s: %w: not a PEM certificate chain", u, ErrBadResponse)
	}
	return certs, nil
}
