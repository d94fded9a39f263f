package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/live"
)

// This file serves live updates over websockets (DESIGN §4 "Live updates",
// §9): POST /v1/ws/tickets hands a browser a one-time ticket, and GET /v1/ws
// opens a connection with it (or with a bearer token, for other clients). A
// connection is sent the current state of what it watches, then every event
// published for its user, as JSON {type, id, seq, data}. It is one-way:
// what a client sends is read and dropped, so a client cannot stall
// anything, and the hub drops a connection that falls behind.

// Defaults for the zero values of LiveConfig, and the websocket limits.
const (
	// DefaultPingInterval is how often a connection is pinged: often
	// enough to keep proxies and NATs from dropping an idle connection
	// (many cut at 30-60 s).
	DefaultPingInterval = 25 * time.Second
	// DefaultPongTimeout is how long a connection may go without a pong
	// (or any frame): two pings missed and some.
	DefaultPongTimeout = 60 * time.Second
	// DefaultLiveWriteTimeout bounds the write of one message. A client
	// that does not read for that long is gone or hostile.
	DefaultLiveWriteTimeout = 10 * time.Second
	// DefaultSubscribeTimeout bounds the wait for Redis to confirm a new
	// connection's subscription.
	DefaultSubscribeTimeout = 5 * time.Second
	// MaxLiveFrameBytes is the largest frame a client may send (DESIGN
	// §9); a larger one closes the connection with 1009.
	MaxLiveFrameBytes = 64 << 10

	// stateTimeout bounds LiveConfig.OnConnect.
	stateTimeout = 10 * time.Second
	// closeGrace is how long a closing connection waits for the client's
	// close frame before it drops the TCP connection.
	closeGrace = time.Second
)

// LiveConfig is the live-update side of the gateway. Setting Hub mounts
// POST /v1/ws/tickets and GET /v1/ws; they need Bus, and Config.Accounts to
// authenticate.
type LiveConfig struct {
	// Bus keeps the one-time tickets.
	Bus *live.Bus
	// Hub is this node's subscription to live events.
	Hub *live.Hub
	// OnConnect answers the current state of what a new connection
	// watches (the node answers the user's cart as a "cart.updated"
	// event). It is sent before any pushed event, and again when the hub
	// may have missed events (Redis reconnected). Nil sends nothing. It
	// is given at most 10 s.
	OnConnect func(ctx context.Context, p emporium.Principal) []emporium.LiveEvent
	// PingInterval is how often connections are pinged. Zero means
	// DefaultPingInterval.
	PingInterval time.Duration
	// PongTimeout closes a connection that sent no pong for that long.
	// Zero means DefaultPongTimeout.
	PongTimeout time.Duration
	// WriteTimeout bounds the write of each message. Zero means
	// DefaultLiveWriteTimeout.
	WriteTimeout time.Duration
	// SubscribeTimeout bounds the wait for Redis when a connection opens
	// (503 after it). Zero means DefaultSubscribeTimeout.
	SubscribeTimeout time.Duration
}

// liveServer is the mounted live-update routes' state.
type liveServer struct {
	cfg      LiveConfig
	origins  map[string]struct{}
	upgrader websocket.Upgrader

	connections prometheus.Gauge
	closes      *prometheus.CounterVec
}

// Why live connections end, the values of the reason label.
const (
	closeClient       = "client"        // the client closed or went away
	closeTokenExpired = "token_expired" // its access token expired
	closeSlow         = "slow"          // it fell behind; the hub dropped it
	closeShutdown     = "shutdown"      // the node is shutting down
	closePongTimeout  = "pong_timeout"  // no pong in time
	closeTooLarge     = "too_large"     // it sent a frame over the limit
	closeWriteError   = "write_error"   // a write failed or timed out
)

// mountLive registers the live-update routes.
func (s *Server) mountLive(cfg LiveConfig, allowedOrigins []string) {
	if s.accounts == nil {
		panic("gateway: Config.Live needs Config.Accounts")
	}
	if cfg.Bus == nil {
		panic("gateway: Config.Live.Hub needs Config.Live.Bus")
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = DefaultPongTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultLiveWriteTimeout
	}
	if cfg.SubscribeTimeout <= 0 {
		cfg.SubscribeTimeout = DefaultSubscribeTimeout
	}
	l := &liveServer{cfg: cfg, origins: make(map[string]struct{})}
	for _, o := range allowedOrigins {
		origin, err := ParseOrigin(o)
		if err != nil {
			panic("gateway: Config.AllowedOrigins: " + err.Error())
		}
		l.origins[origin] = struct{}{}
	}
	l.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.WriteTimeout,
		// serveLive checked the Origin against the allow-list already;
		// gorilla's own check would let a missing Origin through.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			code := emporium.EMALFORMED
			if status >= http.StatusInternalServerError {
				code = emporium.EINTERNAL
			}
			Error(w, r, &emporium.Error{Code: code, Message: "The websocket handshake is not valid.", Op: "gateway.serveLive: upgrade", Err: reason})
		},
	}
	l.connections = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "emporium_live_connections",
		Help: "Open live-update websocket connections on this node.",
	})
	l.closes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "emporium_live_closes_total",
		Help: "Live-update websocket connections ended, by reason.",
	}, []string{"reason"})
	s.registry.MustRegister(l.connections, l.closes)
	s.live = l

	s.Handle("POST /v1/ws/tickets", s.Authenticated(s.issueLiveTicket))
	s.Handle("GET /v1/ws", s.serveLive)
}

