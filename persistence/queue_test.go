package persistence_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

// recorder is a slog handler that keeps the records it is given.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	return nil
}

// find returns the records at level with message msg.
func (r *recorder) find(level slog.Level, msg string) []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var found []slog.Record
	for _, rec := range r.records {
		if rec.Level == level && rec.Message == msg {
			found = append(found, rec)
		}
	}
	return found
}

// attr returns the value of the attribute key of rec.
func attr(rec slog.Record, key string) slog.Value {
	var v slog.Value
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// fakeStore is the write function of a queue under test: it fails while
// failing is set and otherwise keeps what it is given, as a store would.
type fakeStore struct {
	mu       sync.Mutex
	failing  bool
	outage   error
	attempts int
	stored   map[string]bson.Raw // by collection/id
	seqs     map[string]uint64
}

func newFakeStore(outage error) *fakeStore {
	return &fakeStore{failing: outage != nil, outage: outage, stored: map[string]bson.Raw{}, seqs: map[string]uint64{}}
}

func (f *fakeStore) write(_ context.Context, batch []*persistence.Projection) ([]*persistence.Projection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.failing {
		return batch, f.outage
	}
	for _, q := range batch {
		key := q.Collection + "/" + q.ID
		if q.Seq > f.seqs[key] {
			f.stored[key], f.seqs[key] = q.Doc, q.Seq
		}
	}
	return nil, nil
}

func (f *fakeStore) setFailing(failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = failing
}

func (f *fakeStore) attemptCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

func (f *fakeStore) get(collection, id string) (bson.Raw, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	raw, ok := f.stored[collection+"/"+id]
	return raw, ok
}

// newQueue starts a queue on f that logs to logs and is closed when the
// test ends.
func newQueue(t *testing.T, f *fakeStore, logs *recorder) *persistence.ProjectionQueue {
	t.Helper()
	q := persistence.NewProjectionQueue(slog.New(logs), persistence.GroupCommit{}, f.write)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = q.Close(ctx)
		q.Wait()
	})
	return q
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

const retryMsg = "persistence: projection write failed; retrying"

