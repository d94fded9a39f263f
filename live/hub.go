package live

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	emporium "github.com/emporium-shop/emporium"
)

// DefaultBuffer is how many messages a Subscription may hold before the hub
// drops it. A connection that is that far behind is better reconnected and
// sent the current state than caught up message by message.
const DefaultBuffer = 32

// Why the hub ends a subscription; Subscription.Err answers one of them.
var (
	// ErrSlow: the subscription fell Buffer messages behind.
	ErrSlow = emporium.Errorf(emporium.EUNAVAILABLE, "The live connection fell too far behind; reconnect to get the current state.")
	// ErrHubClosed: the node is shutting down.
	ErrHubClosed = emporium.Errorf(emporium.EUNAVAILABLE, "This node is shutting down; reconnect to another.")
	// ErrClosed: the subscription's owner closed it.
	ErrClosed = emporium.Errorf(emporium.EUNAVAILABLE, "The subscription was closed.")
)

// HubOptions tune a Hub. The zero value takes the defaults.
type HubOptions struct {
	// Buffer is how many messages each subscription holds before it is
	// dropped. Zero means DefaultBuffer.
	Buffer int
	// Logger receives what goes wrong with Redis. Nil discards it.
	Logger *slog.Logger
}

// Hub fans a node's share of live events out to its connections: one Redis
// subscription for the node, subscribed to a user's channel while the user
// has at least one connection here, and each message copied to every
// connection of that user. Delivery never waits for a connection: one that
// is Buffer messages behind is dropped (ErrSlow), as WTF Dial's hub drops
// slow subscribers.
//
// When go-redis loses its connection it reconnects and subscribes again; the
// hub tells each connection of a user whose channel came back (Resync),
// since what was published meanwhile is lost.
type Hub struct {
	bus    *Bus
	ps     *redis.PubSub
	buffer int
	log    *slog.Logger

	// mu guards the state below. Nothing holds it while talking to Redis,
	// so delivery never waits on a command.
	mu     sync.Mutex
	topics map[string]*topic
	closed bool
	// commands are the SUBSCRIBE and UNSUBSCRIBE commands to send, in the
	// order the state changes that call for them were made; one goroutine
	// sends them, so Redis sees them in that order too.
	commands []command
	wake     chan struct{}

	quit    chan struct{}
	stopped sync.WaitGroup

	delivered atomic.Uint64
	slow      atomic.Uint64
	malformed atomic.Uint64
	resyncs   atomic.Uint64
	failed    atomic.Uint64
	lastWarn  atomic.Int64
}

// topic is the hub's state of one user's channel.
type topic struct {
	subs map[*Subscription]struct{}
	// subscribed is whether the hub last decided to subscribe the channel
	// (rather than to unsubscribe it).
	subscribed bool
	// attempt is the current subscription's progress: confirmed by Redis,
	// or failed.
	attempt *attempt
	// inflight counts the SUBSCRIBE and UNSUBSCRIBE commands decided and
	// not yet confirmed. Redis confirms in order, so a confirmation that
	// leaves some in flight answers a command a later one overrides.
	inflight int
}

// attempt is one decision to subscribe a channel. Register waits for its
// outcome: ready is closed when Redis confirms, failed when the command
// could not be sent (err says why).
type attempt struct {
	ready, failed       chan struct{}
	confirmed, hasError bool
	err                 error
}

func newAttempt() *attempt {
	return &attempt{ready: make(chan struct{}), failed: make(chan struct{})}
}

// command is a SUBSCRIBE (or UNSUBSCRIBE) of a channel to send.
type command struct {
	subscribe bool
	channel   string
	topic     *topic
	attempt   *attempt
}

