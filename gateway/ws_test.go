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
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/live"
)

// These tests open real websocket connections (gorilla's client) to a
// gateway on an httptest server, with live updates through an in-process
// miniredis. The account service is a fake whose tokens carry an expiry.

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

func TestLiveTicket(t *testing.T) {
	e := newLiveEnv(t, nil)

	resp, body := e.post(t, "/v1/ws/tickets", e.accounts.token(alice, 15*time.Minute))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	var out map[string]any
	require.NoError(t, json.Unmarshal(body, &out))
	assert.Len(t, out, 2)
	assert.Len(t, out["ticket"], 43)
	assert.Equal(t, float64(30), out["expires_in"])

	// A token that expires sooner gets a ticket that does too.
	resp, body = e.post(t, "/v1/ws/tickets", e.accounts.token(alice, 10*time.Second+900*time.Millisecond))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.NoError(t, json.Unmarshal(body, &out))
	assert.Equal(t, float64(10), out["expires_in"])

	resp, body = e.post(t, "/v1/ws/tickets", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
	assert.Equal(t, emporium.EUNAUTHENTICATED, problemOf(t, resp, body).Code)

	resp, body = e.post(t, "/v1/ws/tickets", e.accounts.token(alice, 500*time.Millisecond))
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a token about to expire gets no ticket: %s", body)
}

// TestLiveTicketFromTheTokensExpiry covers an account service that does
// not set Principal.ExpiresAt: the gateway reads the verified token's exp.
func TestLiveTicketFromTheTokensExpiry(t *testing.T) {
	e := newLiveEnv(t, nil)
	exp := time.Now().Add(20 * time.Second)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: alice.UserID, ExpiresAt: jwt.NewNumericDate(exp)}).SignedString([]byte("test key"))
	require.NoError(t, err)
	e.accounts.mu.Lock()
	e.accounts.tokens[token] = alice // no ExpiresAt
	e.accounts.tokens["opaque"] = alice
	e.accounts.mu.Unlock()

	resp, body := e.post(t, "/v1/ws/tickets", token)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var out struct {
		ExpiresIn int64 `json:"expires_in"`
	}
	require.NoError(t, json.Unmarshal(body, &out))
	assert.InDelta(t, 20, out.ExpiresIn, 2)

	resp, body = e.post(t, "/v1/ws/tickets", "opaque")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a token without an expiry opens nothing: %s", body)
}

