// Package gateway holds the HTTP contract of the wRPC key-value gateway: openapi.yaml, the
// OpenAPI document that describes every route and response and that the server validates
// requests with. It lives at the module root because //go:embed cannot reach into parent
// directories.
package gateway

import _ "embed"

// OpenAPIYAML is openapi.yaml as written, with the default limits. The handlers package serves
// and validates with a copy whose limits are patched to the configured ones; treat this slice
// as read-only.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