// NewHub returns a running Hub over bus's Redis. Close stops it.
func NewHub(bus *Bus, opts HubOptions) *Hub {
	h := &Hub{
		bus:    bus,
		buffer: opts.Buffer,
		log:    opts.Logger,
		topics: make(map[string]*topic),
		wake:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
	}
	if h.buffer <= 0 {
		h.buffer = DefaultBuffer
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	// One PubSub, subscribed to nothing yet; go-redis dials it lazily and
	// redials it, subscribing its channels again, whenever it breaks.
	h.ps = bus.Client.Subscribe(context.Background())
	msgs := h.ps.ChannelWithSubscriptions(redis.WithChannelSize(256))
	h.stopped.Add(2)
	go h.run(msgs)
	go h.sendCommands()
	return h
}

// run reads the subscription until the hub closes.
func (h *Hub) run(msgs <-chan any) {
	defer h.stopped.Done()
	for m := range msgs {
		switch m := m.(type) {
		case *redis.Subscription:
			h.confirm(m)
		case *redis.Message:
			h.deliver(m)
		}
	}
}

// confirm takes Redis's confirmation of a SUBSCRIBE or UNSUBSCRIBE.
func (h *Hub) confirm(m *redis.Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[m.Channel]
	if t == nil {
		return
	}
	if t.inflight > 0 {
		t.inflight--
	}
	switch m.Kind {
	case "subscribe":
		if t.inflight > 0 || !t.subscribed {
			return
		}
		if a := t.attempt; !a.confirmed {
			a.confirmed = true
			close(a.ready)
			return
		}
		// Redis confirmed a subscription the hub already had: go-redis
		// subscribed again on a new connection, and whatever was published
		// in between is lost.
		for s := range t.subs {
			select {
			case s.resync <- struct{}{}:
			default:
			}
		}
		h.resyncs.Add(1)
	case "unsubscribe":
		h.forgetIdle(m.Channel, t)
	}
}

// deliver hands a message to every subscription of its channel, dropping
// those that have no room for it.
func (h *Hub) deliver(m *redis.Message) {
	payload := []byte(m.Payload)
	if !wellFormed(payload) {
		h.malformed.Add(1)
		h.log.Debug("live: dropped a message that is not a live event", slog.String("channel", m.Channel))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[m.Channel]
	if t == nil {
		return
	}
	for s := range t.subs {
		if s.ended {
			continue
		}
		select {
		case s.msgs <- payload:
			h.delivered.Add(1)
		default:
			s.end(ErrSlow)
			h.slow.Add(1)
		}
	}
}

// forgetIdle drops the topic of channel once nothing needs it: no
// subscription, not subscribed, and no confirmation awaited. Called with
// h.mu held.
func (h *Hub) forgetIdle(channel string, t *topic) {
	if len(t.subs) == 0 && !t.subscribed && t.inflight == 0 && h.topics[channel] == t {
		delete(h.topics, channel)
	}
}

// enqueue queues a command for sendCommands. Called with h.mu held, so
// commands queue in the order of the decisions that made them.
func (h *Hub) enqueue(c command) {
	c.topic.inflight++
	h.commands = append(h.commands, c)
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// sendCommands sends the queued commands to Redis, one at a time and in
// order, until the hub closes.
func (h *Hub) sendCommands() {
	defer h.stopped.Done()
	for {
		select {
		case <-h.wake:
		case <-h.quit:
			return
		}
		for {
			h.mu.Lock()
			if len(h.commands) == 0 || h.closed {
				h.mu.Unlock()
				break
			}
			c := h.commands[0]
			h.commands = h.commands[1:]
			h.mu.Unlock()
			h.send(c)
		}
	}
}

// send sends one command. When it cannot be sent no confirmation will
// come: go-redis reconnected without it (it adds a channel to those it
// re-subscribes only after the command, and drops one before). A failed
// SUBSCRIBE fails the Register calls waiting for it; they unsubscribe as
// they leave, which also takes the channel off go-redis's list.
func (h *Hub) send(c command) {
	ctx, cancel := context.WithTimeout(context.Background(), h.bus.timeout())
	defer cancel()
	var err error
	if c.subscribe {
		err = h.ps.Subscribe(ctx, c.channel)
	} else {
		err = h.ps.Unsubscribe(ctx, c.channel)
	}
	if err == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c.topic.inflight = max(c.topic.inflight-1, 0)
	if c.subscribe && !c.attempt.confirmed && !c.attempt.hasError {
		c.attempt.hasError, c.attempt.err = true, err
		close(c.attempt.failed)
	}
	h.forgetIdle(c.channel, c.topic)
	h.failed.Add(1)
	// Every connection attempt fails while Redis is down: warn at most
	// once per warnInterval.
	now := time.Now().UnixNano()
	if last := h.lastWarn.Load(); !h.closed && now-last >= int64(warnInterval) && h.lastWarn.CompareAndSwap(last, now) {
		h.log.Warn("live: Redis refused a subscription command; live connections fail until it is back",
			slog.Uint64("failed", h.failed.Load()), slog.Any("error", err))
	}
}

// Register subscribes to the user's live events on this node. It returns
// once Redis confirmed the subscription, so that nothing published after
// Register returns is missed: a caller that reads the current state after
// Register and then forwards Messages has a gapless picture. It fails with
// EUNAVAILABLE when Redis cannot be reached or does not confirm before ctx
// is done, or when the hub is closed.
//
// The caller must Close the subscription when its connection ends.
func (h *Hub) Register(ctx context.Context, userID string) (*Subscription, error) {
	const op = "live.Hub.Register"
	if userID == "" {
		return nil, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Err: errNoUser}
	}
	channel := h.bus.UserChannel(userID)
	s := &Subscription{
		hub:     h,
		userID:  userID,
		channel: channel,
		msgs:    make(chan []byte, h.buffer),
		resync:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: ErrHubClosed}
	}
	t := h.topics[channel]
	if t == nil {
		t = &topic{subs: make(map[*Subscription]struct{})}
		h.topics[channel] = t
	}
	t.subs[s] = struct{}{}
	if !t.subscribed {
		t.subscribed, t.attempt = true, newAttempt()
		h.enqueue(command{subscribe: true, channel: channel, topic: t, attempt: t.attempt})
	}
	a := t.attempt
	h.mu.Unlock()

	select {
	case <-a.ready:
		return s, nil
	case <-s.done:
		// Ended before it was handed out: the hub is closing, or a burst
		// filled its buffer already. The caller sees why on Done.
		return s, nil
	case <-a.failed:
		s.Close()
		return nil, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: a.err}
	case <-ctx.Done():
		h.mu.Lock()
		if !a.confirmed {
			// Confirmations this late are taken for lost (a connection
			// broke under them): the channel's next subscription must not
			// wait for them.
			t.inflight = 0
		}
		h.mu.Unlock()
		s.Close()
		return nil, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op + ": Redis did not confirm the subscription", Err: ctx.Err()}
	}
}

