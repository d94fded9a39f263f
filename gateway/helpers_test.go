package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
)

// logs collects the JSON log lines of a server under test. It is safe for
// concurrent use, as a handler's goroutines may log.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns every log record written so far.
func (l *logs) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(l.buf.Bytes()))
	for {
		var rec map[string]any
		if err := dec.Decode(&rec); err == io.EOF {
			return out
		} else {
			require.NoError(t, err)
		}
		out = append(out, rec)
	}
}

// find returns the records with the given message.
func (l *logs) find(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range l.records(t) {
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newServer returns a gateway whose logs are captured and whose metrics go
// to a registry of its own.
func newServer(t *testing.T, cfg gateway.Config) (*gateway.Server, *logs) {
	t.Helper()
	l := &logs{}
	cfg.Logger = slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	return gateway.New(cfg), l
}

// serve runs req through h and returns the response and its body.
func serve(h http.Handler, req *http.Request) (*http.Response, []byte) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.Bytes()
}

// problemOf checks that a response is a problem and decodes it.
func problemOf(t *testing.T, resp *http.Response, body []byte) gateway.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), "body: %s", body)
	var p gateway.Problem
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&p), "body: %s", body)
	if p.Code != emporium.EPRICECHANGED {
		// Problem decodes unknown members as extensions; only
		// price_changed has one.
		require.Empty(t, p.Extensions, "body: %s", body)
	}
	require.Equal(t, resp.StatusCode, p.Status)
	require.Equal(t, gateway.ProblemTypeBase+p.Code, p.Type)
	require.NotEmpty(t, p.Title)
	require.NotEmpty(t, p.Detail)
	require.Equal(t, resp.Header.Get("X-Request-ID"), p.RequestID)
	return p
}