// ParseOrigin checks an entry of Config.AllowedOrigins and answers it as
// browsers send the Origin header: scheme://host[:port], lower case,
// without the scheme's default port. Only http and https origins can be
// listed; a path, query, fragment or user is an error.
func ParseOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(s), "/"))
	if err != nil {
		return "", fmt.Errorf("origin %q is not a URL: %w", s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("origin %q must be scheme://host[:port] with scheme http or https", s)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if !validHost(host) {
		return "", fmt.Errorf("origin %q has no valid host name (wildcards are not supported)", s)
	}
	if port == "80" && scheme == "http" || port == "443" && scheme == "https" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// validHost reports whether host is an IP address or a DNS name (in its
// ASCII form, as browsers send it).
func validHost(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// liveTicketBody is the answer of POST /v1/ws/tickets.
type liveTicketBody struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int64  `json:"expires_in"`
}

// issueLiveTicket answers a one-time ticket that opens a live connection
// for the caller, for as long as the caller's access token lasts.
func (s *Server) issueLiveTicket(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	expiresAt, err := tokenExpiry(r, p)
	if err != nil {
		return err
	}
	ticket, ttl, err := s.live.cfg.Bus.IssueTicket(r.Context(), p, expiresAt)
	if err != nil {
		return err
	}
	return Respond(w, http.StatusOK, liveTicketBody{Ticket: ticket, ExpiresIn: int64(ttl / time.Second)})
}

var (
	errNotWebsocket = emporium.Errorf(emporium.EMALFORMED,
		"GET /v1/ws opens a websocket: send a websocket handshake (Connection: Upgrade, Upgrade: websocket).")
	errTwoTickets = emporium.Errorf(emporium.EMALFORMED,
		"Send one ticket.")
	errTicketAndToken = emporium.Errorf(emporium.EMALFORMED,
		"Send a ticket or an Authorization header, not both.")
	errOriginNotAllowed = emporium.Errorf(emporium.EFORBIDDEN,
		"This origin may not open a live connection.")
	errTicketWithoutOrigin = emporium.Errorf(emporium.EFORBIDDEN,
		"A ticket opens a connection from a browser, which sends an Origin header; other clients authenticate with Authorization: Bearer <access token>.")
)

// serveLive opens a live connection. Browsers authenticate with a ticket
// (?ticket=) and always send an Origin; other clients send a bearer token
// and may send no Origin. Any Origin sent must be on the allow-list, which
// is checked before a ticket is spent.
func (s *Server) serveLive(w http.ResponseWriter, r *http.Request) error {
	const op = "gateway.serveLive"
	if !websocket.IsWebSocketUpgrade(r) {
		return errNotWebsocket
	}
	origins := r.Header.Values("Origin")
	if len(origins) > 1 {
		return errOriginNotAllowed
	}
	origin := ""
	if len(origins) == 1 {
		origin = origins[0]
		if _, ok := s.live.origins[origin]; !ok {
			return errOriginNotAllowed
		}
	}
	tickets, hasTicket := r.URL.Query()["ticket"]
	hasAuthorization := len(r.Header.Values("Authorization")) > 0
	switch {
	case len(tickets) > 1:
		return errTwoTickets
	case hasTicket && hasAuthorization:
		return errTicketAndToken
	case hasTicket:
		if origin == "" {
			return errTicketWithoutOrigin
		}
		p, err := s.live.cfg.Bus.RedeemTicket(r.Context(), tickets[0])
		if err != nil {
			return emporium.Wrap(op, err)
		}
		return s.live.serve(w, r, p, s.log)
	default:
		return s.Authenticated(func(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
			expiresAt, err := tokenExpiry(r, p)
			if err != nil {
				return err
			}
			p.ExpiresAt = expiresAt
			return s.live.serve(w, r, p, s.log)
		})(w, r)
	}
}

// tokenExpiry answers when the access token of an authenticated request
// expires: the principal's ExpiresAt when the account service set it, or
// else the token's exp claim. The token was verified by the account service
// already; this only reads a claim of it.
func tokenExpiry(r *http.Request, p emporium.Principal) (time.Time, error) {
	const op = "gateway.tokenExpiry"
	if !p.ExpiresAt.IsZero() {
		return p.ExpiresAt, nil
	}
	token, err := bearerToken(r)
	if err != nil {
		return time.Time{}, err
	}
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil || claims.ExpiresAt == nil {
		return time.Time{}, &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: errBadToken.Message, Op: op + ": no exp claim", Err: err}
	}
	return claims.ExpiresAt.Time, nil
}

// serve subscribes p's user, upgrades the request and runs the connection
// until it ends. The subscription comes first, so that a Redis outage is a
// 503 rather than a connection that never hears anything, and so that
// nothing published after the state was read is missed.
func (l *liveServer) serve(w http.ResponseWriter, r *http.Request, p emporium.Principal, log *slog.Logger) error {
	const op = "gateway.serveLive"
	if !time.Now().Before(p.ExpiresAt) {
		return &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: errBadToken.Message, Op: op + ": token expired"}
	}
	ctx, cancel := context.WithTimeout(r.Context(), l.cfg.SubscribeTimeout)
	sub, err := l.cfg.Hub.Register(ctx, p.UserID)
	cancel()
	if err != nil {
		return emporium.Wrap(op, err)
	}
	defer sub.Close()

	header := http.Header{"X-Request-Id": {RequestID(r.Context())}}
	conn, err := l.upgrader.Upgrade(w, r, header)
	if err != nil {
		// The upgrader answered the client already, if it still could.
		log.DebugContext(r.Context(), "live: upgrade failed", slog.Any("error", err))
		return nil
	}
	l.connections.Inc()
	defer l.connections.Dec()
	c := &liveConn{server: l, ws: conn, p: p, sub: sub, log: log, readDone: make(chan struct{})}
	reason := c.run(r.Context())
	l.closes.WithLabelValues(reason).Inc()
	log.DebugContext(r.Context(), "live connection closed", slog.String("reason", reason))
	return nil
}

