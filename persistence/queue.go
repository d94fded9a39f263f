package persistence

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	emporium "github.com/emporium-shop/emporium"
)

// Backoff between attempts while projection writes fail.
const (
	minRetryBackoff = 50 * time.Millisecond
	maxRetryBackoff = 5 * time.Second
)

// ProjectionQueue is the write side of Projections that both backends
// share: Put only queues a document; a background writer stores the queue
// in batches through the backend's write function, and for each
// (collection, id) the queued document with the highest seq wins, whatever
// order the Puts came in. The backend makes the same rule hold in the store.
//
// A failed write is logged at Warn and retried, with backoff, until it
// succeeds or the queue is closed; a projection is never dropped silently
// while the process lives.
type ProjectionQueue struct {
	log      *slog.Logger
	linger   time.Duration
	maxBatch int
	timeout  time.Duration
	// write stores a batch and returns the projections to try again with
	// the error that kept them.
	write WriteProjections

	mu       sync.Mutex
	pending  map[projectionKey]*Projection
	inflight []*Projection
	gen      uint64 // counts Puts; see Projection.gen
	flushers int    // Flush and Close calls waiting; the writer skips lingering
	closing  bool
	halted   bool
	lastErr  error
	round    chan struct{} // closed and replaced after every write attempt

	wake    chan struct{}
	halt    chan struct{} // closed when the writer must give up
	stopped chan struct{} // closed when the writer has returned
}

// WriteProjections stores a batch of projections, each unless the store
// holds the same document at the same or a higher seq, and returns those to
// try again with the error that kept them.
type WriteProjections func(ctx context.Context, batch []*Projection) (retry []*Projection, err error)

type projectionKey struct{ collection, id string }

// Projection is one queued read-model document.
type Projection struct {
	Collection string
	ID         string
	Seq        uint64
	// Doc is the stored form: the caller's value with _id and seq set (see
	// EncodeDocument).
	Doc bson.Raw

	// gen is the number of the earliest Put this entry answers for: when a
	// newer document replaces a queued one, writing it settles both Puts.
	gen uint64
}

func (q *Projection) key() projectionKey { return projectionKey{q.Collection, q.ID} }

// NewProjectionQueue starts the writer of a queue that stores batches with
// write. gc's zero fields take their defaults; log receives the writer's
// warnings.
func NewProjectionQueue(log *slog.Logger, gc GroupCommit, write WriteProjections) *ProjectionQueue {
	gc = gc.WithDefaults()
	p := &ProjectionQueue{
		log:      log,
		linger:   gc.Linger,
		maxBatch: gc.MaxBatch,
		timeout:  gc.WriteTimeout,
		pending:  map[projectionKey]*Projection{},
		round:    make(chan struct{}),
		wake:     make(chan struct{}, 1),
		halt:     make(chan struct{}),
		stopped:  make(chan struct{}),
		write:    write,
	}
	go p.run()
	return p
}

// Put implements Projections.Put.
func (p *ProjectionQueue) Put(collection, id string, seq uint64, doc any) {
	n := p.encode(collection, id, seq, doc)
	if n == nil {
		return
	}
	p.queue(n)
}

// PutNow stores doc as the projection at seq of the document id in
// collection before it returns, past the queue: for the one document a
// caller must know stored before it answers (an order's first read model,
// which the recovery loop finds it by). The store's rule holds as for Put:
// a stored document with the same or a higher seq stays. When the write
// fails, the document is queued as by Put, and the error returned.
func (p *ProjectionQueue) PutNow(ctx context.Context, collection, id string, seq uint64, doc any) error {
	const op = "persistence.Projections.PutNow"
	n := p.encode(collection, id, seq, doc)
	if n == nil {
		return emporium.Errorf(emporium.EINTERNAL, "%s: the projection cannot be stored (logged)", op)
	}
	if _, err := p.write(ctx, []*Projection{n}); err != nil {
		p.queue(n)
		return emporium.Wrap(op, err)
	}
	return nil
}

// encode checks and encodes a projection; it logs at Error and answers nil
// for one that must be dropped.
func (p *ProjectionQueue) encode(collection, id string, seq uint64, doc any) *Projection {
	log := p.log.With("collection", collection, "id", id, "seq", seq)
	if collection == "" || id == "" || seq > math.MaxInt64 {
		log.Error("persistence: projection dropped: it needs a collection, an id and a seq up to 2^63-1")
		return nil
	}
	stored, err := EncodeDocument(doc, id, "seq", int64(seq))
	if err != nil {
		log.Error("persistence: projection dropped: it cannot be encoded", "error", err)
		return nil
	}
	return &Projection{Collection: collection, ID: id, Seq: seq, Doc: stored}
}

// queue adds n to the queue and wakes the writer.
func (p *ProjectionQueue) queue(n *Projection) {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		p.log.Error("persistence: projection dropped: the store is closed", "collection", n.Collection, "id", n.ID, "seq", n.Seq)
		return
	}
	p.gen++
	n.gen = p.gen
	p.merge(n)
	p.mu.Unlock()
	p.nudge()
}

// merge queues n unless a queued document for the same key has the same or
// a higher seq; either way the queued entry answers for n's Put too.
// p.mu must be held.
func (p *ProjectionQueue) merge(n *Projection) {
	if old, ok := p.pending[n.key()]; ok {
		if old.Seq >= n.Seq {
			old.gen = min(old.gen, n.gen)
			return
		}
		n.gen = min(n.gen, old.gen)
	}
	p.pending[n.key()] = n
}

func (p *ProjectionQueue) nudge() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Flush implements Projections.Flush. While writes fail it keeps waiting,
// as the writer keeps retrying; when ctx ends first it returns EUNAVAILABLE
// with the last write error, and the projections stay queued.
func (p *ProjectionQueue) Flush(ctx context.Context) error {
	const op = "persistence.Projections.Flush"
	p.mu.Lock()
	target := p.gen
	p.flushers++
	p.mu.Unlock()
	p.nudge()
	defer func() {
		p.mu.Lock()
		p.flushers--
		p.mu.Unlock()
	}()
	return p.awaitSettled(ctx, op, target)
}

// awaitSettled waits until no queued or in-flight entry answers for a Put
// numbered target or lower.
func (p *ProjectionQueue) awaitSettled(ctx context.Context, op string, target uint64) error {
	for {
		p.mu.Lock()
		settled := p.settled(target)
		round, lastErr, halted := p.round, p.lastErr, p.halted
		p.mu.Unlock()
		switch {
		case settled:
			return nil
		case halted:
			return Closed(op)
		}
		select {
		case <-round:
		case <-ctx.Done():
			return &emporium.Error{
				Code:    emporium.EUNAVAILABLE,
				Message: "projections are not all written yet; they stay queued and are retried",
				Op:      op,
				Err:     errors.Join(ctx.Err(), lastErr),
			}
		}
	}
}

// settled reports whether every Put up to target is stored. p.mu must be
// held.
func (p *ProjectionQueue) settled(target uint64) bool {
	for _, q := range p.pending {
		if q.gen <= target {
			return false
		}
	}
	for _, q := range p.inflight {
		if q.gen <= target {
			return false
		}
	}
	return true
}

// run is the writer: it takes batches off the queue and writes them until
// the projections are closed and drained, or halted.
func (p *ProjectionQueue) run() {
	defer close(p.stopped)
	var backoff time.Duration
	for p.awaitWork() {
		p.awaitBatch()
		batch := p.take()
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		retry, err := p.write(ctx, batch)
		cancel()
		p.finish(retry, err)
		if err == nil {
			backoff = 0
			continue
		}
		backoff = min(max(2*backoff, minRetryBackoff), maxRetryBackoff)
		p.log.Warn("persistence: projection write failed; retrying",
			"documents", len(retry), "retry_in", backoff, "error", err)
		if !p.pause(backoff) {
			return
		}
	}
}

// awaitWork waits until something is queued; it reports false once the
// writer must stop.
func (p *ProjectionQueue) awaitWork() bool {
	for {
		p.mu.Lock()
		n, closing, halted := len(p.pending), p.closing, p.halted
		p.mu.Unlock()
		switch {
		case halted:
			return false
		case n > 0:
			return true
		case closing:
			return false
		}
		select {
		case <-p.wake:
		case <-p.halt:
		}
	}
}

// awaitBatch lingers for more projections unless the batch is full or
// someone waits for the queue to be written.
func (p *ProjectionQueue) awaitBatch() {
	if p.linger <= 0 {
		return
	}
	timer := time.NewTimer(p.linger)
	defer timer.Stop()
	for {
		p.mu.Lock()
		ready := len(p.pending) >= p.maxBatch || p.flushers > 0 || p.closing || p.halted
		p.mu.Unlock()
		if ready {
			return
		}
		select {
		case <-p.wake:
		case <-timer.C:
			return
		case <-p.halt:
			return
		}
	}
}

// take moves the oldest queued projections, up to a batch, in flight.
func (p *ProjectionQueue) take() []*Projection {
	p.mu.Lock()
	defer p.mu.Unlock()
	batch := make([]*Projection, 0, len(p.pending))
	for _, q := range p.pending {
		batch = append(batch, q)
	}
	if len(batch) > p.maxBatch {
		// Oldest first, so that a Flush is never overtaken forever.
		slices.SortFunc(batch, func(a, b *Projection) int { return cmp.Compare(a.gen, b.gen) })
		batch = batch[:p.maxBatch]
	}
	for _, q := range batch {
		delete(p.pending, q.key())
	}
	p.inflight = batch
	return batch
}

// finish ends a write attempt: what failed is queued again unless a newer
// document has been queued meanwhile, and waiters are told.
func (p *ProjectionQueue) finish(retry []*Projection, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight = nil
	for _, q := range retry {
		p.merge(q)
	}
	p.lastErr = err
	close(p.round)
	p.round = make(chan struct{})
}

// pause waits d, or reports false if the writer is halted meanwhile.
func (p *ProjectionQueue) pause(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-p.halt:
		return false
	}
}

// Close refuses new projections, waits until the queue is written or ctx
// ends, and then halts the writer. Projections still queued at that point
// are lost with the process; close logs how many at Error.
func (p *ProjectionQueue) Close(ctx context.Context) error {
	const op = "persistence.Store.Close"
	p.mu.Lock()
	p.closing = true
	target := p.gen
	p.flushers++
	p.mu.Unlock()
	p.nudge()

	err := p.awaitSettled(ctx, op, target)
	p.mu.Lock()
	lost := len(p.pending) + len(p.inflight)
	if !p.halted {
		p.halted = true
		close(p.halt)
	}
	p.mu.Unlock()
	if err != nil {
		p.log.Error("persistence: projections not written before close", "documents", lost, "error", err)
	}
	return err
}

// Wait returns once the writer has returned. Call it only after Close.
func (p *ProjectionQueue) Wait() { <-p.stopped }
