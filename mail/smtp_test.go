package mail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gomail "github.com/wneessen/go-mail"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/mail/mailtest"
)

// newTestSMTP returns a sender for url with test defaults changed by
// change; the backoff is short so that retries do not slow the tests.
func newTestSMTP(t *testing.T, url string, change func(*SMTPConfig)) *SMTP {
	t.Helper()
	cfg := SMTPConfig{URL: url, From: testFrom, Backoff: time.Millisecond, Logger: testLogger(t)}
	if change != nil {
		change(&cfg)
	}
	s, err := NewSMTP(cfg)
	require.NoError(t, err)
	return s
}

// requireCode fails the test unless err is an *emporium.Error with code.
func requireCode(t *testing.T, err error, code string) *emporium.Error {
	t.Helper()
	var e *emporium.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, code, e.Code, "error: %v", err)
	return e
}

func TestSMTPHeaders(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newTestSMTP(t, srv.URL(), nil)
	ctx := testContext(t)
	before := time.Now().Add(-time.Second)
	require.NoError(t, s.Send(ctx, Message{
		To:      "Ann Example <ann@example.com>",
		Subject: "Bestätigung",
		Text:    "text",
		HTML:    "<p>html</p>",
	}))
	r, err := srv.Wait(ctx, "ann@example.com")
	require.NoError(t, err)

	assert.Equal(t, "no-reply@shop.example", r.From, "envelope sender")
	assert.Equal(t, []string{"ann@example.com"}, r.To, "envelope recipients")

	from, err := netmail.ParseAddress(r.Header.Get("From"))
	require.NoError(t, err)
	assert.Equal(t, "Emporium", from.Name)
	assert.Equal(t, "no-reply@shop.example", from.Address)
	to, err := netmail.ParseAddress(r.Header.Get("To"))
	require.NoError(t, err)
	assert.Equal(t, "Ann Example", to.Name)
	assert.Equal(t, "ann@example.com", to.Address)

	// A non-ASCII subject travels as an RFC 2047 encoded word.
	assert.True(t, strings.HasPrefix(r.Header.Get("Subject"), "=?UTF-8?"), "raw subject %q", r.Header.Get("Subject"))
	assert.Equal(t, "Bestätigung", r.Subject)

	id := r.Header.Get("Message-Id")
	assert.Regexp(t, `^<[A-Z2-7]{20,}@shop\.example>$`, id)
	date, err := r.Header.Date()
	require.NoError(t, err)
	assert.WithinRange(t, date, before, time.Now().Add(time.Second))
	assert.Equal(t, "1.0", r.Header.Get("Mime-Version"))
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "multipart/alternative", mediaType)
	assert.NotEmpty(t, params["boundary"])
	assert.Equal(t, "All", r.Header.Get("X-Auto-Response-Suppress"))
	// The text part comes first: clients show the last part they can.
	raw := string(r.Raw)
	assert.Less(t, strings.Index(raw, "text/plain"), strings.Index(raw, "text/html"))
}

func TestSMTPSinglePartMessages(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newTestSMTP(t, srv.URL(), nil)
	ctx := testContext(t)

	require.NoError(t, s.Send(ctx, Message{To: "text@example.com", Subject: "text only", Text: "just text"}))
	r, err := srv.Wait(ctx, "text@example.com")
	require.NoError(t, err)
	assert.Equal(t, "just text", body(r.Text))
	assert.Empty(t, r.HTML)

	require.NoError(t, s.Send(ctx, Message{To: "html@example.com", Subject: "html only", HTML: "<p>just html</p>"}))
	r, err = srv.Wait(ctx, "html@example.com")
	require.NoError(t, err)
	assert.Equal(t, "<p>just html</p>", body(r.HTML))
	assert.Empty(t, r.Text)
}

func TestSMTPServerDownRetriesThenUnavailable(t *testing.T) {
	// Take a free port and close it, so that nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	const timeout = 5 * time.Second
	s := newTestSMTP(t, "smtp://"+addr, func(c *SMTPConfig) {
		c.Retries = 3
		c.Timeout = timeout
	})
	var attempts atomic.Int64
	dial := s.dial
	s.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		attempts.Add(1)
		return dial(ctx, network, addr)
	}

	start := time.Now()
	err = s.Send(testContext(t), Message{To: "ann@example.com", Subject: "s", Text: "t"})
	elapsed := time.Since(start)

	e := requireCode(t, err, emporium.EUNAVAILABLE)
	assert.Equal(t, int64(4), attempts.Load(), "one attempt and three retries")
	assert.Less(t, elapsed, timeout, "the retries end within the timeout")
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "the cause is kept: %v", err)
	assert.Equal(t, "mail.SMTP.Send", e.Op)
	// The message for API clients says nothing about the setup.
	assert.NotContains(t, e.Message, addr)
}

