package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/gateway"
)

func TestHealthz(t *testing.T) {
	s, _ := newServer(t, gateway.Config{Checks: []gateway.Check{{Name: "down", Check: func(context.Context) error {
		return errors.New("down")
	}}}})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode, "liveness ignores readiness checks")
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"status":"ok"}`, string(body))
}

func ok(context.Context) error { return nil }

func TestReadyzAllPass(t *testing.T) {
	s, _ := newServer(t, gateway.Config{Checks: []gateway.Check{
		{Name: "mongo", Check: ok},
		{Name: "redis", Check: ok},
	}})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ready","checks":{"mongo":"ok","redis":"ok"}}`, string(body))
}

func TestReadyzWithoutChecks(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ready","checks":{}}`, string(body))
}

func TestReadyzOneFails(t *testing.T) {
	s, logs := newServer(t, gateway.Config{Checks: []gateway.Check{
		{Name: "mongo", Check: ok},
		{Name: "redis", Check: func(context.Context) error {
			return errors.New("dial tcp 10.0.0.7:6379: connection refused")
		}},
	}})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.JSONEq(t, `{"status":"unavailable","checks":{"mongo":"ok","redis":"unavailable"}}`, string(body))
	assert.NotContains(t, string(body), "10.0.0.7")

	failed := logs.find(t, "readiness check failed")
	require.Len(t, failed, 1)
	assert.Equal(t, "redis", failed[0]["check"])
	assert.Contains(t, failed[0]["error"], "10.0.0.7")
	assert.Equal(t, resp.Header.Get("X-Request-ID"), failed[0]["request_id"])
}

func TestReadyzCheckPanics(t *testing.T) {
	s, _ := newServer(t, gateway.Config{Checks: []gateway.Check{
		{Name: "search", Check: func(context.Context) error { panic("nil index") }},
	}})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.JSONEq(t, `{"status":"unavailable","checks":{"search":"unavailable"}}`, string(body))
}

func TestReadyzTimeout(t *testing.T) {
	// stuck ignores its context, as a careless check might; it is released
	// when the test ends so its goroutine does not outlive the test.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s, logs := newServer(t, gateway.Config{
		CheckTimeout: 50 * time.Millisecond,
		Checks: []gateway.Check{
			{Name: "mongo", Check: ok},
			{Name: "cluster", Check: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}},
			{Name: "stuck", Check: func(context.Context) error {
				<-release
				return nil
			}},
		},
	})
	start := time.Now()
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Less(t, time.Since(start), 5*time.Second, "readyz must not wait for a stuck check")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.JSONEq(t, `{"status":"unavailable","checks":{"mongo":"ok","cluster":"unavailable","stuck":"unavailable"}}`, string(body))
	assert.NotEmpty(t, logs.find(t, "readiness checks timed out"))
}

func TestReadyzRunsChecksConcurrently(t *testing.T) {
	// Each check waits for the other to start: they pass only if they run
	// at the same time.
	var started sync.WaitGroup
	started.Add(2)
	both := make(chan struct{})
	go func() { started.Wait(); close(both) }()
	meet := func(ctx context.Context) error {
		started.Done()
		select {
		case <-both:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s, _ := newServer(t, gateway.Config{
		CheckTimeout: 10 * time.Second,
		Checks:       []gateway.Check{{Name: "a", Check: meet}, {Name: "b", Check: meet}},
	})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
}

func TestReadyzDefaultTimeout(t *testing.T) {
	var left time.Duration
	s, _ := newServer(t, gateway.Config{Checks: []gateway.Check{{Name: "clock", Check: func(ctx context.Context) error {
		deadline, ok := ctx.Deadline()
		if !ok {
			return errors.New("no deadline")
		}
		left = time.Until(deadline)
		return nil
	}}}})
	resp, _ := serve(s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.LessOrEqual(t, left, gateway.DefaultCheckTimeout)
	assert.Greater(t, left, gateway.DefaultCheckTimeout-time.Second)
}

func TestOpenAPIServed(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/yaml", resp.Header.Get("Content-Type"))
	assert.Equal(t, gateway.OpenAPI(), body)
	assert.True(t, strings.HasPrefix(string(body), "openapi: 3.1."))
}

func TestMetricsServed(t *testing.T) {
	s, _ := newServer(t, gateway.Config{Version: "9.9.9"})
	serve(s, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	resp, _ := serve(s, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "metrics are not a route of the API")
	resp, body := serve(s.MetricsHandler(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"))
	assert.Contains(t, string(body), `emporium_http_requests_total{method="GET",route="/healthz",status="200"} 1`)
	assert.Contains(t, string(body), `emporium_build_info{version="9.9.9"} 1`)
}
