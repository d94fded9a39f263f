// Package live carries live updates from grains to websockets (DESIGN §4
// "Live updates", §7, §9).
//
// The journal is the truth; pushes are hints a client can always heal. A
// grain whose change is durable publishes a LiveEvent on the Redis channel of
// the user it concerns (Bus.Publish, or Publisher, which never blocks the
// grain). Every gateway node runs one Hub: it holds one Redis subscription,
// subscribed to the channels of exactly the users connected to that node, and
// hands each message to every connection of the user. A connection that falls
// behind is dropped rather than waited for, so nothing a client does can
// stall the hub, another client or a grain; the client reconnects and is sent
// the current state.
//
// Browsers open their connection with a one-time ticket (IssueTicket,
// RedeemTicket): a websocket cannot carry an Authorization header, and an
// access token in a URL would end up in logs and histories.
package live

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/auth"
)

// DefaultTimeout bounds each Redis call of a Bus whose Timeout is zero. Redis
// answers in well under a millisecond; a call this slow means an outage, and
// a push is a hint that is better dropped than waited for.
const DefaultTimeout = 2 * time.Second

// Bus is the Redis side of live updates: the pub/sub channels of users and
// the one-time websocket tickets. The zero value is not usable: Client must
// be set. Its fields must not change once it is in use; a Bus is safe for
// concurrent use.
type Bus struct {
	// Client is the Redis the channels and tickets live in.
	Client *redis.Client
	// Prefix starts every channel and key, so several deployments (or
	// tests) can share one Redis, e.g. "emporium:".
	Prefix string
	// Now returns the current time, to judge a ticket's access-token
	// expiry. Nil means time.Now. The tickets' own 30 s lifetime is Redis's
	// TTL, on the Redis server's clock.
	Now func() time.Time
	// Timeout bounds each Redis call. Zero means DefaultTimeout.
	Timeout time.Duration
	// Tickets is the one-time token store the websocket tickets live in,
	// the node's one store (DESIGN §7). Nil means one over Client and
	// Prefix with Timeout, which keeps the same keys.
	Tickets *auth.OneTime
}

// New returns a Bus over client whose channels and keys start with prefix.
func New(client *redis.Client, prefix string) *Bus {
	return &Bus{Client: client, Prefix: prefix}
}

// UserChannel is the Redis channel of a user's live events.
func (b *Bus) UserChannel(userID string) string {
	return b.Prefix + "live:user:" + userID
}

func (b *Bus) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Bus) timeout() time.Duration {
	if b.Timeout > 0 {
		return b.Timeout
	}
	return DefaultTimeout
}

// Publish sends ev to every live connection of the user, on every node, as
// JSON {type, id, seq, data}. It returns once Redis took the message, which
// says nothing of whether anyone was listening: pushes are at most once.
// Grains call it through a Publisher, which never blocks them.
func (b *Bus) Publish(ctx context.Context, userID string, ev emporium.LiveEvent) error {
	const op = "live.Bus.Publish"
	payload, err := encode(userID, ev)
	if err != nil {
		return &emporium.Error{Code: emporium.EINTERNAL, Op: op, Err: err}
	}
	return b.publish(ctx, op, b.UserChannel(userID), payload)
}

// publish sends an encoded event on channel.
func (b *Bus) publish(ctx context.Context, op, channel string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout())
	defer cancel()
	if err := b.Client.Publish(ctx, channel, payload).Err(); err != nil {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: err}
	}
	return nil
}

// publishAll sends encoded events in one pipeline: one round trip for all.
func (b *Bus) publishAll(ctx context.Context, op string, items []queued) error {
	if len(items) == 1 {
		return b.publish(ctx, op, items[0].channel, items[0].payload)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout())
	defer cancel()
	_, err := b.Client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, it := range items {
			pipe.Publish(ctx, it.channel, it.payload)
		}
		return nil
	})
	if err != nil {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: err}
	}
	return nil
}

// errNoUser and errNoType are what encode refuses: an event for nobody, or
// of no type, is a bug of its publisher.
var (
	errNoUser = emporium.Errorf(emporium.EINTERNAL, "a live event needs the id of the user it goes to")
	errNoType = emporium.Errorf(emporium.EINTERNAL, "a live event needs a type")
)

// encode checks ev and renders it as the message a client receives.
func encode(userID string, ev emporium.LiveEvent) ([]byte, error) {
	if userID == "" {
		return nil, errNoUser
	}
	if ev.Type == "" {
		return nil, errNoType
	}
	return json.Marshal(ev)
}

// wireEvent is a LiveEvent as it travels, with its data left encoded: the
// hub checks a message's shape without decoding what it carries.
type wireEvent struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Seq  uint64          `json:"seq"`
	Data json.RawMessage `json:"data,omitempty"`
}

// wellFormed reports whether payload is a LiveEvent: a JSON object with a
// type. Anything else on a user's channel is not ours to forward.
func wellFormed(payload []byte) bool {
	var ev wireEvent
	return json.Unmarshal(payload, &ev) == nil && ev.Type != ""
}
