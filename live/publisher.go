package live

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	emporium "github.com/emporium-shop/emporium"
)

// Defaults of PublisherOptions.
const (
	// DefaultQueue is how many events a Publisher holds for Redis. A grain
	// publishes one per durable change; a thousand is seconds of a busy
	// node's changes, and a Redis outage longer than that loses only hints.
	DefaultQueue = 8192
	// DefaultDrainTimeout bounds how long Close spends publishing what is
	// still queued.
	DefaultDrainTimeout = time.Second
)

// maxBatch is how many queued events the Publisher sends to Redis in one
// pipeline: one round trip for a burst instead of one per event, which is
// what keeps the queue from overflowing while a busy node changes hundreds of
// orders a second.
const maxBatch = 256

// warnInterval is how often a Publisher logs that it cannot publish: every
// event would log otherwise, flooding the log during an outage.
const warnInterval = 10 * time.Second

// PublisherOptions tune a Publisher. The zero value takes the defaults.
type PublisherOptions struct {
	// Queue is how many events wait for Redis before new ones are
	// dropped. Zero means DefaultQueue.
	Queue int
	// DrainTimeout bounds how long Close publishes what is queued. Zero
	// means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Logger receives the warning that events are being dropped. Nil
	// discards it.
	Logger *slog.Logger
}

// Publisher publishes live events for grains without ever making them wait:
// Publish queues the event and returns, and one goroutine sends the queue to
// Redis. When the queue is full (Redis is slow or down) the event is dropped
// and counted. That loses nothing that matters: pushes are hints, and a
// client heals on reconnect, when it is sent the current state.
//
// Grains must not import the gateway (DESIGN §3): they take an interface of
// their own with the method Publish(userID string, ev emporium.LiveEvent),
// which a *Publisher satisfies.
type Publisher struct {
	bus   *Bus
	log   *slog.Logger
	drain time.Duration

	// mu guards closed and sends on queue against its closing; sends
	// never block, so it is never held for long.
	mu     sync.RWMutex
	closed bool
	queue  chan queued

	// ctx is cancelled DrainTimeout after Close, abandoning what is left.
	ctx     context.Context
	cancel  context.CancelFunc
	stopped chan struct{}

	published atomic.Uint64
	dropped   atomic.Uint64
	failed    atomic.Uint64
	lastWarn  atomic.Int64
}

// queued is an event waiting for Redis, already encoded: the grain's data
// may change once Publish returns.
type queued struct {
	channel string
	payload []byte
}

// NewPublisher returns a running Publisher over bus. Close stops it.
func NewPublisher(bus *Bus, opts PublisherOptions) *Publisher {
	size := opts.Queue
	if size <= 0 {
		size = DefaultQueue
	}
	p := &Publisher{
		bus:     bus,
		log:     opts.Logger,
		drain:   opts.DrainTimeout,
		queue:   make(chan queued, size),
		stopped: make(chan struct{}),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.drain <= 0 {
		p.drain = DefaultDrainTimeout
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.run()
	return p
}

// Publish queues ev for the user's live connections and returns at once. An
// event that cannot be queued (the queue is full, the Publisher is closed,
// the event is invalid) is dropped and counted.
func (p *Publisher) Publish(userID string, ev emporium.LiveEvent) {
	payload, err := encode(userID, ev)
	if err != nil {
		p.dropped.Add(1)
		p.log.Error("live: dropped an event that cannot be published", slog.String("type", ev.Type), slog.Any("error", err))
		return
	}
	item := queued{channel: p.bus.UserChannel(userID), payload: payload}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.dropped.Add(1)
		return
	}
	select {
	case p.queue <- item:
	default:
		p.dropped.Add(1)
		p.warn("live: the publish queue is full; dropping events (clients heal on reconnect)", nil)
	}
}

// run sends the queue to Redis until Close, in batches of what has queued
// up while the last batch was sent.
func (p *Publisher) run() {
	defer close(p.stopped)
	batch := make([]queued, 0, maxBatch)
	for item := range p.queue {
		batch = append(batch[:0], item)
	fill:
		for len(batch) < maxBatch {
			select {
			case item, ok := <-p.queue:
				if !ok {
					break fill
				}
				batch = append(batch, item)
			default:
				break fill
			}
		}
		p.send(batch)
	}
}

// send publishes batch in one pipeline and counts the outcome.
func (p *Publisher) send(batch []queued) {
	n := uint64(len(batch))
	if p.ctx.Err() != nil {
		// Close gave up on the rest of the queue.
		p.failed.Add(n)
		return
	}
	if err := p.bus.publishAll(p.ctx, "live.Publisher", batch); err != nil {
		p.failed.Add(n)
		p.warn("live: cannot publish to Redis; dropping events (clients heal on reconnect)", err)
		return
	}
	p.published.Add(n)
}

// warn logs msg at most once per warnInterval.
func (p *Publisher) warn(msg string, err error) {
	now := time.Now().UnixNano()
	last := p.lastWarn.Load()
	if now-last < int64(warnInterval) || !p.lastWarn.CompareAndSwap(last, now) {
		return
	}
	attrs := []any{slog.Uint64("dropped", p.dropped.Load()), slog.Uint64("failed", p.failed.Load())}
	if err != nil {
		attrs = append(attrs, slog.Any("error", err))
	}
	p.log.Warn(msg, attrs...)
}

// Close stops taking events, publishes those still queued for up to
// DrainTimeout, and returns when the Publisher's goroutine has ended: after
// at most DrainTimeout and the one Redis call under way then. What could not
// be published by then is counted as failed. Publish may still be
// called after Close; it drops the event.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.stopped
		return nil
	}
	p.closed = true
	close(p.queue)
	p.mu.Unlock()

	t := time.AfterFunc(p.drain, p.cancel)
	<-p.stopped
	t.Stop()
	p.cancel()
	return nil
}

// PublisherStats are a Publisher's counts, for metrics and tests.
type PublisherStats struct {
	// Published counts the events Redis took; Dropped those never queued
	// (queue full, closed, invalid); Failed those Redis refused or that
	// were abandoned at Close.
	Published, Dropped, Failed uint64
	// Queued is how many events wait now.
	Queued int
}

// Stats answers the Publisher's counts now.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{
		Published: p.published.Load(),
		Dropped:   p.dropped.Load(),
		Failed:    p.failed.Load(),
		Queued:    len(p.queue),
	}
}
