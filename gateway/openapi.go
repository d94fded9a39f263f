package gateway

import (
	"bytes"
	_ "embed"
	"net/http"
)

// openapiYAML is the API contract, embedded so the binary serves the
// contract it was built and tested with.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI returns the OpenAPI 3.1 document of the API, as served at
// /openapi.yaml.
func OpenAPI() []byte {
	return bytes.Clone(openapiYAML)
}

func serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openapiYAML)
	return nil
}
