package persistence

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Committer coalesces documents submitted by concurrent callers into batched
// writes (group commit, DESIGN §5). A batch is written when it holds
// maxBatch documents or when linger has passed since it started, and at most
// cap(slots) batches are written at once; while every slot is busy, arriving
// documents queue up and the next batch leaves fuller. Each caller is
// answered with its own document's outcome once its batch is written.
type Committer struct {
	// write stores docs and returns one error per document, nil for a
	// document that is durable. It must not block past its own timeout.
	write    func(docs []any) []error
	linger   time.Duration
	maxBatch int
	slots    chan struct{} // one token per batch being written
	wake     chan struct{} // nudges run after a submit or close

	mu      sync.Mutex
	queue   []*request
	urgent  int // queued requests submitted with SubmitNow
	closing bool

	stopped chan struct{} // closed when run has handed out its last batch
	writes  sync.WaitGroup
}

// request is one submitted document waiting for its outcome.
type request struct {
	doc    any
	urgent bool       // its batch leaves without lingering
	done   chan error // buffered, so a caller that left never blocks a writer
}

// NewCommitter starts a committer that writes batches with write, which
// stores docs and returns one error per document (nil for a document that
// is durable) and must not block past its own timeout. gc's zero fields
// take their defaults.
func NewCommitter(gc GroupCommit, write func(docs []any) []error) *Committer {
	gc = gc.WithDefaults()
	c := &Committer{
		write:    write,
		linger:   gc.Linger,
		maxBatch: gc.MaxBatch,
		slots:    make(chan struct{}, gc.MaxInFlight),
		wake:     make(chan struct{}, 1),
		stopped:  make(chan struct{}),
	}
	go c.run()
	return c
}

// Submit queues doc for the next batch and waits for its outcome. When ctx
// ends first, submit returns at once but the document stays queued and may
// still be written. op names the caller's operation in errors.
func (c *Committer) Submit(ctx context.Context, op string, doc any) error {
	return c.submit(ctx, op, doc, false)
}

// SubmitNow is Submit for a document that is a batch of its own already
// gathered, such as a batch of projections that has lingered in its queue:
// the batch that takes it leaves at once, with whatever else is queued,
// instead of lingering for more. A Flush or Close of that queue then waits
// for one write, not for a linger of its own and another of the committer.
func (c *Committer) SubmitNow(ctx context.Context, op string, doc any) error {
	return c.submit(ctx, op, doc, true)
}

func (c *Committer) submit(ctx context.Context, op string, doc any, urgent bool) error {
	if err := ctx.Err(); err != nil {
		return Abandoned(op, err)
	}
	r := &request{doc: doc, urgent: urgent, done: make(chan error, 1)}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return Closed(op)
	}
	c.queue = append(c.queue, r)
	if urgent {
		c.urgent++
	}
	c.mu.Unlock()
	c.nudge()

	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return Abandoned(op, ctx.Err())
	}
}

func (c *Committer) nudge() {
	select {
	case c.wake <- struct{}{}:
	default: // a nudge is already pending; run will see the new state
	}
}

// run cuts batches and hands each to a writer goroutine until the committer
// is closed and its queue is empty.
func (c *Committer) run() {
	defer close(c.stopped)
	for c.awaitWork() {
		c.awaitBatch()
		c.slots <- struct{}{}
		batch := c.take()
		c.writes.Add(1)
		go func() {
			defer c.writes.Done()
			defer func() { <-c.slots }()
			c.commit(batch)
		}()
	}
}

// awaitWork waits until something is queued; it reports false once the
// committer is closing and nothing is left.
func (c *Committer) awaitWork() bool {
	for {
		c.mu.Lock()
		n, closing := len(c.queue), c.closing
		c.mu.Unlock()
		if n > 0 {
			return true
		}
		if closing {
			return false
		}
		<-c.wake
	}
}

// awaitBatch lingers so that concurrent callers can join the batch, until it
// is full, the linger has passed, a request submitted with SubmitNow is
// queued or the committer is closing.
func (c *Committer) awaitBatch() {
	if c.linger <= 0 {
		return
	}
	timer := time.NewTimer(c.linger)
	defer timer.Stop()
	for {
		c.mu.Lock()
		ready := len(c.queue) >= c.maxBatch || c.urgent > 0 || c.closing
		c.mu.Unlock()
		if ready {
			return
		}
		select {
		case <-c.wake:
		case <-timer.C:
			return
		}
	}
}

// take removes the next batch from the queue. Only run takes, so the queue
// is never empty here.
func (c *Committer) take() []*request {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(c.queue), c.maxBatch)
	batch, rest := c.queue[:n:n], c.queue[n:]
	for _, r := range batch {
		if r.urgent {
			c.urgent--
		}
	}
	// Copy the rest rather than reslice, so that the queue does not pin
	// the requests of earlier batches in memory.
	c.queue = nil
	if len(rest) > 0 {
		c.queue = slices.Clone(rest)
	}
	return batch
}

// commit writes one batch and answers each of its callers.
func (c *Committer) commit(batch []*request) {
	docs := make([]any, len(batch))
	for i, r := range batch {
		docs[i] = r.doc
	}
	errs := c.write(docs)
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// Close stops accepting documents and waits until everything queued has
// been written or ctx ends. Writes still running after ctx ended go on and
// answer their callers; wait waits for them.
func (c *Committer) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.nudge()

	drained := make(chan struct{})
	go func() {
		c.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wait returns once the committer has stopped and its writes have ended.
// Call it only after Close.
func (c *Committer) Wait() {
	<-c.stopped
	c.writes.Wait()
}