func TestSMTPServerGoneAway(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newTestSMTP(t, srv.URL(), func(c *SMTPConfig) { c.Retries = 1 })
	srv.Close()
	err := s.Send(testContext(t), Message{To: "ann@example.com", Subject: "s", Text: "t"})
	requireCode(t, err, emporium.EUNAVAILABLE)
}

func TestSMTPTemporaryFailureIsRetried(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Fail("ann@example.com", mailtest.Fault{Code: 451, Times: 2})
	s := newTestSMTP(t, srv.URL(), nil)
	ctx := testContext(t)

	require.NoError(t, s.Send(ctx, Message{To: "ann@example.com", Subject: "after retries", Text: "t"}))
	r, err := srv.Wait(ctx, "ann@example.com")
	require.NoError(t, err)
	assert.Equal(t, "after retries", r.Subject)
	assert.Equal(t, 3, srv.Connections(), "two refusals, then the delivery")
	assert.Len(t, srv.Messages(), 1, "delivered once")
}

func TestSMTPTemporaryFailureGivesUp(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Fail("ann@example.com", mailtest.Fault{Code: 452, Message: "Mailbox full, try later"})
	s := newTestSMTP(t, srv.URL(), func(c *SMTPConfig) { c.Retries = 2 })

	err := s.Send(testContext(t), Message{To: "ann@example.com", Subject: "s", Text: "t"})
	requireCode(t, err, emporium.EUNAVAILABLE)
	assert.Equal(t, 3, srv.Connections())
	assert.Contains(t, err.Error(), "452")
}

func TestSMTPNegativeRetriesMeansOneAttempt(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Fail("ann@example.com", mailtest.Fault{Code: 451})
	s := newTestSMTP(t, srv.URL(), func(c *SMTPConfig) { c.Retries = -1 })

	err := s.Send(testContext(t), Message{To: "ann@example.com", Subject: "s", Text: "t"})
	requireCode(t, err, emporium.EUNAVAILABLE)
	assert.Equal(t, 1, srv.Connections())
}

func TestSMTPPermanentFailureIsNotRetried(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Fail("nobody@example.com", mailtest.Fault{Code: 550, Message: "No such user"})
	s := newTestSMTP(t, srv.URL(), nil)

	err := s.Send(testContext(t), Message{To: "nobody@example.com", Subject: "s", Text: "secret body"})
	requireCode(t, err, emporium.EINVALID)
	assert.Equal(t, 1, srv.Connections(), "no retry after 550")
	assert.Contains(t, err.Error(), "550")
	assert.NotContains(t, err.Error(), "secret body")
	assert.Empty(t, srv.Messages())
}

func TestSMTPBadCredentials(t *testing.T) {
	srv := mailtest.NewServer(t)
	const password = "wrong-Pa55word"
	s := newTestSMTP(t, srv.URLWithCredentials(mailtest.Username, password), nil)

	err := s.Send(testContext(t), Message{To: "ann@example.com", Subject: "s", Text: "t"})
	requireCode(t, err, emporium.EUNAVAILABLE)
	assert.Equal(t, 1, srv.Connections(), "refused credentials are not retried")
	assert.Contains(t, err.Error(), "535")
	assert.NotContains(t, err.Error(), password)
	assert.Contains(t, err.Error(), "xxxxx", "the URL in the error is redacted")
	assert.Empty(t, srv.Messages())
}

func TestSMTPWithoutCredentialsIsRefused(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newTestSMTP(t, "smtp://"+srv.Addr()+"?starttls=none", nil)

	err := s.Send(testContext(t), Message{To: "ann@example.com", Subject: "s", Text: "t"})
	requireCode(t, err, emporium.EUNAVAILABLE)
	assert.Contains(t, err.Error(), "530")
	assert.Equal(t, 1, srv.Connections(), "a refused sender is not retried")
}

func TestSMTPRequiredStartTLS(t *testing.T) {
	srv := mailtest.NewServer(t)
	url := strings.Replace(srv.URL(), "starttls=none", "starttls=required", 1)
	s := newTestSMTP(t, url, nil)

	err := s.Send(testContext(t), Message{To: "ann@example.com", Subject: "s", Text: "t"})
	requireCode(t, err, emporium.EUNAVAILABLE)
	assert.Contains(t, err.Error(), "STARTTLS")
	assert.Equal(t, 1, srv.Connections())
	assert.Empty(t, srv.Messages())
}

