// Package mailtest runs a real SMTP server inside a test, so that tests of
// any package can receive the mail Emporium sends over the wire (DESIGN
// §11) instead of trusting a fake. The server listens on 127.0.0.1, speaks
// SMTP with AUTH PLAIN for one test user (optionally behind STARTTLS or
// implicit TLS with a certificate made for the test), keeps every message
// it accepts, parsed, and can be told to refuse or stall, to exercise a
// sender's error handling.
package mailtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The test user the server accepts. Any other user name or password is
// refused with 535.
const (
	Username = "emporium"
	Password = "mailtest-password"
)

// Received is one message the server accepted, parsed.
type Received struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To lists the envelope recipients (RCPT TO).
	To []string
	// Header holds the message's header as sent; values are not decoded.
	Header netmail.Header
	// Subject is the Subject header, with RFC 2047 encoded words decoded.
	Subject string
	// Text is the first text/plain part (or the body of a plain-text
	// message), transfer-decoded, with CRLF line ends turned into LF.
	Text string
	// HTML is the first text/html part, decoded like Text.
	HTML string
	// Raw is the message as it arrived.
	Raw []byte
	// TLS reports whether the message came over an encrypted connection.
	TLS bool
}

// Option changes how NewServer sets a server up.
type Option func(*Server)

// WithSTARTTLS makes the server offer STARTTLS and accept AUTH only after
// it, as a submission server does. URL then asks for starttls=required.
func WithSTARTTLS() Option {
	return func(s *Server) { s.tlsMode = tlsSTARTTLS }
}

// WithImplicitTLS makes the server speak TLS from the first byte, as on
// port 465. URL then uses the smtps scheme.
func WithImplicitTLS() Option {
	return func(s *Server) { s.tlsMode = tlsImplicit }
}

// tlsMode is how a server uses TLS.
type tlsMode int

const (
	tlsNone tlsMode = iota
	tlsSTARTTLS
	tlsImplicit
)

// Fault makes the server refuse a recipient at RCPT TO.
type Fault struct {
	// Code is the SMTP reply code: 4xx for a temporary failure, 5xx for a
	// permanent one.
	Code int
	// Message is the reply text; empty means a generic one.
	Message string
	// Times is how many RCPT commands for the address are refused before
	// it is accepted again; zero or less means all of them.
	Times int
}

// Server is an SMTP server for one test, listening on 127.0.0.1. It is
// closed when the test ends.
type Server struct {
	t       testing.TB
	srv     *smtp.Server
	ln      net.Listener
	addr    string
	tlsMode tlsMode
	roots   *x509.CertPool // trusts the server's certificate, when it has one

	connections atomic.Int64
	done        chan struct{} // closed when the server closes

	mu       sync.Mutex
	closed   bool
	received []Received
	taken    map[string]int // per lower-cased address: index+1 of the last message Wait returned
	arrived  chan struct{}  // closed and replaced when a message arrives
	faults   map[string]*Fault
	delay    time.Duration
}

// NewServer starts a server for t, plain SMTP unless an option says
// otherwise, and registers its shutdown with t.Cleanup.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s := &Server{
		t:       t,
		addr:    ln.Addr().String(),
		done:    make(chan struct{}),
		taken:   make(map[string]int),
		arrived: make(chan struct{}),
		faults:  make(map[string]*Fault),
	}
	for _, opt := range opts {
		opt(s)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: s, conn: c}, nil
	}))
	srv.Domain = "mailtest.localhost"
	listener := net.Listener(countingListener{Listener: ln, count: &s.connections})
	if s.tlsMode == tlsNone {
		// go-smtp refuses AUTH without TLS unless told otherwise; this
		// server is on the loopback interface only.
		srv.AllowInsecureAuth = true
	} else {
		cert, roots, err := newCertificate()
		if err != nil {
			_ = ln.Close()
			t.Fatalf("mailtest: make a TLS certificate: %v", err)
		}
		s.roots = roots
		config := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if s.tlsMode == tlsImplicit {
			listener = tls.NewListener(listener, config)
		} else {
			srv.TLSConfig = config // go-smtp offers STARTTLS when it has one
		}
	}
	s.ln = listener
	srv.EnableSMTPUTF8 = true
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	// Idle connections of a broken client must not outlive a slow test.
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = serverLog{s}
	s.srv = srv

	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(listener)
	}()
	t.Cleanup(func() {
		s.Close()
		<-served
	})
	return s
}

// Close stops the server and drops its connections; a Send to it fails
// from then on. NewServer's cleanup calls it; a test calls it to see how a
// sender copes with a server that went away. Calling it again does
// nothing.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	// Release stalled sessions first: go-smtp's Close waits on nothing,
	// but a session blocked in Data would otherwise linger.
	close(s.done)
	// go-smtp closes only the listeners Serve has registered, and Serve
	// may not have started yet; closing ours makes it stop either way.
	_ = s.ln.Close()
	_ = s.srv.Close()
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// URL returns an SMTP_URL for the server with the test user's
// credentials, such as smtp://emporium:mailtest-password@127.0.0.1:40211?starttls=none
// (starttls=required with WithSTARTTLS, the smtps scheme with
// WithImplicitTLS). With TLS, the client must trust ClientTLSConfig.
func (s *Server) URL() string {
	return s.URLWithCredentials(Username, Password)
}

// URLWithCredentials returns the server's SMTP_URL with another user name
// and password, for tests of rejected credentials.
func (s *Server) URLWithCredentials(username, password string) string {
	u := url.URL{Scheme: "smtp", User: url.UserPassword(username, password), Host: s.addr}
	switch s.tlsMode {
	case tlsNone:
		u.RawQuery = "starttls=none"
	case tlsSTARTTLS:
		u.RawQuery = "starttls=required"
	case tlsImplicit:
		u.Scheme = "smtps"
	}
	return u.String()
}

