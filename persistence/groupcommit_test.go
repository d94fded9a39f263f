package persistence

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	emporium "github.com/emporium-shop/emporium"
)

// waitFor returns the value received from ch, failing the test after d.
func waitFor[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
		panic("unreachable")
	}
}

// eventually polls cond until it holds, failing the test after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCommitterBoundsBatchesAndWritesInFlight(t *testing.T) {
	t.Parallel()
	const submitters, maxBatch, maxInFlight = 1000, 100, 4
	var (
		running, peak atomic.Int32
		written       atomic.Int64
		started       = make(chan int, submitters)
		release       = make(chan struct{})
		mu            sync.Mutex
		sizes         []int
	)
	write := func(docs []any) []error {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		mu.Lock()
		sizes = append(sizes, len(docs))
		mu.Unlock()
		started <- len(docs)
		<-release
		written.Add(int64(len(docs)))
		running.Add(-1)
		return make([]error, len(docs))
	}
	c := NewCommitter(GroupCommit{Linger: time.Millisecond, MaxBatch: maxBatch, MaxInFlight: maxInFlight}, write)

	var wg sync.WaitGroup
	errs := make(chan error, submitters)
	for i := range submitters {
		wg.Go(func() { errs <- c.Submit(context.Background(), "test", i) })
	}
	// Hold the first batches until every slot is taken: no fifth write may
	// start meanwhile, however many documents wait.
	for range maxInFlight {
		waitFor(t, started, 10*time.Second, "a batch write to start")
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
	}

	if got := peak.Load(); got != maxInFlight {
		t.Errorf("peak writes in flight = %d, want %d", got, maxInFlight)
	}
	if got := written.Load(); got != submitters {
		t.Errorf("written %d documents, want %d", got, submitters)
	}
	for _, n := range sizes {
		if n < 1 || n > maxBatch {
			t.Errorf("batch of %d documents, want 1..%d", n, maxBatch)
		}
	}
	if len(sizes) >= submitters/2 {
		t.Errorf("%d batches for %d concurrent documents: they were not coalesced", len(sizes), submitters)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCommitterAnswersEachDocumentWithItsOwnOutcome(t *testing.T) {
	t.Parallel()
	failing := errors.New("document 3 failed")
	write := func(docs []any) []error {
		errs := make([]error, len(docs))
		for i, d := range docs {
			if d.(int) == 3 {
				errs[i] = failing
			}
		}
		return errs
	}
	// A batch leaves only when full, so the five documents share one write.
	c := NewCommitter(GroupCommit{Linger: time.Hour, MaxBatch: 5, MaxInFlight: 1}, write)
	defer c.Close(context.Background())

	results := make([]error, 5)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = c.Submit(context.Background(), "test", i) })
	}
	wg.Wait()
	for i, err := range results {
		if want := error(nil); i == 3 {
			if !errors.Is(err, failing) {
				t.Errorf("document 3: got %v, want %v", err, failing)
			}
		} else if err != want {
			t.Errorf("document %d: got %v, want success", i, err)
		}
	}
}

func TestCommitterCloseWritesWhatIsQueuedAndRefusesMore(t *testing.T) {
	t.Parallel()
	var written atomic.Int64
	write := func(docs []any) []error {
		written.Add(int64(len(docs)))
		return make([]error, len(docs))
	}
	// With an hour of linger and a batch of 1000, only close can flush.
	c := NewCommitter(GroupCommit{Linger: time.Hour, MaxBatch: 1000, MaxInFlight: 2}, write)
	done := make(chan error, 3)
	for i := range 3 {
		go func() { done <- c.Submit(context.Background(), "test", i) }()
	}
	// Close only once all three are queued, or it might refuse one.
	eventually(t, 10*time.Second, "three documents queued", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue) == 3
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	for range 3 {
		if err := waitFor(t, done, 10*time.Second, "a queued submit"); err != nil {
			t.Errorf("queued submit: %v", err)
		}
	}
	if got := written.Load(); got != 3 {
		t.Errorf("written %d documents at close, want 3", got)
	}
	err := c.Submit(context.Background(), "test.Op", 4)
	if !emporium.IsCode(err, emporium.EUNAVAILABLE) {
		t.Errorf("submit after close: got %v, want %s", err, emporium.EUNAVAILABLE)
	}
}

func TestCommitterCallerCanStopWaiting(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var written atomic.Int64
	write := func(docs []any) []error {
		entered <- struct{}{}
		<-release
		written.Add(int64(len(docs)))
		return make([]error, len(docs))
	}
	c := NewCommitter(GroupCommit{Linger: -1, MaxBatch: 10, MaxInFlight: 1}, write)
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- c.Submit(ctx, "test.Op", 1) }()
	waitFor(t, entered, 10*time.Second, "the write to start")
	cancel()
	err := waitFor(t, result, 10*time.Second, "the cancelled submit to return")
	if !emporium.IsCode(err, emporium.EUNAVAILABLE) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled submit: got %v, want %s caused by context.Canceled", err, emporium.EUNAVAILABLE)
	}
	// The abandoned document is still written.
	close(release)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if written.Load() != 1 {
		t.Error("the abandoned document was not written")
	}
}

// TestCommitterSubmitNowDoesNotLinger queues documents that linger for an
// hour, then one submitted with SubmitNow: the batch leaves at once with
// all of them, and later documents linger again.
func TestCommitterSubmitNowDoesNotLinger(t *testing.T) {
	t.Parallel()
	batches := make(chan []any, 10)
	write := func(docs []any) []error {
		batches <- docs
		return make([]error, len(docs))
	}
	c := NewCommitter(GroupCommit{Linger: time.Hour, MaxBatch: 100, MaxInFlight: 1}, write)
	done := make(chan error, 4)
	for i := range 2 {
		go func() { done <- c.Submit(context.Background(), "test", i) }()
	}
	eventually(t, 10*time.Second, "two documents queued", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue) == 2
	})
	go func() { done <- c.SubmitNow(context.Background(), "test", "now") }()
	batch := waitFor(t, batches, 10*time.Second, "the batch SubmitNow sends at once")
	if len(batch) != 3 {
		t.Errorf("batch %v, want the two lingering documents and the urgent one", batch)
	}
	for range 3 {
		if err := waitFor(t, done, 10*time.Second, "a submit of the batch"); err != nil {
			t.Errorf("submit: %v", err)
		}
	}

	// The urgency went with its batch: the next document lingers.
	go func() { done <- c.Submit(context.Background(), "test", 3) }()
	select {
	case b := <-batches:
		t.Fatalf("batch %v left without lingering", b)
	case <-time.After(20 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if b := waitFor(t, batches, 10*time.Second, "the batch written at close"); len(b) != 1 {
		t.Errorf("batch at close %v, want the one lingering document", b)
	}
	if err := waitFor(t, done, 10*time.Second, "the submit written at close"); err != nil {
		t.Error(err)
	}
}
