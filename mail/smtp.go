package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/emporium-shop/emporium"
)

// Defaults of SMTPConfig.
const (
	// DefaultSMTPTimeout bounds one Send, all attempts included.
	DefaultSMTPTimeout = 10 * time.Second
	// DefaultSMTPRetries is how many times a temporary failure is retried.
	DefaultSMTPRetries = 3
	// DefaultSMTPBackoff is the wait before the first retry; each further
	// retry waits twice as long as the one before.
	DefaultSMTPBackoff = 250 * time.Millisecond
)

// maxBackoff caps the wait between two attempts, so that a large Retries
// spends its time trying rather than sleeping.
const maxBackoff = 5 * time.Second

// SMTPConfig configures an SMTP sender. URL and From are required; the
// other fields have defaults.
type SMTPConfig struct {
	// URL names the server (the SMTP_URL setting):
	// smtp://user:password@host:port for SMTP with STARTTLS, or
	// smtps://user:password@host:port for implicit TLS. The user info is
	// optional; reserved characters in the password must be
	// percent-encoded. The default ports are 25 and 465. The query may set
	// starttls=required (refuse a server without STARTTLS),
	// starttls=opportunistic (the default: use STARTTLS when offered) or
	// starttls=none; it is not allowed with smtps. Whatever the policy,
	// a password is never sent in the clear to a host other than the local
	// machine: PLAIN and LOGIN authentication refuse an unencrypted
	// connection to a remote host.
	URL string
	// From is the sender address (the MAIL_FROM setting), such as
	// "Emporium <no-reply@shop.example>". Its domain also names the
	// Message-ID of each mail.
	From string
	// Timeout bounds one Send as a whole, every attempt and every wait
	// between attempts included; the caller's context may end it sooner.
	// Zero means DefaultSMTPTimeout.
	Timeout time.Duration
	// Retries is how many times a temporary failure (a 4xx reply, a
	// network error, a timeout) is retried, with exponential backoff,
	// while Timeout allows. Permanent failures (5xx replies) are never
	// retried. Zero means DefaultSMTPRetries; a negative value disables
	// retries.
	Retries int
	// Backoff is the wait before the first retry, doubled for each next
	// one and jittered so that many senders do not retry in step. Zero
	// means DefaultSMTPBackoff.
	Backoff time.Duration
	// TLSConfig is the client TLS configuration for STARTTLS and smtps,
	// for a server whose certificate comes from a private CA (set
	// RootCAs). Nil verifies against the system roots. The server name is
	// the host of URL unless the configuration names one, and TLS 1.2 is
	// the least version accepted.
	TLSConfig *tls.Config
	// Logger receives a warning for each failed attempt and a debug record
	// for each delivery. Records name the recipient and the Message-ID,
	// never the body (it carries one-time tokens) nor the password. Nil
	// discards them.
	Logger *slog.Logger
}

