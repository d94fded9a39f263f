package mail

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/mail/mailtest"
)

// testFrom is the sender address of the tests.
const testFrom = "Emporium <no-reply@shop.example>"

// waitTimeout bounds every wait for a message; a healthy run needs
// milliseconds.
const waitTimeout = 10 * time.Second

// testContext returns a context that ends with the test or after
// waitTimeout, whichever comes first.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testLogger writes the sender's records to the test output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// body normalises a body for comparison: transports may end the last line
// with a line break of their own.
func body(s string) string { return strings.TrimRight(s, "\r\n") }

// testSender is the contract every Sender meets (DESIGN §11). newSender
// returns a fresh sender and a function that waits for the next message
// delivered to an address, as the recipient would see it.
func testSender(t *testing.T, newSender func(t *testing.T) (Sender, func(ctx context.Context, to string) (Message, error))) {
	t.Run("TextAndHTMLBothArrive", func(t *testing.T) {
		sender, inbox := newSender(t)
		ctx := testContext(t)
		want := Message{
			To:      "ann@example.com",
			Subject: "Two parts",
			Text:    "Plain words.\nSecond line.",
			HTML:    "<p>Rich <b>words</b>.</p>",
		}
		require.NoError(t, sender.Send(ctx, want))
		got, err := inbox(ctx, want.To)
		require.NoError(t, err)
		assert.Equal(t, want.To, addressOf(got.To))
		assert.Equal(t, want.Subject, got.Subject)
		assert.Equal(t, body(want.Text), body(got.Text))
		assert.Equal(t, body(want.HTML), body(got.HTML))
	})

	t.Run("TemplateLinkSurvivesTransport", func(t *testing.T) {
		sender, inbox := newSender(t)
		ctx := testContext(t)
		// A long token makes the encoder wrap lines inside the link.
		token := strings.Repeat("Zm9vYmFy-_", 12)
		link, err := Link("https://shop.example/app/", "/verify-email", token)
		require.NoError(t, err)
		want := VerifyEmail("Bob <bob@example.com>", "Bob", link)
		require.NoError(t, sender.Send(ctx, want))
		got, err := inbox(ctx, "bob@example.com")
		require.NoError(t, err)
		assert.Equal(t, "bob@example.com", addressOf(got.To))
		assert.Equal(t, want.Subject, got.Subject)
		assert.Equal(t, body(want.Text), body(got.Text))
		assert.Equal(t, body(want.HTML), body(got.HTML))
		assert.Contains(t, got.Text, "token="+token)
		assert.Contains(t, html.UnescapeString(got.HTML), link)
	})

	t.Run("NonASCIISubjectAndBody", func(t *testing.T) {
		sender, inbox := newSender(t)
		ctx := testContext(t)
		want := Message{
			To:      "zoë@example.com",
			Subject: "Grüße aus Köln — 注文の確認 ✓",
			Text:    "Größe: 42 €\nこんにちは、世界 🌍\n",
			HTML:    "<p>Größe: 42 €</p><p>こんにちは、世界 🌍</p>",
		}
		require.NoError(t, sender.Send(ctx, want))
		got, err := inbox(ctx, want.To)
		require.NoError(t, err)
		assert.Equal(t, want.Subject, got.Subject)
		assert.Equal(t, body(want.Text), body(got.Text))
		assert.Equal(t, body(want.HTML), body(got.HTML))
	})

	t.Run("SeveralRecipientsSequentially", func(t *testing.T) {
		sender, inbox := newSender(t)
		ctx := testContext(t)
		for i := range 5 {
			m := Message{
				To:      fmt.Sprintf("user%d@example.com", i),
				Subject: fmt.Sprintf("Message %d", i),
				Text:    fmt.Sprintf("Body %d", i),
				HTML:    fmt.Sprintf("<p>Body %d</p>", i),
			}
			require.NoError(t, sender.Send(ctx, m))
		}
		// Read them back in the opposite order: each arrives at its own
		// address whatever the order of reading.
		for i := 4; i >= 0; i-- {
			got, err := inbox(ctx, fmt.Sprintf("user%d@example.com", i))
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("Message %d", i), got.Subject)
			assert.Equal(t, fmt.Sprintf("Body %d", i), body(got.Text))
		}
	})

	t.Run("SameRecipientInOrder", func(t *testing.T) {
		sender, inbox := newSender(t)
		ctx := testContext(t)
		for i := range 3 {
			require.NoError(t, sender.Send(ctx, Message{To: "cat@example.com", Subject: fmt.Sprintf("Number %d", i), Text: "x"}))
		}
		for i := range 3 {
			got, err := inbox(ctx, "CAT@example.com")
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("Number %d", i), got.Subject)
		}
	})

	t.Run("ConcurrentSends", func(t *testing.T) {
		sender, inbox := newSender(t)
		ctx := testContext(t)
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = sender.Send(ctx, Message{
					To:      fmt.Sprintf("buyer%d@example.com", i),
					Subject: fmt.Sprintf("Order %d", i),
					Text:    fmt.Sprintf("Order %d is confirmed.", i),
					HTML:    fmt.Sprintf("<p>Order %d is confirmed.</p>", i),
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "send %d", i)
		}
		for i := range n {
			got, err := inbox(ctx, fmt.Sprintf("buyer%d@example.com", i))
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("Order %d", i), got.Subject)
			assert.Equal(t, fmt.Sprintf("Order %d is confirmed.", i), body(got.Text))
		}
	})

	t.Run("InvalidMessagesAreRefused", func(t *testing.T) {
		sender, inbox := newSender(t)
		ctx := testContext(t)
		bad := []Message{
			{To: "", Subject: "s", Text: "t"},
			{To: "not an address", Subject: "s", Text: "t"},
			{To: "dan@example.com\r\nBcc: eve@example.com", Subject: "s", Text: "t"},
			{To: "dan@example.com", Subject: "", Text: "t"},
			{To: "dan@example.com", Subject: "Hi\r\nBcc: eve@example.com", Text: "t"},
			{To: "dan@example.com", Subject: "s"},
		}
		for _, m := range bad {
			err := sender.Send(ctx, m)
			var e *emporium.Error
			require.ErrorAs(t, err, &e, "%+v", m)
			assert.Equal(t, emporium.EINVALID, e.Code, "%+v", m)
			assert.NotEmpty(t, e.Fields, "%+v", m)
		}
		// Nothing of the above was delivered: the first message to arrive
		// is the valid one sent now.
		require.NoError(t, sender.Send(ctx, Message{To: "dan@example.com", Subject: "valid", Text: "t"}))
		got, err := inbox(ctx, "dan@example.com")
		require.NoError(t, err)
		assert.Equal(t, "valid", got.Subject)
	})

	t.Run("EndedContextIsUnavailable", func(t *testing.T) {
		sender, inbox := newSender(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := sender.Send(ctx, Message{To: "fay@example.com", Subject: "late", Text: "t"})
		assert.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE), "err = %v", err)

		require.NoError(t, sender.Send(testContext(t), Message{To: "fay@example.com", Subject: "on time", Text: "t"}))
		got, err := inbox(testContext(t), "fay@example.com")
		require.NoError(t, err)
		assert.Equal(t, "on time", got.Subject)
	})
}