func TestLiveSendsTheStateFirstThenPushes(t *testing.T) {
	e := newLiveEnv(t, nil)
	conn := e.connect(t, e.accounts.token(alice, 15*time.Minute))
	assert.Equal(t, liveEvent{Type: "cart.updated", ID: "cart-u-alice", Seq: 1, Data: map[string]any{"item_count": float64(0)}}, readEvent(t, conn))
	assert.Equal(t, float64(1), metric(t, e.registry, "emporium_live_connections", "", ""))

	require.NoError(t, e.bus.Publish(t.Context(), bob.UserID, cartPush(99)))
	require.NoError(t, e.bus.Publish(t.Context(), alice.UserID, cartPush(2)))
	require.NoError(t, e.bus.Publish(t.Context(), alice.UserID, emporium.LiveEvent{Type: "order.updated", ID: "o-1", Seq: 4}))
	assert.Equal(t, liveEvent{Type: "cart.updated", ID: "cart", Seq: 2, Data: map[string]any{"item_count": float64(2)}}, readEvent(t, conn), "bob's event never reached alice")
	assert.Equal(t, liveEvent{Type: "order.updated", ID: "o-1", Seq: 4}, readEvent(t, conn))

	// What the client sends is read and dropped.
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe","id":"everything"}`)))
	require.NoError(t, e.bus.Publish(t.Context(), alice.UserID, cartPush(5)))
	assert.Equal(t, uint64(5), readEvent(t, conn).Seq)

	// A close from the client ends the connection on the server too.
	require.NoError(t, conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")))
	require.Eventually(t, func() bool { return metric(t, e.registry, "emporium_live_connections", "", "") == 0 }, liveWait, 10*time.Millisecond)
	assert.Equal(t, float64(1), metric(t, e.registry, "emporium_live_closes_total", "reason", "client"))
	require.Eventually(t, func() bool { return e.hub.Stats().Users == 0 }, liveWait, 10*time.Millisecond, "the user's subscription ended with the connection")

	// The access log has the route, and no ticket.
	var found bool
	for _, rec := range e.logs.find(t, "http request") {
		if rec["route"] == "/v1/ws" {
			found = true
			assert.Equal(t, float64(http.StatusSwitchingProtocols), rec["status"])
		}
	}
	assert.True(t, found, "the connection was logged")
	assert.NotContains(t, e.logs.String(), "ticket=")
}

func TestLiveTicketIsSingleUse(t *testing.T) {
	e := newLiveEnv(t, nil)
	ticket := e.ticket(t, e.accounts.token(alice, 15*time.Minute))
	conn, _, err := e.dial(t, "?ticket="+ticket, http.Header{"Origin": {shopOrigin}})
	require.NoError(t, err)
	readEvent(t, conn)

	p := e.refused(t, "?ticket="+ticket, http.Header{"Origin": {shopOrigin}}, http.StatusUnauthorized)
	assert.Equal(t, emporium.EUNAUTHENTICATED, p.Code)
	assert.Contains(t, p.Detail, "ticket")
}

func TestLiveTicketExpires(t *testing.T) {
	e := newLiveEnv(t, nil)
	ticket := e.ticket(t, e.accounts.token(alice, 15*time.Minute))
	e.mini.FastForward(live.TicketTTL)
	e.refused(t, "?ticket="+ticket, http.Header{"Origin": {shopOrigin}}, http.StatusUnauthorized)
}

func TestLiveOrigins(t *testing.T) {
	e := newLiveEnv(t, nil)
	token := e.accounts.token(alice, 15*time.Minute)
	bearer := "Bearer " + token

	t.Run("ticket from an allowed origin", func(t *testing.T) {
		conn, resp, err := e.dial(t, "?ticket="+e.ticket(t, token), http.Header{"Origin": {"http://localhost:3000"}})
		require.NoError(t, err)
		assert.NotEmpty(t, resp.Header.Get("X-Request-ID"))
		readEvent(t, conn)
	})
	t.Run("ticket from another origin", func(t *testing.T) {
		ticket := e.ticket(t, token)
		for _, origin := range []string{otherOrigin, "HTTPS://SHOP.EXAMPLE", "https://shop.example:8443", "http://shop.example", "null"} {
			p := e.refused(t, "?ticket="+ticket, http.Header{"Origin": {origin}}, http.StatusForbidden)
			assert.Equal(t, emporium.EFORBIDDEN, p.Code, origin)
		}
		// A refused origin did not spend the ticket.
		conn, _, err := e.dial(t, "?ticket="+ticket, http.Header{"Origin": {shopOrigin}})
		require.NoError(t, err)
		readEvent(t, conn)
	})
	t.Run("ticket without an origin", func(t *testing.T) {
		ticket := e.ticket(t, token)
		p := e.refused(t, "?ticket="+ticket, nil, http.StatusForbidden)
		assert.Contains(t, p.Detail, "Origin")
		conn, _, err := e.dial(t, "?ticket="+ticket, http.Header{"Origin": {shopOrigin}})
		require.NoError(t, err, "the ticket was not spent")
		readEvent(t, conn)
	})
	t.Run("bearer without an origin", func(t *testing.T) {
		conn, _, err := e.dial(t, "", http.Header{"Authorization": {bearer}})
		require.NoError(t, err)
		assert.Equal(t, "cart.updated", readEvent(t, conn).Type)
	})
	t.Run("bearer from an allowed origin", func(t *testing.T) {
		conn, _, err := e.dial(t, "", http.Header{"Authorization": {bearer}, "Origin": {shopOrigin}})
		require.NoError(t, err)
		readEvent(t, conn)
	})
	t.Run("bearer from another origin", func(t *testing.T) {
		e.refused(t, "", http.Header{"Authorization": {bearer}, "Origin": {otherOrigin}}, http.StatusForbidden)
	})
}

func TestLiveRefusals(t *testing.T) {
	e := newLiveEnv(t, nil)
	token := e.accounts.token(alice, 15*time.Minute)
	origin := http.Header{"Origin": {shopOrigin}}

	t.Run("not a websocket handshake", func(t *testing.T) {
		resp, err := e.srv.Client().Get(e.srv.URL + "/v1/ws?ticket=" + e.ticket(t, token))
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Equal(t, emporium.EMALFORMED, problemOf(t, resp, bodyOf(resp)).Code)
	})
	t.Run("no credentials", func(t *testing.T) {
		p := e.refused(t, "", origin, http.StatusUnauthorized)
		assert.Equal(t, emporium.EUNAUTHENTICATED, p.Code)
	})
	t.Run("bad bearer token", func(t *testing.T) {
		e.refused(t, "", http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized)
	})
	t.Run("unknown ticket", func(t *testing.T) {
		e.refused(t, "?ticket="+strings.Repeat("A", 43), origin, http.StatusUnauthorized)
		e.refused(t, "?ticket=", origin, http.StatusUnauthorized)
	})
	t.Run("two tickets", func(t *testing.T) {
		p := e.refused(t, "?ticket="+e.ticket(t, token)+"&ticket="+e.ticket(t, token), origin, http.StatusBadRequest)
		assert.Equal(t, emporium.EMALFORMED, p.Code)
	})
	t.Run("ticket and bearer", func(t *testing.T) {
		p := e.refused(t, "?ticket="+e.ticket(t, token), http.Header{"Origin": {shopOrigin}, "Authorization": {"Bearer " + token}}, http.StatusBadRequest)
		assert.Equal(t, emporium.EMALFORMED, p.Code)
	})
	t.Run("wrong method", func(t *testing.T) {
		resp, body := e.post(t, "/v1/ws", token)
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s", body)
	})
}

func TestLiveClosesWhenTheTokenExpires(t *testing.T) {
	e := newLiveEnv(t, nil)
	conn, _, err := e.dial(t, "", http.Header{"Authorization": {"Bearer " + e.accounts.token(alice, 1500*time.Millisecond)}})
	require.NoError(t, err)
	readEvent(t, conn)
	start := time.Now()
	ce := readClose(t, conn)
	require.NotNil(t, ce, "the server closed without a close frame")
	assert.Equal(t, websocket.CloseNormalClosure, ce.Code)
	assert.Equal(t, "the access token expired", ce.Text)
	assert.Less(t, time.Since(start), 1500*time.Millisecond+liveWait/5)
	require.Eventually(t, func() bool {
		return metric(t, e.registry, "emporium_live_closes_total", "reason", "token_expired") == 1
	}, liveWait, 10*time.Millisecond)

	// A ticket carries its token's expiry too.
	conn = e.connect(t, e.accounts.token(bob, 1500*time.Millisecond))
	readEvent(t, conn)
	ce = readClose(t, conn)
	require.NotNil(t, ce)
	assert.Equal(t, websocket.CloseNormalClosure, ce.Code)
}

func TestLivePingPong(t *testing.T) {
	const pongTimeout = 300 * time.Millisecond
	e := newLiveEnv(t, func(c *gateway.LiveConfig) {
		c.PingInterval = 50 * time.Millisecond
		c.PongTimeout = pongTimeout
	})
	token := e.accounts.token(alice, 15*time.Minute)

	t.Run("a client that answers stays", func(t *testing.T) {
		conn, _, err := e.dial(t, "", http.Header{"Authorization": {"Bearer " + token}})
		require.NoError(t, err)
		var mu sync.Mutex
		pings := 0
		conn.SetPingHandler(func(data string) error {
			mu.Lock()
			pings++
			mu.Unlock()
			return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		events := make(chan liveEvent, 10)
		go func() {
			for {
				_, msg, err := conn.ReadMessage()
				if err != nil {
					close(events)
					return
				}
				var ev liveEvent
				_ = json.Unmarshal(msg, &ev)
				events <- ev
			}
		}()
		// Pings keep coming for well over the pong timeout.
		start := time.Now()
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return pings >= 12 && time.Since(start) > 2*pongTimeout
		}, liveWait, 10*time.Millisecond)
		require.NoError(t, e.bus.Publish(t.Context(), alice.UserID, cartPush(7)))
		for ev := range events {
			if ev.Seq == 7 {
				return
			}
		}
		t.Fatal("the connection closed")
	})
	t.Run("a client that does not answer is dropped", func(t *testing.T) {
		start := time.Now() // before the server starts its clock
		conn, _, err := e.dial(t, "", http.Header{"Authorization": {"Bearer " + token}})
		require.NoError(t, err)
		conn.SetPingHandler(func(string) error { return nil })
		readEvent(t, conn)
		readClose(t, conn)
		assert.GreaterOrEqual(t, time.Since(start), pongTimeout)
		require.Eventually(t, func() bool {
			return metric(t, e.registry, "emporium_live_closes_total", "reason", "pong_timeout") == 1
		}, liveWait, 10*time.Millisecond)
	})
}

func TestLiveFrameLimit(t *testing.T) {
	e := newLiveEnv(t, nil)
	conn := e.connect(t, e.accounts.token(alice, 15*time.Minute))
	readEvent(t, conn)

	// 64 KiB is allowed (and dropped).
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("a"), gateway.MaxLiveFrameBytes)))
	require.NoError(t, e.bus.Publish(t.Context(), alice.UserID, cartPush(2)))
	assert.Equal(t, uint64(2), readEvent(t, conn).Seq)

	// One byte more closes the connection.
	require.NoError(t, conn.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte("a"), gateway.MaxLiveFrameBytes+1)))
	ce := readClose(t, conn)
	require.NotNil(t, ce)
	assert.Equal(t, websocket.CloseMessageTooBig, ce.Code)
	require.Eventually(t, func() bool {
		return metric(t, e.registry, "emporium_live_closes_total", "reason", "too_large") == 1
	}, liveWait, 10*time.Millisecond)
}