// TestProjectionQueueRetriesWithBackoff makes writes fail for a while: the
// queue logs each failure at Warn and tries again, waiting twice as long
// each time; Flush meanwhile waits and, when its context ends, reports
// EUNAVAILABLE with the cause, the projection still queued. Once writes
// work again, the projection is stored and Flush returns.
func TestProjectionQueueRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	logs := &recorder{}
	outage := errors.New("the server went away")
	f := newFakeStore(outage)
	q := newQueue(t, f, logs)

	q.Put("views", "v1", 1, bson.M{"title": "one"})
	waitUntil(t, 10*time.Second, "the write failed three times", func() bool { return f.attemptCount() >= 3 })

	short, cancel := context.WithCancel(t.Context())
	flushed := make(chan error, 1)
	go func() { flushed <- q.Flush(short) }()
	select {
	case err := <-flushed:
		t.Fatalf("Flush returned %v while every write fails", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	var err error
	select {
	case err = <-flushed:
	case <-time.After(10 * time.Second):
		t.Fatal("Flush did not return when its context ended")
	}
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	assert.ErrorIs(t, err, outage, "Flush names the cause")
	assert.ErrorIs(t, err, context.Canceled)

	f.setFailing(false)
	ctx, cancelFlush := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancelFlush()
	require.NoError(t, q.Flush(ctx))
	raw, ok := f.get("views", "v1")
	require.True(t, ok, "the projection was dropped while writes failed")
	assert.Equal(t, "one", raw.Lookup("title").StringValue())
	assert.EqualValues(t, 1, raw.Lookup("seq").Int64())

	warnings := logs.find(slog.LevelWarn, retryMsg)
	require.Len(t, warnings, f.attemptCount()-1, "one warning per failed attempt")
	var waits []time.Duration
	for _, w := range warnings {
		waits = append(waits, attr(w, "retry_in").Duration())
		assert.Equal(t, outage.Error(), attr(w, "error").String())
		assert.EqualValues(t, 1, attr(w, "documents").Int64())
	}
	require.GreaterOrEqual(t, len(waits), 3)
	assert.Equal(t, 50*time.Millisecond, waits[0], "the first retry waits the least backoff")
	for i := 1; i < len(waits); i++ {
		assert.Equal(t, min(2*waits[i-1], 5*time.Second), waits[i], "each retry waits twice as long, up to a cap")
	}
	assert.Empty(t, logs.find(slog.LevelError, "persistence: projections not written before close"))
}

// TestProjectionQueueDropsBadInputLoudly puts projections no store could
// take: each is logged at Error and dropped, Flush does not wait for
// them, and they never reach the store.
func TestProjectionQueueDropsBadInputLoudly(t *testing.T) {
	t.Parallel()
	logs := &recorder{}
	f := newFakeStore(nil)
	q := newQueue(t, f, logs)

	q.Put("views", "", 1, bson.M{})
	q.Put("", "v", 1, bson.M{})
	q.Put("views", "v", math.MaxInt64+1, bson.M{})
	q.Put("views", "v", 1, "not a document")
	q.Put("views", "ok", 1, bson.M{"title": "fine"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, q.Flush(ctx))

	assert.Len(t, logs.find(slog.LevelError, "persistence: projection dropped: it needs a collection, an id and a seq up to 2^63-1"), 3)
	assert.Len(t, logs.find(slog.LevelError, "persistence: projection dropped: it cannot be encoded"), 1)
	_, stored := f.get("views", "v")
	assert.False(t, stored, "a bad projection reached the store")
	_, stored = f.get("views", "ok")
	assert.True(t, stored, "a good projection beside bad ones was dropped")

	// After Close, Put refuses loudly too.
	require.NoError(t, q.Close(ctx))
	q.Put("views", "late", 1, bson.M{})
	assert.Len(t, logs.find(slog.LevelError, "persistence: projection dropped: the store is closed"), 1)
	_, stored = f.get("views", "late")
	assert.False(t, stored)
}

// TestProjectionQueueNewestSeqWins puts projections of one document out of
// order: what is stored is the one with the highest seq, and a Flush of
// the older Put is settled by it.
func TestProjectionQueueNewestSeqWins(t *testing.T) {
	t.Parallel()
	f := newFakeStore(nil)
	q := newQueue(t, f, &recorder{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	q.Put("views", "v", 5, bson.M{"title": "five"})
	q.Put("views", "v", 3, bson.M{"title": "three"})
	require.NoError(t, q.Flush(ctx))
	raw, ok := f.get("views", "v")
	require.True(t, ok)
	assert.Equal(t, "five", raw.Lookup("title").StringValue())

	// A value changed after Put is not what is stored.
	doc := bson.M{"title": "seven"}
	q.Put("views", "v", 7, doc)
	doc["title"] = "changed after Put"
	require.NoError(t, q.Flush(ctx))
	raw, _ = f.get("views", "v")
	assert.Equal(t, "seven", raw.Lookup("title").StringValue())
}

// TestProjectionQueueCloseGivesUp closes a queue whose writes keep failing:
// Close returns EUNAVAILABLE when its context ends and logs at Error how
// many projections are lost, and the writer stops.
func TestProjectionQueueCloseGivesUp(t *testing.T) {
	t.Parallel()
	logs := &recorder{}
	f := newFakeStore(errors.New("down"))
	q := persistence.NewProjectionQueue(slog.New(logs), persistence.GroupCommit{}, f.write)
	q.Put("views", "a", 1, bson.M{})
	q.Put("views", "b", 1, bson.M{})
	waitUntil(t, 10*time.Second, "a write was tried", func() bool { return f.attemptCount() >= 1 })

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := q.Close(ctx)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	stopped := make(chan struct{})
	go func() { q.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not stop after Close")
	}
	lost := logs.find(slog.LevelError, "persistence: projections not written before close")
	require.Len(t, lost, 1)
	assert.EqualValues(t, 2, attr(lost[0], "documents").Int64())
}

// TestProjectionQueueBatches checks that projections leave in batches of at
// most MaxBatch, and that every Put is written once all is flushed.
func TestProjectionQueueBatches(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		sizes   []int
		written atomic.Int64
	)
	write := func(_ context.Context, batch []*persistence.Projection) ([]*persistence.Projection, error) {
		mu.Lock()
		sizes = append(sizes, len(batch))
		mu.Unlock()
		written.Add(int64(len(batch)))
		return nil, nil
	}
	q := persistence.NewProjectionQueue(slog.New(&recorder{}), persistence.GroupCommit{MaxBatch: 10}, write)
	defer func() {
		require.NoError(t, q.Close(context.Background()))
		q.Wait()
	}()
	for i := range 95 {
		q.Put("views", string(rune('a'+i%26))+string(rune('a'+i/26)), 1, bson.M{})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, q.Flush(ctx))
	assert.EqualValues(t, 95, written.Load())
	mu.Lock()
	defer mu.Unlock()
	for _, n := range sizes {
		assert.LessOrEqual(t, n, 10)
	}
}

// TestProjectionQueuePutNow stores one document past the queue: it is
// stored when PutNow returns, even while the queue's other documents keep
// failing (which would hold up Flush), and a newer queued document still
// wins. A PutNow that fails returns the error and leaves the document
// queued, to be stored once writes work again.
func TestProjectionQueuePutNow(t *testing.T) {
	t.Parallel()
	f := newFakeStore(nil)
	outage := errors.New("disk full")
	var stuck atomic.Bool
	stuck.Store(true)
	write := func(ctx context.Context, batch []*persistence.Projection) ([]*persistence.Projection, error) {
		var ok, held []*persistence.Projection
		for _, q := range batch {
			if q.ID == "stuck" && stuck.Load() {
				held = append(held, q)
			} else {
				ok = append(ok, q)
			}
		}
		_, _ = f.write(ctx, ok)
		if len(held) > 0 {
			return held, outage
		}
		return nil, nil
	}
	q := persistence.NewProjectionQueue(slog.New(&recorder{}), persistence.GroupCommit{}, write)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = q.Close(ctx)
		q.Wait()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	q.Put("views", "stuck", 1, bson.M{"title": "not yet"})
	require.NoError(t, q.PutNow(ctx, "views", "mine", 1, bson.M{"title": "one"}))
	raw, ok := f.get("views", "mine")
	require.True(t, ok, "PutNow returned before the document was stored")
	assert.Equal(t, "one", raw.Lookup("title").StringValue())

	q.Put("views", "mine", 3, bson.M{"title": "three"})
	require.NoError(t, q.PutNow(ctx, "views", "mine", 2, bson.M{"title": "two"}))
	waitUntil(t, 5*time.Second, "the queued seq 3 to be stored", func() bool {
		raw, _ := f.get("views", "mine")
		return raw.Lookup("title").StringValue() == "three"
	})

	err := q.PutNow(ctx, "views", "stuck", 2, bson.M{"title": "two"})
	assert.ErrorIs(t, err, outage, "PutNow names the cause")
	_, stored := f.get("views", "stuck")
	assert.False(t, stored)
	stuck.Store(false)
	require.NoError(t, q.Flush(ctx), "the failed PutNow is queued and stored once writes work")
	raw, _ = f.get("views", "stuck")
	assert.Equal(t, "two", raw.Lookup("title").StringValue())

	assert.Error(t, q.PutNow(ctx, "", "x", 1, bson.M{}), "bad input is refused")
}