// SMTP is a Sender that delivers through an SMTP server. Each Send opens
// its own connection, so an SMTP value is safe for concurrent use and a
// broken connection never outlives the message it failed.
type SMTP struct {
	host        string
	port        int
	implicitTLS bool
	tlsPolicy   gomail.TLSPolicy
	username    string
	password    string
	from        *netmail.Address
	idDomain    string
	safeURL     string
	timeout     time.Duration
	retries     int
	backoff     time.Duration
	tls         *tls.Config
	logger      *slog.Logger

	// dial opens the TCP connection of one attempt. It is a field so that
	// tests can count attempts against a server that is down.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ Sender = (*SMTP)(nil)

// authMechanisms are the SASL mechanisms tried, best first, among those
// the server offers. SCRAM never reveals the password; PLAIN and LOGIN are
// refused by go-mail on an unencrypted connection to a remote host.
var authMechanisms = []gomail.SMTPAuthType{
	gomail.SMTPAuthSCRAMSHA256,
	gomail.SMTPAuthSCRAMSHA1,
	gomail.SMTPAuthPlain,
	gomail.SMTPAuthLogin,
}

// NewSMTP checks cfg and returns a sender. It does not connect: a mail
// server that is down at start-up must not keep the node from starting,
// and each Send connects anyway. A bad setting is an *emporium.Error with
// code EINVALID that names SMTP_URL or MAIL_FROM and shows the URL with its
// password masked.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	const op = "mail.NewSMTP"
	invalid := func(err error) error {
		return &emporium.Error{Code: emporium.EINVALID, Op: op, Message: err.Error()}
	}
	s := &SMTP{
		timeout: cfg.Timeout,
		retries: cfg.Retries,
		backoff: cfg.Backoff,
		logger:  cfg.Logger,
	}
	if err := s.parseURL(cfg.URL); err != nil {
		return nil, invalid(err)
	}
	from, err := parseFrom(cfg.From)
	if err != nil {
		return nil, invalid(err)
	}
	s.from = from
	s.idDomain = from.Address[strings.LastIndex(from.Address, "@")+1:]
	switch {
	case cfg.Timeout < 0:
		return nil, invalid(fmt.Errorf("invalid SMTP timeout %v: it must not be negative", cfg.Timeout))
	case cfg.Timeout == 0:
		s.timeout = DefaultSMTPTimeout
	}
	switch {
	case cfg.Retries < 0:
		s.retries = 0
	case cfg.Retries == 0:
		s.retries = DefaultSMTPRetries
	}
	switch {
	case cfg.Backoff < 0:
		return nil, invalid(fmt.Errorf("invalid SMTP backoff %v: it must not be negative", cfg.Backoff))
	case cfg.Backoff == 0:
		s.backoff = DefaultSMTPBackoff
	}
	s.tls = &tls.Config{}
	if cfg.TLSConfig != nil {
		s.tls = cfg.TLSConfig.Clone()
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = s.host
	}
	s.tls.MinVersion = max(s.tls.MinVersion, tls.VersionTLS12)
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	var d net.Dialer
	s.dial = d.DialContext
	return s, nil
}

// parseURL fills the server fields of s from raw, the SMTP_URL setting.
// Its errors show the URL with the password masked, and never the parser's
// own message, which quotes the URL as given.
func (s *SMTP) parseURL(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return errors.New("SMTP_URL is empty; set it to smtp://user:password@host:port or leave it unset to use the development outbox")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The parser's message quotes the offending part of the URL,
		// which may be a piece of the password, so it is not shown.
		return fmt.Errorf("invalid SMTP_URL %s: it does not parse as a URL (percent-encode reserved characters in the user name and password)", redactRawURL(raw))
	}
	s.safeURL = u.Redacted()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("invalid SMTP_URL %s: %s", s.safeURL, fmt.Sprintf(format, args...))
	}
	switch u.Scheme {
	case "smtp":
		s.port = 25
	case "smtps":
		s.port = 465
		s.implicitTLS = true
	default:
		return bad("the scheme must be smtp:// or smtps://, not %q", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return bad("no host; write smtp://host:port")
	}
	s.host = u.Hostname()
	if p := u.Port(); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return bad("port %q is not a number between 1 and 65535", p)
		}
		s.port = port
	}
	if u.Path != "" && u.Path != "/" {
		return bad("unexpected path %q", u.Path)
	}
	if u.Fragment != "" {
		return bad("unexpected fragment")
	}
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
		if s.username == "" || s.password == "" {
			return bad("the user info needs both a user name and a password")
		}
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("malformed query")
	}
	s.tlsPolicy = gomail.TLSOpportunistic
	if s.implicitTLS {
		s.tlsPolicy = gomail.NoTLS // the connection is TLS from the first byte
	}
	for key, values := range query {
		if key != "starttls" {
			return bad("unknown option %q; the only option is starttls", key)
		}
		if s.implicitTLS {
			return bad("starttls does not apply to smtps://, which uses TLS from the start")
		}
		if len(values) != 1 {
			return bad("starttls is given %d times", len(values))
		}
		switch values[0] {
		case "required":
			s.tlsPolicy = gomail.TLSMandatory
		case "opportunistic":
			s.tlsPolicy = gomail.TLSOpportunistic
		case "none":
			s.tlsPolicy = gomail.NoTLS
		default:
			return bad("starttls=%q; use required, opportunistic or none", values[0])
		}
	}
	return nil
}

