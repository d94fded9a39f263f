// Package mail sends Emporium's transactional email (DESIGN §2, §9, §10):
// account verification, password reset, email-change confirmation, the
// confirmation and cancellation of orders, and back-in-stock alerts.
//
// Consumers depend on the Sender interface only. Two implementations exist:
// SMTP, which delivers through the server named by SMTP_URL with timeouts
// and retries, and Outbox, the development mailer used when no SMTP_URL is
// set, which logs each message's links so that a developer can click them
// and keeps recent messages in memory for tests. Templates render the
// messages themselves, with a plain-text and an HTML part.
//
// Every error a Sender returns is an *emporium.Error: EINVALID when the
// message itself is refused (a malformed or rejected recipient) and
// retrying cannot help, EUNAVAILABLE when the mail server could not be
// reached or refused to work and a later retry may succeed.
package mail

import (
	"context"
	netmail "net/mail"
	"strings"

	"github.com/emporium-shop/emporium"
)

// Message is one email to one recipient. Text is the plain-text body and
// HTML the HTML body; a message needs at least one of them, and the
// templates always fill both so that every mail client shows something
// readable.
type Message struct {
	// To is the recipient, an RFC 5322 address such as "ann@example.com"
	// or "Ann <ann@example.com>".
	To string
	// Subject is the subject line in UTF-8; non-ASCII text is encoded for
	// the wire by the sender.
	Subject string
	// Text is the plain-text body in UTF-8.
	Text string
	// HTML is the HTML body in UTF-8.
	HTML string
}

// Sender delivers messages. Implementations are safe for concurrent use.
type Sender interface {
	// Send delivers m or returns an *emporium.Error saying why it could
	// not: EINVALID when the message is refused for good, EUNAVAILABLE
	// when the mail system is down or busy. A nil error means the message
	// was handed over (to the SMTP server or to the development outbox).
	Send(ctx context.Context, m Message) error
}

// validate checks what every Sender requires of a message, so that the
// development outbox refuses exactly what the SMTP sender refuses and a bug
// shows up before production. It returns the parsed recipient.
func (m Message) validate(op string) (*netmail.Address, error) {
	var fields []emporium.FieldError
	var to *netmail.Address
	switch {
	case strings.TrimSpace(m.To) == "":
		fields = append(fields, emporium.FieldError{Field: "to", Code: emporium.FieldRequired, Message: "the recipient is required"})
	case strings.ContainsAny(m.To, "\r\n"):
		// A line break in an address header would let the value add
		// headers of its own.
		fields = append(fields, emporium.FieldError{Field: "to", Code: emporium.FieldInvalid, Message: "the recipient contains a line break"})
	default:
		addr, err := netmail.ParseAddress(m.To)
		if err != nil {
			fields = append(fields, emporium.FieldError{Field: "to", Code: emporium.FieldInvalid, Message: "the recipient is not a valid email address"})
		} else {
			to = addr
		}
	}
	switch {
	case strings.TrimSpace(m.Subject) == "":
		fields = append(fields, emporium.FieldError{Field: "subject", Code: emporium.FieldRequired, Message: "the subject is required"})
	case strings.ContainsAny(m.Subject, "\r\n"):
		fields = append(fields, emporium.FieldError{Field: "subject", Code: emporium.FieldInvalid, Message: "the subject contains a line break"})
	}
	if strings.TrimSpace(m.Text) == "" && strings.TrimSpace(m.HTML) == "" {
		fields = append(fields, emporium.FieldError{Field: "text", Code: emporium.FieldRequired, Message: "the message has no body"})
	}
	if len(fields) > 0 {
		return nil, &emporium.Error{
			Code:    emporium.EINVALID,
			Op:      op,
			Message: "the email message is not valid",
			Fields:  fields,
		}
	}
	return to, nil
}

// addressOf returns the bare address of s ("ann@example.com" for
// "Ann <ann@example.com>"), or s itself when it does not parse.
func addressOf(s string) string {
	if addr, err := netmail.ParseAddress(s); err == nil {
		return addr.Address
	}
	return strings.TrimSpace(s)
}