// TestSMTPContract runs the contract against the SMTP sender talking to a
// real SMTP server, in plain text and behind STARTTLS.
func TestSMTPContract(t *testing.T) {
	for name, opts := range map[string][]mailtest.Option{
		"Plain":    nil,
		"STARTTLS": {mailtest.WithSTARTTLS()},
	} {
		t.Run(name, func(t *testing.T) {
			testSender(t, func(t *testing.T) (Sender, func(context.Context, string) (Message, error)) {
				srv := mailtest.NewServer(t, opts...)
				s, err := NewSMTP(SMTPConfig{URL: srv.URL(), From: testFrom, TLSConfig: srv.ClientTLSConfig(), Logger: testLogger(t)})
				require.NoError(t, err)
				return s, smtpInbox(srv, opts != nil)
			})
		})
	}
}

// smtpInbox reads what the server received as the recipient sees it, and
// checks that it came encrypted when it should have.
func smtpInbox(srv *mailtest.Server, wantTLS bool) func(context.Context, string) (Message, error) {
	return func(ctx context.Context, to string) (Message, error) {
		r, err := srv.Wait(ctx, addressOf(to))
		if err != nil {
			return Message{}, err
		}
		if r.TLS != wantTLS {
			return Message{}, fmt.Errorf("the message came with TLS=%v, want %v", r.TLS, wantTLS)
		}
		header, err := netmail.ParseAddress(r.Header.Get("To"))
		if err != nil {
			return Message{}, fmt.Errorf("parse the To header %q: %w", r.Header.Get("To"), err)
		}
		return Message{To: header.Address, Subject: r.Subject, Text: r.Text, HTML: r.HTML}, nil
	}
}

// TestOutboxContract runs the contract against the development outbox.
func TestOutboxContract(t *testing.T) {
	testSender(t, func(t *testing.T) (Sender, func(context.Context, string) (Message, error)) {
		o := NewOutbox(testLogger(t), 0)
		return o, o.Wait
	})
}
