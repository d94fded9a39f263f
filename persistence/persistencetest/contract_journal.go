package persistencetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

// The journal's contract: appends are conditional on the stream's sequence,
// loads answer from any sequence, and concurrent writers never both win.

func testJournalRoundTrip(t *testing.T, b Backend) {
	cfg := b.Config(t)
	cfg.Now = fixedClock
	j := b.open(t, cfg).Journal()
	ctx := ctxFor(t)

	events := []proto.Message{
		wrapperspb.String("first"),
		timestamppb.New(time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)),
		wrapperspb.Int64(-42),
		wrapperspb.Bytes([]byte{0, 1, 2}),
		wrapperspb.String(""),
	}
	last, err := j.Append(ctx, "cart/u1", 0, events[:3]...)
	require.NoError(t, err)
	require.EqualValues(t, 3, last)
	last, err = j.Append(ctx, "cart/u1", 3, events[3])
	require.NoError(t, err)
	require.EqualValues(t, 4, last)
	last, err = j.Append(ctx, "cart/u1", 4, events[4])
	require.NoError(t, err)
	require.EqualValues(t, 5, last)

	got, last := loadAll(t, j, "cart/u1", 0)
	require.EqualValues(t, 5, last)
	requireEvents(t, got, 1, events...)
	for _, e := range got {
		assert.True(t, e.at.Equal(testTime), "commit time %v, want the injected %v", e.at, testTime)
	}

	// Other streams, including one whose name extends this one's, are apart.
	_, err = j.Append(ctx, "cart/u1:x", 0, wrapperspb.String("other"))
	require.NoError(t, err)
	got, last = loadAll(t, j, "cart/u", 0)
	assert.Empty(t, got)
	assert.EqualValues(t, 0, last)
	got, _ = loadAll(t, j, "cart/u1", 0)
	assert.Len(t, got, 5)
}

func testJournalConflict(t *testing.T, b Backend) {
	j := b.open(t, b.Config(t)).Journal()
	ctx := ctxFor(t)

	_, err := j.Append(ctx, "s", 0, wrapperspb.String("a"), wrapperspb.String("b"))
	require.NoError(t, err)

	_, err = j.Append(ctx, "s", 0, wrapperspb.String("lost"))
	requireCode(t, err, emporium.ECONFLICT)
	assert.Contains(t, err.Error(), "Journal.Append")

	last, err := j.Append(ctx, "s", 2, wrapperspb.String("c"))
	require.NoError(t, err)
	require.EqualValues(t, 3, last)

	// A conflicting commit of several events leaves none of them behind.
	_, err = j.Append(ctx, "s", 2, wrapperspb.String("x"), wrapperspb.String("y"), wrapperspb.String("z"))
	requireCode(t, err, emporium.ECONFLICT)

	got, last := loadAll(t, j, "s", 0)
	require.EqualValues(t, 3, last)
	requireEvents(t, got, 1, wrapperspb.String("a"), wrapperspb.String("b"), wrapperspb.String("c"))
}

func testJournalLoadFromAnySeq(t *testing.T, b Backend) {
	j := b.open(t, b.Config(t)).Journal()
	ctx := ctxFor(t)
	all := make([]proto.Message, 12)
	for i := range all {
		all[i] = wrapperspb.Int32(int32(i + 1))
	}
	// Commits [1..3] [4..5] [6] [7..12]: the last one is longer than one
	// seq, so the end of the stream lies inside it too.
	seq := uint64(0)
	for _, size := range []int{3, 2, 1, 6} {
		last, err := j.Append(ctx, "s", seq, all[seq:seq+uint64(size)]...)
		require.NoError(t, err)
		seq = last
	}
	for after := uint64(0); after <= 12; after++ {
		got, last := loadAll(t, j, "s", after)
		require.EqualValues(t, 12, last, "after %d", after)
		requireEvents(t, got, after+1, all[after:]...)
	}
	got, last := loadAll(t, j, "s", 20)
	assert.Empty(t, got)
	assert.EqualValues(t, 20, last, "past the end, Load returns afterSeq")

	// One commit longer than any look-back for the commit holding afterSeq.
	long := make([]proto.Message, 100)
	for i := range long {
		long[i] = wrapperspb.Int32(int32(i + 1))
	}
	_, err := j.Append(ctx, "long", 0, long...)
	require.NoError(t, err)
	for _, after := range []uint64{0, 1, 50, 99, 100} {
		got, last := loadAll(t, j, "long", after)
		require.EqualValues(t, 100, last, "after %d", after)
		requireEvents(t, got, after+1, long[after:]...)
	}
}

