package mail

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"github.com/emporium-shop/emporium"
)

// DefaultOutboxKeep is how many messages an Outbox keeps when NewOutbox is
// given a keep of zero or less.
const DefaultOutboxKeep = 100

// Outbox is the development Sender, used when no SMTP_URL is set
// (DESIGN §10). It delivers nothing: Send logs the recipient, the subject
// and the links of the text body at Info, so that a developer running
// `make run` can click the verification link in the log, and keeps the
// latest messages in memory, where tests read them. It refuses the same
// messages the SMTP sender refuses, so that a bad message fails in
// development too. It is safe for concurrent use.
type Outbox struct {
	logger *slog.Logger
	keep   int

	mu   sync.Mutex
	msgs []outboxEntry // oldest first, at most keep
	seq  uint64        // seq of the latest message
	// taken holds, per lower-cased address, the seq of the last message
	// Wait returned, so that each Wait returns a message only once.
	taken map[string]uint64
	// arrived is closed, and replaced, whenever a message arrives; Wait
	// blocks on it instead of polling.
	arrived chan struct{}
}

type outboxEntry struct {
	seq uint64
	to  string // lower-cased bare address
	msg Message
}

var _ Sender = (*Outbox)(nil)

// NewOutbox returns an outbox that logs to logger (nil discards the
// records) and keeps the last keep messages (DefaultOutboxKeep when keep
// is zero or less).
func NewOutbox(logger *slog.Logger, keep int) *Outbox {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if keep <= 0 {
		keep = DefaultOutboxKeep
	}
	return &Outbox{
		logger:  logger,
		keep:    keep,
		taken:   make(map[string]uint64),
		arrived: make(chan struct{}),
	}
}

// linkPattern finds the http and https links of a plain-text body.
var linkPattern = regexp.MustCompile(`https?://[^\s<>"'()\[\]]+`)

// links returns the links of a plain-text body, without the punctuation
// that ends a sentence after a link.
func links(text string) []string {
	found := linkPattern.FindAllString(text, -1)
	for i, link := range found {
		found[i] = strings.TrimRight(link, ".,;:!?")
	}
	return found
}

// Send validates m, logs it and keeps it. It fails only for an invalid
// message (EINVALID) or a context that has already ended (EUNAVAILABLE),
// like the SMTP sender would.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	const op = "mail.Outbox.Send"
	to, err := m.validate(op)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "email cannot be sent right now; try again later", Err: err}
	}
	// The links carry one-time tokens. Logging them is the purpose of the
	// development outbox; it is never used when SMTP_URL is set.
	o.logger.Info("mail (development outbox; not delivered)",
		"to", to.Address, "subject", m.Subject, "links", links(m.Text))

	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	o.msgs = append(o.msgs, outboxEntry{seq: o.seq, to: strings.ToLower(to.Address), msg: m})
	if over := len(o.msgs) - o.keep; over > 0 {
		// Copy rather than reslice, so the dropped messages can be
		// collected instead of living on in the backing array.
		o.msgs = append([]outboxEntry(nil), o.msgs[over:]...)
	}
	close(o.arrived)
	o.arrived = make(chan struct{})
	return nil
}

// Messages returns the kept messages, oldest first.
func (o *Outbox) Messages() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Message, len(o.msgs))
	for i, e := range o.msgs {
		out[i] = e.msg
	}
	return out
}

// Last returns the latest kept message to the address to (case is
// ignored, and a display name may be present on either side).
func (o *Outbox) Last(to string) (Message, bool) {
	key := strings.ToLower(addressOf(to))
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.msgs) - 1; i >= 0; i-- {
		if o.msgs[i].to == key {
			return o.msgs[i].msg, true
		}
	}
	return Message{}, false
}

// Wait returns the oldest kept message to the address to that no earlier
// Wait returned, blocking until one arrives or ctx ends. A message sent
// before Wait is called counts, so a test can send first and wait after
// without a race; n messages to one address are returned by n Waits, in
// the order they were sent. When ctx ends first, the error wraps ctx's
// error.
func (o *Outbox) Wait(ctx context.Context, to string) (Message, error) {
	key := strings.ToLower(addressOf(to))
	for {
		o.mu.Lock()
		for _, e := range o.msgs {
			if e.to == key && e.seq > o.taken[key] {
				o.taken[key] = e.seq
				o.mu.Unlock()
				return e.msg, nil
			}
		}
		arrived := o.arrived
		o.mu.Unlock()

		select {
		case <-arrived:
		case <-ctx.Done():
			return Message{}, &emporium.Error{
				Code:    emporium.ENOTFOUND,
				Op:      "mail.Outbox.Wait",
				Message: fmt.Sprintf("no message to %s arrived", to),
				Err:     ctx.Err(),
			}
		}
	}
}
