package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/gateway"
)

var saneID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func TestRequestID(t *testing.T) {
	cases := []struct {
		name   string
		sent   string
		echoed bool
	}{
		{"sane value is kept", "req-42_a.B", true},
		{"128 characters are kept", strings.Repeat("a", 128), true},
		{"absent gets one", "", false},
		{"129 characters are replaced", strings.Repeat("a", 129), false},
		{"spaces are replaced", "two words", false},
		{"a forged log line is replaced", "x\" level=ERROR msg=forged", false},
		{"non-ASCII is replaced", "idé", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := newServer(t, gateway.Config{})
			var seen string
			s.Handle("GET /id", func(w http.ResponseWriter, r *http.Request) error {
				seen = gateway.RequestID(r.Context())
				return gateway.Respond(w, http.StatusOK, map[string]string{})
			})
			req := httptest.NewRequest(http.MethodGet, "/id", nil)
			if tc.sent != "" {
				req.Header.Set("X-Request-ID", tc.sent)
			}
			resp, _ := serve(s, req)

			id := resp.Header.Get("X-Request-ID")
			require.Regexp(t, saneID, id)
			if tc.echoed {
				assert.Equal(t, tc.sent, id)
			} else {
				assert.NotEqual(t, tc.sent, id)
			}
			assert.Equal(t, id, seen, "the handler's context carries the id")
			access := logs.find(t, "http request")
			require.Len(t, access, 1)
			assert.Equal(t, id, access[0]["request_id"])
		})
	}
}

func TestRequestIDsAreUnique(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	seen := map[string]bool{}
	for range 100 {
		resp, _ := serve(s, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		id := resp.Header.Get("X-Request-ID")
		require.False(t, seen[id], "id %q was given twice", id)
		seen[id] = true
	}
}

func TestAccessLog(t *testing.T) {
	s, logs := newServer(t, gateway.Config{})
	s.Handle("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) error {
		return gateway.Respond(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/v1/things/7?token=s3cret", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)

	access := logs.find(t, "http request")
	require.Len(t, access, 1)
	line := access[0]
	assert.Equal(t, "INFO", line["level"])
	assert.Equal(t, "GET", line["method"])
	assert.Equal(t, "/v1/things/{id}", line["route"])
	assert.Equal(t, "/v1/things/7", line["path"])
	assert.EqualValues(t, 200, line["status"])
	assert.EqualValues(t, len(body), line["bytes"])
	assert.Contains(t, line, "duration")
	assert.Equal(t, resp.Header.Get("X-Request-ID"), line["request_id"])
	assert.NotContains(t, logs.String(), "s3cret", "query strings are never logged")
}

func TestPanicRecovery(t *testing.T) {
	s, logs := newServer(t, gateway.Config{})
	s.Handle("GET /boom", func(w http.ResponseWriter, r *http.Request) error {
		panic("db password hunter2")
	})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/boom", nil))

	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	p := problemOf(t, resp, body)
	assert.Equal(t, "internal", p.Code)
	for _, leak := range []string{"hunter2", "goroutine", ".go:", "panic"} {
		assert.NotContains(t, string(body), leak)
	}

	panics := logs.find(t, "panic serving request")
	require.Len(t, panics, 1)
	assert.Equal(t, "db password hunter2", panics[0]["panic"])
	assert.Contains(t, panics[0]["stack"], "goroutine")
	assert.Equal(t, p.RequestID, panics[0]["request_id"])
	access := logs.find(t, "http request")
	require.Len(t, access, 1)
	assert.Equal(t, "ERROR", access[0]["level"])
	assert.EqualValues(t, 500, access[0]["status"])
}

func TestPanicAfterResponseStarted(t *testing.T) {
	s, logs := newServer(t, gateway.Config{})
	s.Handle("GET /half", func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		panic("midway")
	})
	resp, body := serve(s, httptest.NewRequest(http.MethodGet, "/half", nil))

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "partial", string(body), "no problem is appended to a started response")
	access := logs.find(t, "http request")
	require.Len(t, access, 1)
	assert.Equal(t, "ERROR", access[0]["level"])
	assert.Equal(t, "internal", access[0]["code"])
}

func TestAbortHandlerPassesThrough(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	s.Handle("GET /abort", func(w http.ResponseWriter, r *http.Request) error {
		panic(http.ErrAbortHandler)
	})
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		serve(s, httptest.NewRequest(http.MethodGet, "/abort", nil))
	})
}

