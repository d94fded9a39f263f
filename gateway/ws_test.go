package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/live"
)

// These tests open real websocket connections (gorilla's client) to a
// gateway on an httptest server, with live updates through an in-process
// miniredis. The account service is a fake whose tokens carry an expiry.

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