// unregister removes s, and unsubscribes its channel when s was the user's
// last subscription on this node. It does not wait for Redis.
func (h *Hub) unregister(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.end(ErrClosed)
	t := h.topics[s.channel]
	if t == nil {
		return
	}
	delete(t.subs, s)
	if len(t.subs) == 0 && t.subscribed && !h.closed {
		t.subscribed = false
		h.enqueue(command{subscribe: false, channel: s.channel, topic: t})
	}
	h.forgetIdle(s.channel, t)
}

// Close ends every subscription (ErrHubClosed) and the hub's Redis
// subscription. Register fails after it. It waits for the Redis side to
// let go for at most the Bus's Timeout: a hung Redis holds go-redis's
// connection for its own timeouts, which must not hold up a shutdown.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.commands = nil
	for _, t := range h.topics {
		for s := range t.subs {
			s.end(ErrHubClosed)
		}
	}
	h.mu.Unlock()
	close(h.quit)
	done := make(chan error, 1)
	go func() {
		err := h.ps.Close()
		h.stopped.Wait()
		done <- err
	}()
	t := time.NewTimer(h.bus.timeout())
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: "live.Hub.Close", Err: err}
		}
		return nil
	case <-t.C:
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: "live.Hub.Close", Err: errors.New("redis did not release the subscription in time")}
	}
}

// HubStats are a hub's counts, for metrics and tests.
type HubStats struct {
	// Users is how many users have a subscription on this node, and
	// Subscriptions how many subscriptions they have.
	Users, Subscriptions int
	// Delivered counts messages handed to subscriptions; Slow the
	// subscriptions dropped for falling behind; Malformed the messages on a
	// user's channel that were not live events; Resyncs the channels
	// subscribed again after Redis came back; Failed the SUBSCRIBE and
	// UNSUBSCRIBE commands Redis could not be sent.
	Delivered, Slow, Malformed, Resyncs, Failed uint64
}

// Stats answers the hub's counts now.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	st := HubStats{}
	for _, t := range h.topics {
		if len(t.subs) > 0 {
			st.Users++
			st.Subscriptions += len(t.subs)
		}
	}
	h.mu.Unlock()
	st.Delivered = h.delivered.Load()
	st.Slow = h.slow.Load()
	st.Malformed = h.malformed.Load()
	st.Resyncs = h.resyncs.Load()
	st.Failed = h.failed.Load()
	return st
}

// Subscription is one connection's feed of a user's live events.
type Subscription struct {
	hub     *Hub
	userID  string
	channel string
	msgs    chan []byte
	resync  chan struct{}
	done    chan struct{}

	// ended and err are guarded by hub.mu.
	ended bool
	err   error

	closeOnce sync.Once
}

// UserID is the user whose events the subscription receives.
func (s *Subscription) UserID() string { return s.userID }

// Messages delivers the user's events in the order Redis delivered them,
// each a JSON LiveEvent ready to send as it is. The slices are shared by
// every subscription of the user: read them, never change them. The channel
// is never closed; Done says when nothing more will come.
func (s *Subscription) Messages() <-chan []byte { return s.msgs }

// Resync receives a signal when events for the user may have been lost
// (Redis was reconnected): the receiver should send the current state again.
func (s *Subscription) Resync() <-chan struct{} { return s.resync }

// Done is closed when the subscription ended: it fell behind (ErrSlow), the
// hub closed (ErrHubClosed), or Close was called (ErrClosed). Err says which.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err answers why the subscription ended, or nil while it has not.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close ends the subscription and, if it was the user's last on this node,
// unsubscribes the user's channel. It may be called more than once.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() { s.hub.unregister(s) })
}

// end marks s ended with err, once. Called with hub.mu held.
func (s *Subscription) end(err error) {
	if s.ended {
		return
	}
	s.ended, s.err = true, err
	close(s.done)
}