// TestLiveDropsASlowConnection holds one connection's state query while
// events pile up: its buffer overflows and it is closed with 1013, while
// the user's other connection receives everything.
func TestLiveDropsASlowConnection(t *testing.T) {
	e := newLiveEnv(t, nil)
	slowSession := alice
	slowSession.SessionID = "s-alice-slow"
	e.block, e.blockSession = make(chan struct{}), slowSession.SessionID

	slow := e.connect(t, e.accounts.token(slowSession, 15*time.Minute)) // its OnConnect waits for e.block
	fast := e.connect(t, e.accounts.token(alice, 15*time.Minute))
	assert.Equal(t, "cart.updated", readEvent(t, fast).Type)
	for seq := uint64(1); seq <= live.DefaultBuffer+1; seq++ {
		require.NoError(t, e.bus.Publish(t.Context(), alice.UserID, cartPush(100+seq)))
		assert.Equal(t, 100+seq, readEvent(t, fast).Seq)
	}
	close(e.block)
	ce := readClose(t, slow)
	require.NotNil(t, ce)
	assert.Equal(t, websocket.CloseTryAgainLater, ce.Code)

	require.NoError(t, e.bus.Publish(t.Context(), alice.UserID, cartPush(200)))
	assert.Equal(t, uint64(200), readEvent(t, fast).Seq, "the other connection is unaffected")
	require.Eventually(t, func() bool {
		return metric(t, e.registry, "emporium_live_closes_total", "reason", "slow") == 1
	}, liveWait, 10*time.Millisecond)
}