func TestBodyLimit(t *testing.T) {
	s, _ := newServer(t, gateway.Config{MaxBodyBytes: 64})
	called := 0
	s.Handle("POST /echo", func(w http.ResponseWriter, r *http.Request) error {
		called++
		var v map[string]string
		if err := gateway.Decode(r, &v); err != nil {
			return err
		}
		return gateway.Respond(w, http.StatusOK, v)
	})
	big := `{"note":"` + strings.Repeat("x", 100) + `"}`

	t.Run("declared too large is refused before the handler", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(big))
		req.Header.Set("Content-Type", "application/json")
		resp, body := serve(s, req)
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Equal(t, "payload_too_large", problemOf(t, resp, body).Code)
		assert.Zero(t, called)
	})
	t.Run("streamed too large fails the read", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/echo", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1 // chunked: the size is known only by reading
		req.Header.Set("Content-Type", "application/json")
		resp, body := serve(s, req)
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Equal(t, "payload_too_large", problemOf(t, resp, body).Code)
		assert.Equal(t, 1, called)
	})
	t.Run("within the limit", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(`{"note":"hi"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, body := serve(s, req)
		require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
		assert.JSONEq(t, `{"note":"hi"}`, string(body))
	})
}

func TestDefaultBodyLimitIsOneMiB(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	s.Handle("POST /echo", func(w http.ResponseWriter, r *http.Request) error { return nil })
	req := httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(strings.Repeat(" ", 1<<20+1)))
	resp, _ := serve(s, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

	req = httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(strings.Repeat(" ", 1<<20)))
	resp, _ = serve(s, req)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestSecurityHeaders(t *testing.T) {
	s, _ := newServer(t, gateway.Config{})
	s.Handle("GET /boom", func(w http.ResponseWriter, r *http.Request) error { panic("boom") })
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for _, target := range []string{"/healthz", "/nope", "/boom", "/openapi.yaml"} {
		for _, auth := range []bool{false, true} {
			req := httptest.NewRequest(http.MethodGet, target, nil)
			if auth {
				req.Header.Set("Authorization", "Bearer abc")
			}
			resp, _ := serve(s, req)
			for k, v := range want {
				assert.Equal(t, v, resp.Header.Get(k), "%s %s (auth %v)", k, target, auth)
			}
			if auth {
				assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "%s with Authorization", target)
			} else {
				assert.Empty(t, resp.Header.Get("Cache-Control"), "%s without Authorization", target)
			}
		}
	}
}

func TestMetricsUseRoutePatterns(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, _ := newServer(t, gateway.Config{Registry: reg, Version: "1.2.3"})
	s.Handle("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) error {
		return gateway.Respond(w, http.StatusOK, map[string]string{})
	})
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/v1/things/1", nil),
		httptest.NewRequest(http.MethodGet, "/v1/things/2", nil),
		httptest.NewRequest(http.MethodGet, "/v1/nothing/3", nil),
		httptest.NewRequest("BREW", "/v1/things/1", nil),
	} {
		serve(s, req)
	}

	families, err := reg.Gather()
	require.NoError(t, err)
	counts := map[string]float64{}
	histograms := map[string]uint64{}
	var version string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			l := labels(m)
			switch f.GetName() {
			case "emporium_http_requests_total":
				counts[l["route"]+" "+l["method"]+" "+l["status"]] = m.GetCounter().GetValue()
			case "emporium_http_request_duration_seconds":
				histograms[l["route"]+" "+l["method"]] = m.GetHistogram().GetSampleCount()
			case "emporium_build_info":
				version = l["version"]
			}
		}
	}
	assert.Equal(t, map[string]float64{
		"/v1/things/{id} GET 200": 2,
		"unmatched GET 404":       1,
		"unmatched OTHER 405":     1,
	}, counts)
	assert.Equal(t, map[string]uint64{
		"/v1/things/{id} GET": 2,
		"unmatched GET":       1,
		"unmatched OTHER":     1,
	}, histograms)
	assert.Equal(t, "1.2.3", version)
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestMetricsRegisteredTwicePanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	gateway.New(gateway.Config{Registry: reg})
	assert.Panics(t, func() { gateway.New(gateway.Config{Registry: reg}) })
}