func TestSMTPOverTLS(t *testing.T) {
	cases := map[string]struct {
		opt   mailtest.Option
		query string
	}{
		"implicit TLS":            {mailtest.WithImplicitTLS(), ""},
		"STARTTLS required":       {mailtest.WithSTARTTLS(), ""},
		"STARTTLS opportunistic":  {mailtest.WithSTARTTLS(), "starttls=opportunistic"},
		"STARTTLS by the default": {mailtest.WithSTARTTLS(), "-"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv := mailtest.NewServer(t, c.opt)
			url := srv.URL()
			switch c.query {
			case "":
			case "-":
				url = strings.TrimSuffix(url, "?starttls=required")
			default:
				url = strings.Replace(url, "starttls=required", c.query, 1)
			}
			s := newTestSMTP(t, url, func(cfg *SMTPConfig) { cfg.TLSConfig = srv.ClientTLSConfig() })
			ctx := testContext(t)
			require.NoError(t, s.Send(ctx, Message{To: "ann@example.com", Subject: "secure", Text: "t"}))
			r, err := srv.Wait(ctx, "ann@example.com")
			require.NoError(t, err)
			assert.True(t, r.TLS, "delivered over TLS")
		})
	}
}

func TestSMTPUntrustedCertificate(t *testing.T) {
	for name, opt := range map[string]mailtest.Option{
		"implicit TLS": mailtest.WithImplicitTLS(),
		"STARTTLS":     mailtest.WithSTARTTLS(),
	} {
		t.Run(name, func(t *testing.T) {
			srv := mailtest.NewServer(t, opt)
			s := newTestSMTP(t, srv.URL(), nil) // the system roots do not know the test CA

			err := s.Send(testContext(t), Message{To: "ann@example.com", Subject: "s", Text: "t"})
			requireCode(t, err, emporium.EUNAVAILABLE)
			assert.Contains(t, err.Error(), "certificate")
			assert.Equal(t, 1, srv.Connections(), "a certificate that does not verify is not retried")
			assert.NotContains(t, err.Error(), mailtest.Password)
			assert.Empty(t, srv.Messages())
		})
	}
}

func TestSMTPSlowServerTimesOut(t *testing.T) {
	srv := mailtest.NewServer(t)
	// The server would answer long after the test is over; Close releases
	// it.
	srv.Delay(time.Hour)
	const timeout = 300 * time.Millisecond
	s := newTestSMTP(t, srv.URL(), func(c *SMTPConfig) { c.Timeout = timeout })

	start := time.Now()
	err := s.Send(testContext(t), Message{To: "ann@example.com", Subject: "s", Text: "t"})
	elapsed := time.Since(start)

	requireCode(t, err, emporium.EUNAVAILABLE)
	assert.GreaterOrEqual(t, elapsed, timeout)
	assert.Less(t, elapsed, waitTimeout/2, "Send returned near its timeout, not when the server answered")
	assert.Equal(t, 1, srv.Connections(), "no time was left for a retry")
}

func TestSMTPCallerContextBoundsSend(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Delay(time.Hour)
	s := newTestSMTP(t, srv.URL(), nil) // the default 10 s timeout

	ctx, cancel := context.WithTimeout(testContext(t), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, Message{To: "ann@example.com", Subject: "s", Text: "t"})
	requireCode(t, err, emporium.EUNAVAILABLE)
	assert.Less(t, time.Since(start), DefaultSMTPTimeout/2)
}

func TestNewSMTPValidatesSettings(t *testing.T) {
	const password = "s3cr3t-pw"
	cases := []struct {
		name, url, from, want string
	}{
		{"empty URL", "", testFrom, "SMTP_URL is empty"},
		{"wrong scheme", "http://user:" + password + "@mail.example", testFrom, "scheme"},
		{"no host", "smtp://user:" + password + "@", testFrom, "no host"},
		{"bad port", "smtp://user:" + password + "@mail.example:99999", testFrom, "port"},
		{"unparsable", "smtp://user:" + password + "@mail example:25", testFrom, "does not parse"},
		{"bad escape in password", "smtp://user:" + password + "%zz@mail.example", testFrom, "does not parse"},
		{"user without password", "smtp://user@mail.example", testFrom, "user name and a password"},
		{"unknown starttls", "smtp://user:" + password + "@mail.example?starttls=maybe", testFrom, "starttls"},
		{"starttls with smtps", "smtps://user:" + password + "@mail.example?starttls=required", testFrom, "smtps"},
		{"unknown option", "smtp://user:" + password + "@mail.example?tls=1", testFrom, "unknown option"},
		{"path", "smtp://user:" + password + "@mail.example/inbox", testFrom, "path"},
		{"empty from", "smtp://user:" + password + "@mail.example", "", "MAIL_FROM"},
		{"bad from", "smtp://user:" + password + "@mail.example", "not an address", "MAIL_FROM"},
		{"from with line break", "smtp://user:" + password + "@mail.example", "a@b.example\r\nBcc: c@d.example", "MAIL_FROM"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewSMTP(SMTPConfig{URL: c.url, From: c.from})
			e := requireCode(t, err, emporium.EINVALID)
			assert.Contains(t, e.Message, c.want)
			if c.from != "" && !strings.Contains(c.want, "MAIL_FROM") {
				assert.Contains(t, e.Message, "SMTP_URL")
			}
			assert.NotContains(t, err.Error(), password)
		})
	}

	t.Run("negative timeout", func(t *testing.T) {
		_, err := NewSMTP(SMTPConfig{URL: "smtp://mail.example", From: testFrom, Timeout: -time.Second})
		requireCode(t, err, emporium.EINVALID)
	})
}

