package client

import (
	"context"
	"fmt"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/proto"
)

// TrustedRoot returns the server's trusted_root.json
// (GET /api/v2/trustedRoot), parsed and as received. It is information, not
// trust: a verifier should get its trusted root out of band.
func (c *Client) TrustedRoot(ctx context.Context) (*prototrustroot.TrustedRoot, []byte, error) {
	var tr prototrustroot.TrustedRoot
	raw, err := c.getProto(ctx, "/api/v2/trustedRoot", &tr)
	if err != nil {
		return nil, nil, err
	}
	return &tr, raw, nil
}

// SigningConfig returns the server's signing_config.json
// (GET /api/v2/signingConfig), parsed and as received.
func (c *Client) SigningConfig(ctx context.Context) (*prototrustroot.SigningConfig, []byte, error) {
	var sc prototrustroot.SigningConfig
	raw, err := c.getProto(ctx, "/api/v2/signingConfig", &sc)
	if err != nil {
		return nil, nil, err
	}
	return &sc, raw, nil
}

// getProto reads an idempotent protojson resource into m.
func (c *Client) getProto(ctx context.Context, path string, m proto.Message) ([]byte, error) {
	data, err := c.getJSON(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := lenient.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("GET %s: %w: %v", c.base+path, ErrBadResponse, err)
	}
	return data, nil
}
