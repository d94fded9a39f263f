package live

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/auth"
)

// TicketTTL is how long a websocket ticket may wait to be used (DESIGN §9):
// long enough for a browser to open the socket after it asked, short enough
// that a ticket leaked through a URL is worthless.
const TicketTTL = 30 * time.Second

// minTicketTTL is the shortest life worth giving a ticket. An access token
// that expires sooner should be refreshed first: the connection would close
// at once anyway.
const minTicketTTL = time.Second

// ticketLength is the length of a ticket as text: an auth.NewToken, 32
// random bytes in unpadded base64url.
var ticketLength = base64.RawURLEncoding.EncodedLen(32)

var (
	errBadTicket = emporium.Errorf(emporium.EUNAUTHENTICATED,
		"The websocket ticket is not valid, was already used, or has expired; get a new one from POST /v1/ws/tickets.")
	errTicketTokenExpired = emporium.Errorf(emporium.EUNAUTHENTICATED,
		"The access token this ticket was issued for has expired; refresh it and get a new ticket.")
	errTokenExpiresSoon = emporium.Errorf(emporium.EUNAUTHENTICATED,
		"The access token expires too soon to open a live connection; refresh it first.")
)

// ticketRecord is what a ticket stands for, stored under the hash of the
// ticket: the principal of the access token it was issued for, and when
// that token expires (Unix milliseconds), which is when the connection it
// opens must close.
type ticketRecord struct {
	UserID    string   `json:"uid"`
	SessionID string   `json:"sid,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	ExpiresAt int64    `json:"exp"`
}

// tickets is the one-time token store the tickets live in (auth.OneTime,
// kind auth.TokenTicket): only the hash of a ticket is stored, so a Redis
// dump opens no connection.
func (b *Bus) tickets() *auth.OneTime {
	if b.Tickets != nil {
		return b.Tickets
	}
	return &auth.OneTime{Client: b.Client, Prefix: b.Prefix, Timeout: b.timeout()}
}

// IssueTicket returns a one-time ticket that opens a live connection for p,
// and how long it is valid: TicketTTL, or less when the access token p came
// from expires sooner (expiresAt). The connection the ticket opens closes at
// expiresAt. A token that expires within a second is EUNAUTHENTICATED.
func (b *Bus) IssueTicket(ctx context.Context, p emporium.Principal, expiresAt time.Time) (string, time.Duration, error) {
	const op = "live.Bus.IssueTicket"
	if p.UserID == "" {
		return "", 0, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Err: errNoUser}
	}
	if expiresAt.IsZero() {
		return "", 0, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Err: errors.New("a ticket needs the expiry of its access token")}
	}
	ttl := min(TicketTTL, expiresAt.Sub(b.now())).Truncate(time.Millisecond)
	if ttl < minTicketTTL {
		return "", 0, &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: errTokenExpiresSoon.Message, Op: op}
	}
	// Marshalling strings and an int cannot fail.
	rec, _ := json.Marshal(ticketRecord{UserID: p.UserID, SessionID: p.SessionID, Roles: p.Roles, ExpiresAt: expiresAt.UnixMilli()})
	ticket, _, err := b.tickets().Issue(ctx, auth.TokenTicket, rec, ttl)
	if err != nil {
		return "", 0, emporium.Wrap(op, err)
	}
	return ticket, ttl, nil
}

// RedeemTicket consumes a ticket and answers the principal it was issued
// for, with ExpiresAt set to its access token's expiry. A ticket works once
// (GETDEL): an unknown, used or expired ticket, or one whose access token has
// expired since, is EUNAUTHENTICATED.
func (b *Bus) RedeemTicket(ctx context.Context, ticket string) (emporium.Principal, error) {
	const op = "live.Bus.RedeemTicket"
	if !wellFormedTicket(ticket) {
		return emporium.Principal{}, &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: errBadTicket.Message, Op: op + ": malformed ticket"}
	}
	raw, err := b.tickets().Take(ctx, auth.TokenTicket, auth.HashToken(ticket))
	if errors.Is(err, auth.ErrNoToken) {
		return emporium.Principal{}, &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: errBadTicket.Message, Op: op}
	}
	if err != nil {
		return emporium.Principal{}, emporium.Wrap(op, err)
	}
	var rec ticketRecord
	if err := json.Unmarshal(raw, &rec); err != nil || rec.UserID == "" {
		return emporium.Principal{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op + ": unreadable ticket record", Err: err}
	}
	expiresAt := time.UnixMilli(rec.ExpiresAt).UTC()
	if !b.now().Before(expiresAt) {
		return emporium.Principal{}, &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: errTicketTokenExpired.Message, Op: op}
	}
	return emporium.Principal{UserID: rec.UserID, SessionID: rec.SessionID, Roles: slices.Clone(rec.Roles), ExpiresAt: expiresAt}, nil
}

// wellFormedTicket reports whether s could be a ticket IssueTicket made, so
// that garbage costs no Redis call.
func wellFormedTicket(s string) bool {
	if len(s) != ticketLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