func TestNewSMTPDefaults(t *testing.T) {
	s, err := NewSMTP(SMTPConfig{URL: "smtp://mail.example", From: "no-reply@shop.example"})
	require.NoError(t, err)
	assert.Equal(t, "mail.example", s.host)
	assert.Equal(t, 25, s.port)
	assert.Equal(t, gomail.TLSOpportunistic, s.tlsPolicy)
	assert.Equal(t, DefaultSMTPTimeout, s.timeout)
	assert.Equal(t, DefaultSMTPRetries, s.retries)
	assert.Equal(t, DefaultSMTPBackoff, s.backoff)
	assert.Empty(t, s.username)

	s, err = NewSMTP(SMTPConfig{URL: "smtps://ann%40shop:p%2Fw%40rd@mail.example", From: "no-reply@shop.example"})
	require.NoError(t, err)
	assert.Equal(t, 465, s.port)
	assert.True(t, s.implicitTLS)
	assert.Equal(t, gomail.NoTLS, s.tlsPolicy, "no STARTTLS inside implicit TLS")
	assert.Equal(t, "ann@shop", s.username)
	assert.Equal(t, "p/w@rd", s.password)
	assert.NotContains(t, s.String(), "p/w@rd")
	assert.NotContains(t, s.String(), "p%2Fw%40rd")

	for query, policy := range map[string]gomail.TLSPolicy{
		"required": gomail.TLSMandatory, "opportunistic": gomail.TLSOpportunistic, "none": gomail.NoTLS,
	} {
		s, err = NewSMTP(SMTPConfig{URL: "smtp://mail.example:587?starttls=" + query, From: "no-reply@shop.example"})
		require.NoError(t, err)
		assert.Equal(t, 587, s.port)
		assert.Equal(t, policy, s.tlsPolicy, query)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	s := &SMTP{backoff: 100 * time.Millisecond}
	for attempt, base := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 20: maxBackoff,
	} {
		for range 50 {
			w := s.wait(attempt)
			assert.LessOrEqual(t, w, base, "attempt %d", attempt)
			assert.GreaterOrEqual(t, w, base*3/4, "attempt %d", attempt)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want failure
	}{
		{"refused connection", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, temporary},
		{"EOF", fmt.Errorf("dial failed: %w", io.EOF), temporary},
		{"deadline", context.DeadlineExceeded, temporary},
		{"busy greeting", &textproto.Error{Code: 421, Msg: "busy"}, temporary},
		{"auth refused", fmt.Errorf("SMTP AUTH failed: %w", &textproto.Error{Code: 535, Msg: "bad credentials"}), broken},
		{"no STARTTLS", errors.New("STARTTLS mode set to: \"TLSMandatory\", but target host does not support STARTTLS"), broken},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, classify(c.err), c.name)
	}
}

func TestScrubHidesThePassword(t *testing.T) {
	s := &SMTP{password: "hunter22"}
	cause := errors.New("server said: bad password hunter22")
	err := s.scrub(cause)
	assert.NotContains(t, err.Error(), "hunter22")
	assert.ErrorIs(t, err, cause)
	assert.Same(t, cause, s.scrub(cause).(*scrubbedError).err)
	plain := errors.New("nothing secret")
	assert.Same(t, plain, s.scrub(plain))

	// A very short password is not scrubbed: it would garble the message.
	short := &SMTP{password: "p"}
	unsupported := errors.New("server does not support SMTP AUTH")
	assert.Equal(t, unsupported.Error(), short.scrub(unsupported).Error())
}
