package mailtest

import (
	"context"
	"errors"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// send delivers raw with the standard library's client, independent of the
// sender under test elsewhere.
func send(t *testing.T, s *Server, password, from string, to []string, raw string) error {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	require.NoError(t, err)
	defer c.Close()
	if err := c.Auth(smtp.PlainAuth("", Username, password, "127.0.0.1")); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(strings.ReplaceAll(raw, "\n", "\r\n"))); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func replyCode(t *testing.T, err error) int {
	t.Helper()
	var reply *textproto.Error
	require.True(t, errors.As(err, &reply), "not an SMTP reply: %v", err)
	return reply.Code
}

func TestServerRejectsBadCredentials(t *testing.T) {
	s := NewServer(t)
	err := send(t, s, "wrong", "a@example.com", []string{"b@example.com"}, "Subject: x\n\nbody\n")
	assert.Equal(t, 535, replyCode(t, err))
	assert.Empty(t, s.Messages())
}

func TestServerRequiresAuthentication(t *testing.T) {
	s := NewServer(t)
	c, err := smtp.Dial(s.Addr())
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, 530, replyCode(t, c.Mail("a@example.com")))
}

func TestServerURL(t *testing.T) {
	s := NewServer(t)
	assert.Equal(t, "smtp://"+Username+":"+Password+"@"+s.Addr()+"?starttls=none", s.URL())
	assert.Equal(t, "smtp://u:p%40ss@"+s.Addr()+"?starttls=none", s.URLWithCredentials("u", "p@ss"))
}

func TestServerParsesMessages(t *testing.T) {
	s := NewServer(t)
	ctx := testContext(t)

	plain := "From: a@example.com\nTo: b@example.com\nSubject: =?UTF-8?q?Gr=C3=BC=C3=9Fe?=\n\nplain body\n"
	require.NoError(t, send(t, s, Password, "a@example.com", []string{"b@example.com"}, plain))
	r, err := s.Wait(ctx, "B@example.com")
	require.NoError(t, err)
	assert.Equal(t, "Grüße", r.Subject)
	assert.Equal(t, "plain body\n", r.Text)
	assert.Empty(t, r.HTML)
	assert.Equal(t, "a@example.com", r.From)
	assert.Equal(t, []string{"b@example.com"}, r.To)
	assert.Equal(t, "b@example.com", r.Header.Get("To"))

	// multipart/mixed holding multipart/alternative, with a base64 text
	// part and a quoted-printable HTML part.
	nested := `From: a@example.com
To: c@example.com
Subject: nested
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

R3LDvMOfZSwKd2VsdA==
--inner
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

<p>Gr=C3=BC=C3=9Fe, a long line that is wrapped by the encoder with a soft=
 break</p>
--inner--
--outer
Content-Type: text/plain; name=attachment.txt
Content-Disposition: attachment

not the body
--outer--
`
	require.NoError(t, send(t, s, Password, "a@example.com", []string{"c@example.com", "d@example.com"}, nested))
	r, err = s.Wait(ctx, "c@example.com")
	require.NoError(t, err)
	assert.Equal(t, "Grüße,\nwelt", r.Text)
	assert.Equal(t, "<p>Grüße, a long line that is wrapped by the encoder with a soft break</p>", r.HTML)
	// The same message reached the second recipient too.
	r2, err := s.Wait(ctx, "d@example.com")
	require.NoError(t, err)
	assert.Equal(t, r.Raw, r2.Raw)
	assert.Len(t, s.Messages(), 2)
}

func TestServerFaults(t *testing.T) {
	s := NewServer(t)
	s.Fail("busy@example.com", Fault{Code: 451, Times: 1})
	s.Fail("gone@example.com", Fault{Code: 550, Message: "No such user"})
	msg := "Subject: x\n\nbody\n"

	err := send(t, s, Password, "a@example.com", []string{"busy@example.com"}, msg)
	assert.Equal(t, 451, replyCode(t, err))
	require.NoError(t, send(t, s, Password, "a@example.com", []string{"busy@example.com"}, msg), "the fault was used up")

	for range 2 {
		err = send(t, s, Password, "a@example.com", []string{"GONE@example.com"}, msg)
		assert.Equal(t, 550, replyCode(t, err), "a fault without Times stays")
		assert.Contains(t, err.Error(), "No such user")
	}
	assert.Equal(t, 4, s.Connections())
}

func TestServerWaitEndsWithItsContext(t *testing.T) {
	s := NewServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Wait(ctx, "nobody@example.com")
	assert.ErrorIs(t, err, context.Canceled)
}