// liveConn is one open connection. Its writes all happen on the goroutine
// that runs it; a second goroutine reads (and drops) what the client sends,
// which is what answers pings and notices pongs and close frames.
type liveConn struct {
	server *liveServer
	ws     *websocket.Conn
	p      emporium.Principal
	sub    *live.Subscription
	log    *slog.Logger

	readDone chan struct{}
	readErr  error // set before readDone is closed
}

// run serves the connection until it ends and answers why it ended.
func (c *liveConn) run(ctx context.Context) string {
	cfg := c.server.cfg
	defer func() {
		_ = c.ws.Close()
		<-c.readDone
	}()
	c.ws.SetReadLimit(MaxLiveFrameBytes)
	_ = c.ws.SetReadDeadline(time.Now().Add(cfg.PongTimeout))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(cfg.PongTimeout))
	})
	go c.read()

	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	expiry := time.NewTimer(time.Until(c.p.ExpiresAt))
	defer expiry.Stop()

	if err := c.sendState(ctx); err != nil {
		return closeWriteError
	}
	for {
		select {
		case msg := <-c.sub.Messages():
			if err := c.write(msg); err != nil {
				return closeWriteError
			}
		case <-c.sub.Resync():
			if err := c.sendState(ctx); err != nil {
				return closeWriteError
			}
		case <-c.sub.Done():
			if errors.Is(c.sub.Err(), live.ErrSlow) {
				c.close(websocket.CloseTryAgainLater, "too far behind; reconnect for the current state")
				return closeSlow
			}
			c.close(websocket.CloseGoingAway, "the server is shutting down; reconnect")
			return closeShutdown
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)); err != nil {
				return closeWriteError
			}
		case <-expiry.C:
			c.close(websocket.CloseNormalClosure, "the access token expired")
			return closeTokenExpired
		case <-c.readDone:
			return c.readReason()
		}
	}
}

// read reads the client's frames and drops them. Control frames are
// handled on the way: pings answered, pongs extend the read deadline, a
// close frame is echoed. It ends at the first error: a close, a read
// deadline passed without a pong, a frame over the limit (gorilla sends
// 1009 then).
func (c *liveConn) read() {
	defer close(c.readDone)
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			c.readErr = err
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			c.readErr = err
			return
		}
	}
}

// readReason names why the reader ended.
func (c *liveConn) readReason() string {
	var netErr net.Error
	switch {
	case errors.Is(c.readErr, websocket.ErrReadLimit):
		return closeTooLarge
	case errors.As(c.readErr, &netErr) && netErr.Timeout():
		return closePongTimeout
	default:
		return closeClient
	}
}

// sendState sends the current state of what the connection watches.
func (c *liveConn) sendState(ctx context.Context) error {
	if c.server.cfg.OnConnect == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, stateTimeout)
	events := c.server.cfg.OnConnect(ctx, c.p)
	cancel()
	for _, ev := range events {
		msg, err := json.Marshal(ev)
		if err != nil {
			c.log.ErrorContext(ctx, "live: cannot encode the state event", slog.String("type", ev.Type), slog.Any("error", err))
			continue
		}
		if err := c.write(msg); err != nil {
			return err
		}
	}
	return nil
}

// write sends one message, giving up after WriteTimeout.
func (c *liveConn) write(msg []byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.server.cfg.WriteTimeout)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

// close starts the closing handshake and waits a moment for the client to
// answer it.
func (c *liveConn) close(code int, text string) {
	msg := websocket.FormatCloseMessage(code, text)
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.server.cfg.WriteTimeout)); err != nil {
		return
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-c.readDone:
	case <-t.C:
	}
}