func testJournalRejectsBadInput(t *testing.T, b Backend) {
	j := b.open(t, b.Config(t)).Journal()
	ctx := ctxFor(t)
	_, err := j.Append(ctx, "s", 0)
	requireCode(t, err, emporium.EINVALID)
	_, err = j.Append(ctx, "s", 0, wrapperspb.String("a"), nil)
	requireCode(t, err, emporium.EINVALID)
	var typedNil *wrapperspb.StringValue
	_, err = j.Append(ctx, "s", 0, typedNil)
	requireCode(t, err, emporium.EINVALID)
	_, err = j.Append(ctx, "", 0, wrapperspb.String("a"))
	requireCode(t, err, emporium.EINVALID)
	_, err = j.Load(ctx, "s", 0, nil)
	requireCode(t, err, emporium.EINVALID)
	_, err = j.Load(ctx, "", 0, func(uint64, time.Time, proto.Message) error { return nil })
	requireCode(t, err, emporium.EINVALID)

	got, last := loadAll(t, j, "s", 0)
	assert.Empty(t, got, "a rejected append wrote something")
	assert.EqualValues(t, 0, last)
}

func testJournalUnknownEventType(t *testing.T, b Backend) {
	if b.PlantEvent == nil {
		t.Fatal("persistencetest.Backend needs PlantEvent for this test")
	}
	s := b.open(t, b.Config(t))
	ctx := ctxFor(t)
	_, err := s.Journal().Append(ctx, "s", 0, wrapperspb.String("known"))
	require.NoError(t, err)
	// An event written by a binary that links a type this one does not.
	b.PlantEvent(t, s, "s", 2, "emporium.test.Unlinked", []byte{})

	var seen []uint64
	last, err := s.Journal().Load(ctx, "s", 0, func(seq uint64, _ time.Time, _ proto.Message) error {
		seen = append(seen, seq)
		return nil
	})
	requireCode(t, err, emporium.EINTERNAL)
	assert.Contains(t, err.Error(), "emporium.test.Unlinked")
	assert.Equal(t, []uint64{1}, seen)
	assert.EqualValues(t, 1, last)

	// The planted event counts for appends all the same.
	_, err = s.Journal().Append(ctx, "s", 1, wrapperspb.String("lost"))
	requireCode(t, err, emporium.ECONFLICT)
}

func testJournalLoadCallbackError(t *testing.T, b Backend) {
	j := b.open(t, b.Config(t)).Journal()
	ctx := ctxFor(t)
	_, err := j.Append(ctx, "s", 0, wrapperspb.Int32(1), wrapperspb.Int32(2), wrapperspb.Int32(3))
	require.NoError(t, err)
	stop := errors.New("stop here")
	last, err := j.Load(ctx, "s", 0, func(seq uint64, _ time.Time, _ proto.Message) error {
		if seq == 2 {
			return stop
		}
		return nil
	})
	assert.Same(t, stop, err, "the callback's error comes back unchanged")
	assert.EqualValues(t, 1, last, "the last seq accepted")
}

func testJournalManyStreamsConcurrently(t *testing.T, b Backend) {
	j := b.open(t, b.Config(t)).Journal()
	ctx := ctxFor(t)
	const writers, appends = 200, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("stream-%03d", w)
			seq := uint64(0)
			for i := range appends {
				// Appends alternate between one and two events.
				events := []proto.Message{wrapperspb.String(fmt.Sprintf("%d/%d/a", w, i))}
				if i%2 == 1 {
					events = append(events, wrapperspb.String(fmt.Sprintf("%d/%d/b", w, i)))
				}
				last, err := j.Append(ctx, stream, seq, events...)
				if err != nil {
					errs <- fmt.Errorf("%s append %d: %w", stream, i, err)
					return
				}
				if last != seq+uint64(len(events)) {
					errs <- fmt.Errorf("%s append %d: last seq %d, want %d", stream, i, last, seq+uint64(len(events)))
					return
				}
				seq = last
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		stream := fmt.Sprintf("stream-%03d", w)
		var want []proto.Message
		for i := range appends {
			want = append(want, wrapperspb.String(fmt.Sprintf("%d/%d/a", w, i)))
			if i%2 == 1 {
				want = append(want, wrapperspb.String(fmt.Sprintf("%d/%d/b", w, i)))
			}
		}
		got, last := loadAll(t, j, stream, 0)
		require.EqualValues(t, len(want), last, stream)
		requireEvents(t, got, 1, want...)
	}
}

