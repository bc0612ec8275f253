// Package openapi holds Mosaic's HTTP API document (OpenAPI 3), served at
// /openapi.yaml and checked against the server's routes in tests.
package openapi

import _ "embed"

// Spec is openapi.yaml.
//
//go:embed openapi.yaml
var Spec []byte