// redactRawURL masks the password of a URL that net/url cannot parse, so
// that the error about it can still show where the mistake is.
func redactRawURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "(not shown: it has no scheme)"
	}
	// A password may hold an unescaped '@' or '/', so the user info ends at
	// the last '@'.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPassword := strings.Cut(rest[:at], ":"); hasPassword {
			rest = user + ":xxxxx" + rest[at:]
		}
	}
	return scheme + "://" + rest
}

// parseFrom checks the MAIL_FROM setting.
func parseFrom(from string) (*netmail.Address, error) {
	if strings.TrimSpace(from) == "" {
		return nil, errors.New("MAIL_FROM is empty; set it to the sender address, such as \"Emporium <no-reply@shop.example>\"")
	}
	if strings.ContainsAny(from, "\r\n") {
		return nil, errors.New("invalid MAIL_FROM: it contains a line break")
	}
	addr, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("invalid MAIL_FROM %q: %v", from, err)
	}
	return addr, nil
}

// String describes the sender for logs, with the password masked.
func (s *SMTP) String() string { return "smtp sender " + s.safeURL }

// Send delivers m. It tries at most 1+Retries times within Timeout,
// waiting with exponential backoff between attempts, and retries only
// temporary failures. The result is nil (the server accepted the message),
// EINVALID (the message was refused for good, typically its recipient) or
// EUNAVAILABLE (the server could not be reached, kept failing, refused the
// credentials or the connection security). Errors never carry the body or
// the password.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	const op = "mail.SMTP.Send"
	to, err := m.validate(op)
	if err != nil {
		return err
	}
	msg := s.build(m, to)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	// Messages of EUNAVAILABLE errors reach API clients (the gateway
	// shows them), so they stay generic; what an operator needs to know
	// goes into the cause, which is logged.
	unavailable := func(cause error) error {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "email cannot be sent right now; try again later", Err: cause}
	}
	log := s.logger.With("to", to.Address, "message_id", msg.GetMessageID())
	for attempt := 1; ; attempt++ {
		err := s.attempt(ctx, msg)
		if err == nil || msg.IsDelivered() {
			// A failure after the server accepted the message (a lost
			// QUIT) is not a failure to deliver; retrying would send the
			// mail twice.
			log.Debug("mail sent", "attempts", attempt)
			return nil
		}
		err = s.scrub(err)
		kind := classify(err)
		switch {
		case kind == rejected:
			return &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "the mail server refused the message for this recipient", Err: err}
		case ctx.Err() != nil:
			return unavailable(fmt.Errorf("%s before the context ended (%v): %w", attempts(attempt), context.Cause(ctx), err))
		case kind == broken:
			return unavailable(fmt.Errorf("the mail server %s refused the session; check SMTP_URL and MAIL_FROM: %w", s.safeURL, err))
		case attempt > s.retries:
			return unavailable(fmt.Errorf("gave up after %s: %w", attempts(attempt), err))
		}
		wait := s.wait(attempt)
		log.Warn("mail attempt failed; retrying", "attempt", attempt, "retry_in", wait, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return unavailable(fmt.Errorf("%s before the context ended (%v): %w", attempts(attempt), context.Cause(ctx), err))
		}
	}
}

// attempts says n attempts in words for an error message.
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}

// wait returns the backoff before attempt+1: Backoff doubled per attempt
// already made, capped, with up to a quarter taken off at random.
func (s *SMTP) wait(attempt int) time.Duration {
	d := s.backoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d - time.Duration(mathrand.Int64N(int64(d)/4+1))
}

// build turns m into a go-mail message: multipart/alternative with the
// text part first (clients show the last part they understand), UTF-8,
// quoted-printable, with Date and a Message-ID in the sender's domain. The
// message is built once per Send, so every retry carries the same
// Message-ID and a receiver can recognise a duplicate.
func (s *SMTP) build(m Message, to *netmail.Address) *gomail.Msg {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(rand.Text() + "@" + s.idDomain)
	// Transactional mail should not trigger out-of-office replies.
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}
	return msg
}