// ClientTLSConfig returns a TLS configuration that trusts the server's
// certificate, which is made for 127.0.0.1 when the server starts; nil
// when the server does not use TLS.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.roots == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// Connections returns how many connections the server has accepted, which
// is how many delivery attempts a sender made.
func (s *Server) Connections() int { return int(s.connections.Load()) }

// Fail makes the server refuse the recipient to as f says, replacing any
// earlier fault for that address.
func (s *Server) Fail(to string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = -1
	}
	s.faults[strings.ToLower(to)] = &f
}

// Delay makes the server wait d after receiving a message before it
// answers, as a slow or stuck server does; the message is kept only if
// the wait ends before the server closes. Zero answers at once again.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Messages returns every message the server accepted, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Wait returns the oldest accepted message with the envelope recipient to
// that no earlier Wait returned, blocking until one arrives or ctx ends.
// Messages that arrived before the call count, so a test may send first
// and wait after; n messages to one address are returned by n Waits in the
// order they arrived. Case is ignored in addresses.
func (s *Server) Wait(ctx context.Context, to string) (Received, error) {
	key := strings.ToLower(to)
	for {
		s.mu.Lock()
		for i := s.taken[key]; i < len(s.received); i++ {
			if hasRecipient(s.received[i], key) {
				s.taken[key] = i + 1
				r := s.received[i]
				s.mu.Unlock()
				return r, nil
			}
		}
		arrived := s.arrived
		s.mu.Unlock()

		select {
		case <-arrived:
		case <-ctx.Done():
			return Received{}, fmt.Errorf("mailtest: wait for a message to %s: %w", to, ctx.Err())
		}
	}
}

func hasRecipient(r Received, key string) bool {
	for _, rcpt := range r.To {
		if strings.ToLower(rcpt) == key {
			return true
		}
	}
	return false
}

// fault returns the reply for a RCPT TO command to, or nil to accept it.
func (s *Server) fault(to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(to)
	f, ok := s.faults[key]
	if !ok {
		return nil
	}
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(s.faults, key)
		}
	}
	msg := f.Message
	if msg == "" {
		msg = "Mailbox unavailable"
		if f.Code < 500 {
			msg = "Mailbox busy, try again later"
		}
	}
	return &smtp.SMTPError{Code: f.Code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: msg}
}

// deliver parses and keeps a message after the configured delay.
func (s *Server) deliver(from string, to []string, raw []byte, overTLS bool) error {
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-s.done:
			timer.Stop()
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "Server shutting down"}
		}
	}
	r, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "Malformed message: " + err.Error()}
	}
	r.From = from
	r.To = to
	r.TLS = overTLS

	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, r)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return nil
}

// logf reports a server-side problem in the test log, unless the test is
// over (testing panics on a log call after the test ends).
func (s *Server) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.t.Logf("mailtest: "+format, args...)
	}
}

// session is one SMTP connection's state.
type session struct {
	server *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

// errAuthRequired is the RFC 4954 reply to a mail command before AUTH.
var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

func (se *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (se *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != Username || password != Password {
			// An *smtp.SMTPError keeps its code; any other error would be
			// answered with 454, a temporary failure, and retried.
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if !se.authed {
		return errAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !se.authed {
		return errAuthRequired
	}
	if err := se.server.fault(to); err != nil {
		return err
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	if !se.authed {
		return errAuthRequired
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, overTLS := se.conn.TLSConnectionState()
	return se.server.deliver(se.from, append([]string(nil), se.to...), raw, overTLS)
}

func (se *session) Reset() {
	se.from = ""
	se.to = nil
}

func (se *session) Logout() error { return nil }

// parse reads a message into a Received.
func parse(raw []byte) (Received, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{}, fmt.Errorf("read the header: %w", err)
	}
	r := Received{Header: msg.Header, Raw: raw}
	var dec mime.WordDecoder
	if r.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Received{}, fmt.Errorf("decode the subject: %w", err)
	}
	if err := walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &r); err != nil {
		return Received{}, err
	}
	return r, nil
}

// walk collects the first text/plain and text/html parts of a body of the
// given content type, descending into multipart bodies.
func walk(contentType, encoding string, body io.Reader, r *Received) error {
	if contentType == "" {
		contentType = "text/plain; charset=us-ascii"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("parse Content-Type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		parts := multipart.NewReader(body, params["boundary"])
		for {
			// NextPart decodes quoted-printable itself and then drops the
			// Content-Transfer-Encoding header.
			p, err := parts.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read a part of %s: %w", mediaType, err)
			}
			if err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, r); err != nil {
				return err
			}
		}
	}
	var decoded io.Reader
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		decoded = quotedprintable.NewReader(body)
	case "base64":
		decoded = base64.NewDecoder(base64.StdEncoding, body) // skips line breaks itself
	default:
		decoded = body
	}
	content, err := io.ReadAll(decoded)
	if err != nil {
		return fmt.Errorf("decode a %s part: %w", mediaType, err)
	}
	text := strings.ReplaceAll(string(content), "\r\n", "\n")
	switch {
	case mediaType == "text/plain" && r.Text == "":
		r.Text = text
	case mediaType == "text/html" && r.HTML == "":
		r.HTML = text
	}
	return nil
}

// newCertificate makes a self-signed certificate for 127.0.0.1 and
// localhost, and a pool that trusts it.
func newCertificate() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots, nil
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	count *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.count.Add(1)
	}
	return c, err
}

// serverLog sends go-smtp's error log to the test log.
type serverLog struct{ s *Server }

func (l serverLog) Printf(format string, v ...any) { l.s.logf(format, v...) }

func (l serverLog) Println(v ...any) { l.s.logf("%s", strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }
