package persistence

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	emporium "github.com/emporium-shop/emporium"
)

// Backoff between attempts while projection writes fail.
const (
	minRetryBackoff = 50 * time.Millisecond
	maxRetryBackoff = 5 * time.Second
)

// Projections writes read-model documents after the events they derive from
// are durable. Put only queues a document; a background writer stores the
// queue in batches, and for each (collection, id) the document with the
// highest seq wins, in the queue and in the store, whatever order the Puts
// came in.
//
// A stored projection is the BSON encoding of the caller's value plus _id
// and seq. A failed write is logged at Warn and retried, with backoff, until
// it succeeds or the store is closed; a projection is never dropped silently
// while the process lives. Since projections are rebuilt from the journal,
// one lost to a crash costs only staleness until the grain projects again.
type Projections struct {
	store    *Store
	linger   time.Duration
	maxBatch int
	timeout  time.Duration
	// write stores a batch and returns the projections to try again with
	// the error that kept them. Tests replace it to inject failures.
	write func(ctx context.Context, batch []*projection) (retry []*projection, err error)

	mu       sync.Mutex
	pending  map[projectionKey]*projection
	inflight []*projection
	gen      uint64 // counts Puts; see projection.gen
	flushers int    // Flush and Close calls waiting; the writer skips lingering
	closing  bool
	halted   bool
	lastErr  error
	round    chan struct{} // closed and replaced after every write attempt

	wake    chan struct{}
	halt    chan struct{} // closed when the writer must give up
	stopped chan struct{} // closed when the writer has returned

	// serial is held, on FerretDB, by the writer while it writes a batch and
	// by SetMark, whose read-check-write sequences must not interleave.
	serial chan struct{}
}

type projectionKey struct{ collection, id string }

// projection is one queued read-model document.
type projection struct {
	key projectionKey
	seq uint64
	doc any // the stored form, see storedDocument
	// gen is the number of the earliest Put this entry answers for: when a
	// newer document replaces a queued one, writing it settles both Puts.
	gen uint64
}

func newProjections(s *Store, gc GroupCommit) *Projections {
	p := &Projections{
		store:    s,
		linger:   gc.Linger,
		maxBatch: gc.MaxBatch,
		timeout:  gc.WriteTimeout,
		pending:  map[projectionKey]*projection{},
		round:    make(chan struct{}),
		wake:     make(chan struct{}, 1),
		halt:     make(chan struct{}),
		stopped:  make(chan struct{}),
		serial:   make(chan struct{}, 1),
	}
	p.write = p.writeBatch
	go p.run()
	return p
}

// Put queues doc as the projection at seq of the document id in collection
// and returns at once. A queued or stored document with the same or a
// higher seq wins over it. doc is encoded before Put returns, so the caller
// may change it afterwards. A doc that cannot be encoded, or a Put after
// Close, is logged at Error and dropped: both are bugs in the caller.
func (p *Projections) Put(collection, id string, seq uint64, doc any) {
	log := p.store.log.With("collection", collection, "id", id, "seq", seq)
	if collection == "" || id == "" || seq > math.MaxInt64 {
		log.Error("persistence: projection dropped: it needs a collection, an id and a seq up to 2^63-1")
		return
	}
	stored, err := storedDocument(doc, id, "seq", int64(seq))
	if err != nil {
		log.Error("persistence: projection dropped: it cannot be encoded", "error", err)
		return
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		log.Error("persistence: projection dropped: the store is closed")
		return
	}
	p.gen++
	p.merge(&projection{key: projectionKey{collection, id}, seq: seq, doc: stored, gen: p.gen})
	p.mu.Unlock()
	p.nudge()
}

// merge queues n unless a queued document for the same key has the same or
// a higher seq; either way the queued entry answers for n's Put too.
// p.mu must be held.
func (p *Projections) merge(n *projection) {
	if old, ok := p.pending[n.key]; ok {
		if old.seq >= n.seq {
			old.gen = min(old.gen, n.gen)
			return
		}
		n.gen = min(n.gen, old.gen)
	}
	p.pending[n.key] = n
}

func (p *Projections) nudge() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Flush waits until every projection queued before the call is stored (or
// superseded by a newer one that is stored). While writes fail it keeps
// waiting, as the writer keeps retrying; when ctx ends first it returns
// EUNAVAILABLE with the last write error, and the projections stay queued.
func (p *Projections) Flush(ctx context.Context) error {
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
func (p *Projections) awaitSettled(ctx context.Context, op string, target uint64) error {
	for {
		p.mu.Lock()
		settled := p.settled(target)
		round, lastErr, halted := p.round, p.lastErr, p.halted
		p.mu.Unlock()
		switch {
		case settled:
			return nil
		case halted:
			return closedError(op)
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
func (p *Projections) settled(target uint64) bool {
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
func (p *Projections) run() {
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
		p.store.log.Warn("persistence: projection write failed; retrying",
			"documents", len(retry), "retry_in", backoff, "error", err)
		if !p.pause(backoff) {
			return
		}
	}
}

// awaitWork waits until something is queued; it reports false once the
// writer must stop.
func (p *Projections) awaitWork() bool {
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
func (p *Projections) awaitBatch() {
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
func (p *Projections) take() []*projection {
	p.mu.Lock()
	defer p.mu.Unlock()
	batch := make([]*projection, 0, len(p.pending))
	for _, q := range p.pending {
		batch = append(batch, q)
	}
	if len(batch) > p.maxBatch {
		// Oldest first, so that a Flush is never overtaken forever.
		slices.SortFunc(batch, func(a, b *projection) int { return cmp.Compare(a.gen, b.gen) })
		batch = batch[:p.maxBatch]
	}
	for _, q := range batch {
		delete(p.pending, q.key)
	}
	p.inflight = batch
	return batch
}

// finish ends a write attempt: what failed is queued again unless a newer
// document has been queued meanwhile, and waiters are told.
func (p *Projections) finish(retry []*projection, err error) {
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
func (p *Projections) pause(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-p.halt:
		return false
	}
}

// close refuses new projections, waits until the queue is written or ctx
// ends, and then halts the writer. Projections still queued at that point
// are lost with the process; close logs how many at Error.
func (p *Projections) close(ctx context.Context) error {
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
		p.store.log.Error("persistence: projections not written before close", "documents", lost, "error", err)
	}
	return err
}

// wait returns once the writer has returned. Call it only after close.
func (p *Projections) wait() { <-p.stopped }