// testJournalRacingWriters has 25 writers append one event each to one
// stream. All start at seq 0 together; a loser reloads and tries again at
// the new end. Exactly one writer must win each seq, and the stream must
// end up holding every writer's event once, with no gap.
func testJournalRacingWriters(t *testing.T, b Backend) {
	j := b.open(t, b.Config(t)).Journal()
	ctx := ctxFor(t)
	const writers = 25
	var (
		start   = make(chan struct{})
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners = map[uint64]int{}
		errs    = make(chan error, writers)
	)
	for w := range writers {
		wg.Go(func() {
			<-start
			seq := uint64(0)
			for {
				last, err := j.Append(ctx, "contested", seq, wrapperspb.Int32(int32(w)))
				if err == nil {
					mu.Lock()
					defer mu.Unlock()
					if other, taken := winners[last]; taken {
						errs <- fmt.Errorf("writers %d and %d both won seq %d", other, w, last)
					}
					winners[last] = w
					return
				}
				if !emporium.IsCode(err, emporium.ECONFLICT) {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				if seq, err = j.Load(ctx, "contested", seq, func(uint64, time.Time, proto.Message) error { return nil }); err != nil {
					errs <- fmt.Errorf("writer %d reload: %w", w, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	got, last := loadAll(t, j, "contested", 0)
	require.EqualValues(t, writers, last)
	require.Len(t, got, writers)
	seen := map[int32]bool{}
	for i, e := range got {
		require.EqualValues(t, i+1, e.seq, "gap or reordering in the stream")
		w := e.ev.(*wrapperspb.Int32Value).GetValue()
		require.False(t, seen[w], "writer %d appears twice", w)
		seen[w] = true
		require.Equal(t, int(w), winners[e.seq], "seq %d holds another writer's event than the one told it won", e.seq)
	}
}

// testJournalDuplicateInOneBatch makes two appends at the same seq of one
// stream land in the same group-commit batch as eight others: the batch
// only leaves when all ten have arrived. One of the two must lose with
// ECONFLICT and every other append must succeed.
func testJournalDuplicateInOneBatch(t *testing.T, b Backend) {
	cfg := b.Config(t)
	cfg.GroupCommit = persistence.GroupCommit{Linger: time.Hour, MaxBatch: 10}
	j := b.open(t, cfg).Journal()
	ctx := ctxFor(t)

	type result struct {
		stream string
		value  string
		err    error
	}
	results := make(chan result, 10)
	appendOne := func(stream, value string) {
		_, err := j.Append(ctx, stream, 0, wrapperspb.String(value))
		results <- result{stream, value, err}
	}
	for i := range 8 {
		go appendOne(fmt.Sprintf("solo-%d", i), "solo")
	}
	go appendOne("twice", "one")
	go appendOne("twice", "two")

	var winner string
	conflicts := 0
	for range 10 {
		var r result
		select {
		case r = <-results:
		case <-ctx.Done():
			t.Fatal("the batch never filled up, so the appends did not share it")
		}
		switch {
		case r.stream != "twice":
			assert.NoError(t, r.err, r.stream)
		case r.err == nil:
			winner = r.value
		default:
			requireCode(t, r.err, emporium.ECONFLICT)
			conflicts++
		}
	}
	require.Equal(t, 1, conflicts, "exactly one of the two appends at seq 0 must lose")
	got, _ := loadAll(t, j, "twice", 0)
	requireEvents(t, got, 1, wrapperspb.String(winner))
	for i := range 8 {
		got, _ := loadAll(t, j, fmt.Sprintf("solo-%d", i), 0)
		requireEvents(t, got, 1, wrapperspb.String("solo"))
	}
}

// testJournalAppended: the streams written in a span of time, each with the
// highest seq written in it, by the clock that stamped the commits.
func testJournalAppended(t *testing.T, b Backend) {
	cfg := b.Config(t)
	var mu sync.Mutex
	now := testTime
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	at := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = testTime.Add(d) }
	j := b.open(t, cfg).Journal()
	ctx := ctxFor(t)

	at(0)
	_, err := j.Append(ctx, "inventory-a", 0, wrapperspb.String("a1"), wrapperspb.String("a2"))
	require.NoError(t, err)
	at(time.Minute)
	_, err = j.Append(ctx, "inventory-a", 2, wrapperspb.String("a3"))
	require.NoError(t, err)
	_, err = j.Append(ctx, "order-b", 0, wrapperspb.String("b1"))
	require.NoError(t, err)
	at(2 * time.Minute)
	_, err = j.Append(ctx, "inventory-a", 3, wrapperspb.String("a4"), wrapperspb.String("a5"))
	require.NoError(t, err)

	got, err := j.Appended(ctx, testTime.Add(-time.Second), testTime.Add(3*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"inventory-a": 5, "order-b": 1}, got, "all of it")
	got, err = j.Appended(ctx, testTime, testTime.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"inventory-a": 3, "order-b": 1}, got, "after excluded, until included")
	got, err = j.Appended(ctx, testTime.Add(-time.Minute), testTime.Add(-time.Second))
	require.NoError(t, err)
	assert.Empty(t, got, "nothing before")
}
