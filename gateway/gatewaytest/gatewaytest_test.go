package gatewaytest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
)

func TestSpecIsOpenAPI31(t *testing.T) {
	doc := gatewaytest.Spec(t)
	assert.True(t, doc.IsOpenAPI31OrLater())
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	for _, name := range []string{"Problem", "FieldError", "Money", "StockLevel", "SetStockRequest"} {
		assert.Contains(t, doc.Components.Schemas, name)
	}
}

// recorder is a testing.TB that keeps the failures reported to it, so a
// test can check that the helper reports what it should.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

// fake answers every request with the given status, headers and body.
func fake(status int, header map[string]string, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

var jsonHeader = map[string]string{"Content-Type": "application/json", "X-Request-ID": "abc"}

func problemHeader(extra ...string) map[string]string {
	h := map[string]string{"Content-Type": "application/problem+json", "X-Request-ID": "abc"}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

func problem(status int, code string) string {
	return fmt.Sprintf(`{"type":"https://emporium.dev/problems/%s","title":"T","status":%d,"detail":"D","code":"%s","request_id":"abc"}`, code, status, code)
}

func TestValidateResponseReportsMismatches(t *testing.T) {
	cases := []struct {
		name    string
		handler http.Handler
		method  string
		target  string
		body    string
		want    string // a substring of the failure
	}{
		{"undocumented route answered", fake(200, jsonHeader, `{}`),
			"GET", "/v1/secret", "", "must be a 404 problem"},
		{"404 as text", fake(404, map[string]string{"Content-Type": "text/plain", "X-Request-ID": "abc"}, "404 page not found"),
			"GET", "/v1/secret", "", "must be a 404 problem"},
		{"404 problem not matching the schema", fake(404, problemHeader(), `{"status":404,"request_id":"abc"}`),
			"GET", "/v1/secret", "", "Problem schema"},
		{"undocumented method answered", fake(200, jsonHeader, `{"status":"ok"}`),
			"POST", "/healthz", "", "must be a 405 problem"},
		{"405 without Allow", fake(405, problemHeader(), problem(405, "method_not_allowed")),
			"POST", "/healthz", "", "Allow header"},
		{"undocumented status", fake(418, jsonHeader, `{"status":"ok"}`),
			"GET", "/healthz", "", "status is not supported"},
		{"body off schema", fake(200, jsonHeader, `{"status":"fine"}`),
			"GET", "/healthz", "", "does not match openapi.yaml"},
		{"missing X-Request-ID", fake(200, map[string]string{"Content-Type": "application/json"}, `{"status":"ok"}`),
			"GET", "/healthz", "", "X-Request-ID"},
		{"wrong content type", fake(200, map[string]string{"Content-Type": "text/html", "X-Request-ID": "abc"}, `<p>ok</p>`),
			"GET", "/healthz", "", "does not match openapi.yaml"},
		{"problem with another status", fake(404, problemHeader(), problem(400, "not_found")),
			"GET", "/nowhere", "", "problem says status 400"},
		{"problem with another request id", fake(404, problemHeader("X-Request-ID", "xyz"), problem(404, "not_found")),
			"GET", "/nowhere", "", "request_id"},
		{"undocumented request body accepted", fake(200, jsonHeader, `{"status":"ok"}`),
			"GET", "/healthz", `{"debug":true}`, "does not allow"},
		{"readiness check state off schema", fake(503, jsonHeader, `{"status":"unavailable","checks":{"redis":"down"}}`),
			"GET", "/readyz", "", "does not match openapi.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			gatewaytest.Do(rec, tc.handler, httptest.NewRequest(tc.method, tc.target, body))
			require.NotEmpty(t, rec.failures, "the mismatch went unnoticed")
			assert.Contains(t, strings.Join(rec.failures, "\n"), tc.want)
		})
	}
}

func TestValidateResponsePassesTheGateway(t *testing.T) {
	s := gateway.New(gateway.Config{})
	for _, target := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml", "/nowhere"} {
		rec := &recorder{TB: t}
		gatewaytest.Do(rec, s, httptest.NewRequest(http.MethodGet, target, nil))
		assert.Empty(t, rec.failures, target)
	}
	rec := &recorder{TB: t}
	gatewaytest.Do(rec, s, httptest.NewRequest(http.MethodPut, "/readyz", strings.NewReader(`{}`)))
	assert.Empty(t, rec.failures, "PUT /readyz")
}

func TestTransportReportsMismatches(t *testing.T) {
	srv := httptest.NewServer(fake(200, jsonHeader, `{}`))
	t.Cleanup(srv.Close)
	rec := &recorder{TB: t}
	client := &http.Client{Transport: gatewaytest.Transport(rec, nil)}
	resp, err := client.Get(srv.URL + "/v1/undocumented")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "{}", string(body))
	require.Len(t, rec.failures, 1)
	assert.Contains(t, rec.failures[0], "must be a 404 problem")
}