// attempt makes one delivery over a fresh connection. The go-mail client
// is created per attempt because its timeout applies to every command:
// setting it to the time left makes a slow server fail the attempt when
// the Send's budget runs out, not a full Timeout later.
func (s *SMTP) attempt(ctx context.Context, msg *gomail.Msg) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline, _ := ctx.Deadline()
	left := time.Until(deadline)
	if left <= 0 {
		return context.DeadlineExceeded
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(left),
		gomail.WithTLSPolicy(s.tlsPolicy),
		gomail.WithTLSConfig(s.tlsConfig()),
		gomail.WithDialContextFunc(s.dialer(ctx)),
	}
	if s.username != "" {
		opts = append(opts,
			gomail.WithUsername(s.username),
			gomail.WithPassword(s.password),
			gomail.WithOpportunisticSMTPAuth(authMechanisms...),
		)
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("configure the SMTP client: %w", err)
	}
	return client.DialAndSendWithContext(ctx, msg)
}

// tlsConfig returns a copy of the TLS configuration for one connection;
// crypto/tls forbids changing a configuration in use, and go-mail may.
func (s *SMTP) tlsConfig() *tls.Config { return s.tls.Clone() }

// dialer returns the dial function of one attempt. go-mail watches a
// context only while dialling; closing the connection when ctx ends makes
// a cancelled Send return at once even in the middle of the conversation.
func (s *SMTP) dialer(ctx context.Context) gomail.DialContextFunc {
	return func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		conn, err := s.dial(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		if s.implicitTLS {
			tlsConn := tls.Client(conn, s.tlsConfig())
			if err := tlsConn.HandshakeContext(dialCtx); err != nil {
				_ = conn.Close()
				return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
			}
			conn = tlsConn
		}
		context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
}

// failure sorts a failed attempt by what should happen next.
type failure int

const (
	// temporary failures are retried: 4xx replies, network errors and
	// timeouts.
	temporary failure = iota
	// rejected means the server refused this message for good (a 5xx
	// reply to RCPT or DATA), so the caller's input is at fault.
	rejected
	// broken means the server will not work with us until an operator
	// acts: 5xx before the envelope (greeting, AUTH), a refused sender,
	// a missing STARTTLS or a certificate that does not verify.
	broken
)

// classify decides whether err, the result of one attempt, is worth
// retrying and whose fault it is.
func classify(err error) failure {
	var sendErr *gomail.SendError
	if errors.As(err, &sendErr) {
		code := sendErr.ErrorCode()
		switch {
		case code >= 500 && sendErr.Reason == gomail.ErrSMTPMailFrom:
			return broken
		case code >= 500:
			return rejected
		default:
			// 4xx replies, and transport failures in the middle of the
			// conversation (which carry no reply code).
			return temporary
		}
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		if reply.Code >= 400 && reply.Code < 500 {
			return temporary
		}
		return broken
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return temporary
	case errors.As(err, &netErr):
		return temporary
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return temporary
	}
	// Anything else (no STARTTLS where it is required, a certificate that
	// does not verify, no usable AUTH mechanism, a refusal to send a
	// password in the clear) is a setup problem that a retry cannot fix.
	return broken
}

// minScrubbed is the shortest password scrub hides. A shorter one is
// found inside ordinary words ("p" in "support") and would garble every
// message, while its occurrence would not tell anyone it is the password.
const minScrubbed = 6

// scrub hides the password in err's message, should a server or a library
// ever echo it.
func (s *SMTP) scrub(err error) error {
	if err == nil || len(s.password) < minScrubbed || !strings.Contains(err.Error(), s.password) {
		return err
	}
	return &scrubbedError{err: err, secret: s.password}
}

// scrubbedError replaces a secret in the message of the error it wraps.
// Unwrap keeps the chain whole for errors.Is and errors.As.
type scrubbedError struct {
	err    error
	secret string
}

func (e *scrubbedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.secret, "xxxxx") }

func (e *scrubbedError) Unwrap() error { return e.err }