// TestLiveResendsTheStateAfterRedisReconnects restarts Redis under an open
// connection: events published meanwhile may be lost, so the connection is
// sent the current state again.
func TestLiveResendsTheStateAfterRedisReconnects(t *testing.T) {
	e := newLiveEnv(t, nil)
	conn := e.connect(t, e.accounts.token(alice, 15*time.Minute))
	assert.Equal(t, uint64(1), readEvent(t, conn).Seq)

	e.mini.Close()
	require.NoError(t, e.mini.Restart())
	ev := readEvent(t, conn)
	assert.Equal(t, "cart.updated", ev.Type)
	assert.Equal(t, uint64(2), ev.Seq, "the state, read again")
	require.NoError(t, e.bus.Publish(t.Context(), alice.UserID, cartPush(3)))
	assert.Equal(t, uint64(3), readEvent(t, conn).Seq)
}

func TestLiveShutdown(t *testing.T) {
	e := newLiveEnv(t, nil)
	conn := e.connect(t, e.accounts.token(alice, 15*time.Minute))
	readEvent(t, conn)
	require.NoError(t, e.hub.Close())
	ce := readClose(t, conn)
	require.NotNil(t, ce)
	assert.Equal(t, websocket.CloseGoingAway, ce.Code)

	p := e.refused(t, "?ticket="+e.ticket(t, e.accounts.token(alice, 15*time.Minute)), http.Header{"Origin": {shopOrigin}}, http.StatusServiceUnavailable)
	assert.Equal(t, emporium.EUNAVAILABLE, p.Code)
}

func TestLiveWithoutRedis(t *testing.T) {
	e := newLiveEnv(t, nil)
	ticket := e.ticket(t, e.accounts.token(alice, 15*time.Minute))
	e.mini.Close()
	// The ticket cannot be redeemed: Redis is down, which is no reason to
	// tell the client its credentials are bad.
	p := e.refused(t, "?ticket="+ticket, http.Header{"Origin": {shopOrigin}}, http.StatusServiceUnavailable)
	assert.Equal(t, emporium.EUNAVAILABLE, p.Code)
	p = e.refused(t, "", http.Header{"Authorization": {"Bearer " + e.accounts.token(alice, time.Minute)}}, http.StatusServiceUnavailable)
	assert.Equal(t, emporium.EUNAVAILABLE, p.Code)
}

func TestParseOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://shop.example":          "https://shop.example",
		"https://Shop.Example/":         "https://shop.example",
		"HTTPS://shop.example:443":      "https://shop.example",
		"http://localhost:80":           "http://localhost",
		"http://localhost:3000":         "http://localhost:3000",
		"https://shop.example:8443":     "https://shop.example:8443",
		"http://[::1]:3000":             "http://[::1]:3000",
		" https://shop.example ":        "https://shop.example",
		"https://xn--bcher-kva.example": "https://xn--bcher-kva.example",
	} {
		got, err := gateway.ParseOrigin(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "shop.example", "*", "null", "ftp://shop.example", "https://", "https://shop.example/app", "https://shop.example?x=1", "https://user@shop.example", "https://shop.example#x", "https://*.example"} {
		_, err := gateway.ParseOrigin(bad)
		assert.Error(t, err, "%q", bad)
	}
	assert.Panics(t, func() {
		gateway.New(gateway.Config{Accounts: newFake(), Live: gateway.LiveConfig{Bus: &live.Bus{}, Hub: &live.Hub{}}, AllowedOrigins: []string{"shop.example"}})
	})
	assert.Panics(t, func() {
		gateway.New(gateway.Config{Live: gateway.LiveConfig{Bus: &live.Bus{}, Hub: &live.Hub{}}})
	}, "live routes need accounts")
}
