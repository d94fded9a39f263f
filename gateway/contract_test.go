package gateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
)

// TestContract checks the gateway's own routes against openapi.yaml.
func TestContract(t *testing.T) {
	ready, _ := newServer(t, gateway.Config{Checks: []gateway.Check{{Name: "mongo", Check: ok}}})
	unready, _ := newServer(t, gateway.Config{Checks: []gateway.Check{{Name: "redis", Check: func(context.Context) error {
		return errors.New("refused")
	}}}})
	cases := []struct {
		name   string
		server http.Handler
		method string
		target string
		status int
	}{
		{"liveness", ready, http.MethodGet, "/healthz", http.StatusOK},
		{"ready", ready, http.MethodGet, "/readyz", http.StatusOK},
		{"not ready", unready, http.MethodGet, "/readyz", http.StatusServiceUnavailable},
		{"metrics are not on the API", ready, http.MethodGet, "/metrics", http.StatusNotFound},
		{"contract", ready, http.MethodGet, "/openapi.yaml", http.StatusOK},
		{"unknown path", ready, http.MethodGet, "/v1/nowhere", http.StatusNotFound},
		{"unknown method", ready, http.MethodDelete, "/healthz", http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			req.Header.Set("X-Request-ID", "contract-test")
			resp, _ := gatewaytest.Do(t, tc.server, req)
			assert.Equal(t, tc.status, resp.StatusCode)
		})
	}
}

// TestContractOverTheNetwork runs the same checks through a real listener
// and gatewaytest.Transport, as end-to-end tests of the node do.
func TestContractOverTheNetwork(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: gatewaytest.Transport(t, nil)}

	for target, status := range map[string]int{
		"/healthz":      http.StatusOK,
		"/readyz":       http.StatusOK,
		"/metrics":      http.StatusNotFound,
		"/openapi.yaml": http.StatusOK,
		"/nope":         http.StatusNotFound,
	} {
		resp, err := client.Get(srv.URL + target)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, status, resp.StatusCode, "%s: %s", target, body)
		assert.NotEmpty(t, body, "the transport hands the body on")
	}
}
