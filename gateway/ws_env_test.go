package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/live"
)

// liveEnv and the helpers below run a gateway with live updates for the
// websocket tests: a real httptest server, an in-process miniredis and an
// account fake whose tokens carry an expiry.

// init routes go-redis's own log lines (failed dials while a test has
// Redis down on purpose) away from the test output. It runs before any
// test, so no client is logging while the logger changes.
func init() {
	redis.SetLogger(quietRedis{})
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// liveWait is how long a test waits for something that should happen at
// once: generous, because -race and a shared CI machine are slow.
const liveWait = 10 * time.Second

const (
	shopOrigin  = "https://shop.example"
	otherOrigin = "https://evil.example"
)

// liveAccounts is the account fake of these tests: Authenticate answers the
// principal registered for a token, ExpiresAt included.
type liveAccounts struct {
	*fakeAccounts
	mu     sync.Mutex
	tokens map[string]emporium.Principal
}

func (a *liveAccounts) Authenticate(ctx context.Context, accessToken string) (emporium.Principal, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.tokens[accessToken]
	if !ok {
		return emporium.Principal{}, emporium.Errorf(emporium.EUNAUTHENTICATED, "The access token is not valid.")
	}
	return p, nil
}

// token registers a token for p that expires after ttl, and returns it.
func (a *liveAccounts) token(p emporium.Principal, ttl time.Duration) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	p.ExpiresAt = time.Now().Add(ttl)
	tok := "live." + p.UserID + "." + time.Now().Format("150405.000000000")
	a.tokens[tok] = p
	return tok
}

// liveEnv is a gateway with live updates on an httptest server.
type liveEnv struct {
	mini     *miniredis.Miniredis
	bus      *live.Bus
	hub      *live.Hub
	accounts *liveAccounts
	registry *prometheus.Registry
	logs     *logs
	srv      *httptest.Server

	mu     sync.Mutex
	states map[string]int // OnConnect calls by user
	// block, when set, holds OnConnect of the session blockSession until
	// it is closed.
	block        chan struct{}
	blockSession string
}

// newLiveEnv starts a gateway; tune may change its live configuration.
func newLiveEnv(t *testing.T, tune func(*gateway.LiveConfig)) *liveEnv {
	t.Helper()
	e := &liveEnv{states: map[string]int{}, registry: prometheus.NewRegistry()}
	e.mini = miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: e.mini.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	e.bus = live.New(client, "test:")
	e.hub = live.NewHub(e.bus, live.HubOptions{})
	t.Cleanup(func() { _ = e.hub.Close() })
	e.accounts = &liveAccounts{fakeAccounts: newFake(), tokens: map[string]emporium.Principal{}}

	cfg := gateway.LiveConfig{Bus: e.bus, Hub: e.hub, OnConnect: e.onConnect}
	if tune != nil {
		tune(&cfg)
	}
	var s *gateway.Server
	s, e.logs = newServer(t, gateway.Config{
		Accounts:       e.accounts,
		Registry:       e.registry,
		Live:           cfg,
		AllowedOrigins: []string{shopOrigin, "http://localhost:3000"},
	})
	e.srv = httptest.NewServer(s)
	t.Cleanup(e.srv.Close)
	return e
}

// onConnect answers the user's "cart" as it is now: its seq counts the
// calls, so a test can tell the first state from a resent one.
func (e *liveEnv) onConnect(ctx context.Context, p emporium.Principal) []emporium.LiveEvent {
	e.mu.Lock()
	e.states[p.UserID]++
	n := e.states[p.UserID]
	block := e.block
	if p.SessionID != e.blockSession {
		block = nil
	}
	e.mu.Unlock()
	if block != nil {
		<-block
	}
	return []emporium.LiveEvent{{Type: "cart.updated", ID: "cart-" + p.UserID, Seq: uint64(n), Data: map[string]any{"item_count": 0}}}
}

// ticket asks for a ticket with the access token and returns it.
func (e *liveEnv) ticket(t *testing.T, token string) string {
	t.Helper()
	resp, body := e.post(t, "/v1/ws/tickets", token)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var out struct {
		Ticket    string `json:"ticket"`
		ExpiresIn int64  `json:"expires_in"`
	}
	require.NoError(t, json.Unmarshal(body, &out))
	return out.Ticket
}

func (e *liveEnv) post(t *testing.T, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// dial opens GET /v1/ws with the query and headers given.
func (e *liveEnv) dial(t *testing.T, query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/ws" + query
	d := websocket.Dialer{HandshakeTimeout: liveWait}
	conn, resp, err := d.DialContext(t.Context(), url, header)
	if conn != nil {
		t.Cleanup(func() { _ = conn.Close() })
	}
	return conn, resp, err
}

// connect opens a connection with a ticket from an allowed origin.
func (e *liveEnv) connect(t *testing.T, token string) *websocket.Conn {
	t.Helper()
	conn, resp, err := e.dial(t, "?ticket="+e.ticket(t, token), http.Header{"Origin": {shopOrigin}})
	require.NoError(t, err, "%s", bodyOf(resp))
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	return conn
}

// refused dials and checks that the handshake was answered with a problem
// of the given status.
func (e *liveEnv) refused(t *testing.T, query string, header http.Header, status int) gateway.Problem {
	t.Helper()
	conn, resp, err := e.dial(t, query, header)
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Nil(t, conn)
	require.Equal(t, status, resp.StatusCode)
	return problemOf(t, resp, bodyOf(resp))
}

func bodyOf(resp *http.Response) []byte {
	if resp == nil || resp.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(resp.Body)
	return b
}

// liveEvent is a message as a client decodes it.
type liveEvent struct {
	Type string         `json:"type"`
	ID   string         `json:"id"`
	Seq  uint64         `json:"seq"`
	Data map[string]any `json:"data"`
}

// readEvent reads the next message, which must be a live event.
func readEvent(t *testing.T, conn *websocket.Conn) liveEvent {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(liveWait)))
	kind, msg, err := conn.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, websocket.TextMessage, kind)
	var ev liveEvent
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&ev), "message: %s", msg)
	return ev
}

// readClose reads until the connection ends and answers its close frame,
// or nil when it ended without one.
func readClose(t *testing.T, conn *websocket.Conn) *websocket.CloseError {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(liveWait)))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		require.NotContains(t, err.Error(), "i/o timeout", "the connection stayed open")
		return nil
	}
}

func cartPush(seq uint64) emporium.LiveEvent {
	return emporium.LiveEvent{Type: "cart.updated", ID: "cart", Seq: seq, Data: map[string]any{"item_count": seq}}
}

// metric answers the value of a gauge or counter (with the label, if
// given) in reg.
func metric(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label != "" && !hasLabel(m, label, value) {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
