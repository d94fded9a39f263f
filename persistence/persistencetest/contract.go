package persistencetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

// Backend tells the contract suite (RunContract) how to get stores of one
// backend, and what that backend cannot promise.
type Backend struct {
	// Config returns the configuration of a store with data of its own (a
	// fresh directory or database, removed when the test ends), which the
	// test may change and open more than once.
	Config func(t *testing.T) persistence.Config
	// Open opens a store with cfg and closes it when the test ends. Nil
	// means OpenConfig.
	Open func(t *testing.T, cfg persistence.Config) persistence.Store
	// PlantEvent stores, bypassing Append, an event of type typ (a protobuf
	// full name this binary may not link) with the wire encoding data as
	// event seq of stream, on its own, as a binary that links the type
	// would have appended it after the events already stored. It fails the
	// test if it cannot.
	PlantEvent func(t *testing.T, s persistence.Store, stream string, seq uint64, typ string, data []byte)

	// StrictIndexes says that a query by a field (List, DueBefore,
	// Unmarked, SetMark) no declared index starts with is refused with
	// EINVALID. Otherwise such a query must still answer correctly.
	StrictIndexes bool
	// RacyConditionals says that concurrent conditional writes are not
	// atomic, so the tests that race them are skipped.
	RacyConditionals bool
	// ScanningQueries says that journal queries read the whole collection,
	// so the test that loads hundreds of streams is skipped.
	ScanningQueries bool
}

// open opens a store of the backend with cfg for the test.
func (b Backend) open(t *testing.T, cfg persistence.Config) persistence.Store {
	t.Helper()
	if b.Open != nil {
		return b.Open(t, cfg)
	}
	return OpenConfig(t, cfg)
}

// contractTest is one test of the suite.
type contractTest struct {
	name     string
	racing   bool // races conditional writers
	manyLoad bool // loads hundreds of streams
	run      func(t *testing.T, b Backend)
}

// RunContract runs the persistence contract suite on the backend b: every
// test as a parallel subtest of t, each with stores of its own. It uses the
// stores only through the persistence interfaces, and b's hooks where a
// test must plant data no method of the contract writes.
func RunContract(t *testing.T, b Backend) {
	if b.Config == nil {
		t.Fatal("persistencetest.Backend needs Config")
	}
	var tests []contractTest
	tests = append(tests, journalTests...)
	tests = append(tests, stateTests...)
	tests = append(tests, readTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.racing && b.RacyConditionals {
				t.Skip("concurrent conditional writes are not atomic on this backend")
			}
			if tt.manyLoad && b.ScanningQueries {
				t.Skip("every journal query reads the whole collection on this backend")
			}
			t.Parallel()
			tt.run(t, b)
		})
	}
}

var journalTests = []contractTest{
	{"JournalRoundTrip", false, false, testJournalRoundTrip},
	{"JournalConflict", false, false, testJournalConflict},
	{"JournalLoadFromAnySeq", false, false, testJournalLoadFromAnySeq},
	{"JournalRejectsBadInput", false, false, testJournalRejectsBadInput},
	{"JournalUnknownEventType", false, false, testJournalUnknownEventType},
	{"JournalLoadCallbackError", false, false, testJournalLoadCallbackError},
	{"JournalManyStreamsConcurrently", false, true, testJournalManyStreamsConcurrently},
	{"JournalRacingWritersOnOneStream", true, false, testJournalRacingWriters},
	{"JournalDuplicateInOneBatch", false, false, testJournalDuplicateInOneBatch},
}

var stateTests = []contractTest{
	{"SnapshotsKeepNewest", false, false, testSnapshotsKeepNewest},
	{"SnapshotsRacingSavers", true, false, testSnapshotsRacingSavers},
	{"DocumentsVersions", false, false, testDocumentsVersions},
	{"DocumentsDelete", false, false, testDocumentsDelete},
	{"DocumentsRacingWriters", true, false, testDocumentsRacingWriters},
	{"ProjectionsNewestSeqWins", false, false, testProjectionsNewestSeqWins},
	{"ReopenFindsData", false, false, testReopenFindsData},
	{"ReopenKeepsEverything", false, false, testReopenKeepsEverything},
	{"CloseFlushesAndRefuses", false, false, testCloseFlushesAndRefuses},
}

// testTime is what the injected clock tells: every commit and snapshot is
// stamped with the same instant, in whole milliseconds as BSON stores them.
var testTime = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func fixedClock() time.Time { return testTime }

// ctxFor returns a context that ends with the test or after a generous
// deadline, so that a hang fails instead of stalling the run.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// loaded is one event as Load reported it.
type loaded struct {
	seq uint64
	at  time.Time
	ev  proto.Message
}

// loadAll loads the events of stream after seq after, failing the test on
// an error.
func loadAll(t *testing.T, j persistence.Journal, stream string, after uint64) ([]loaded, uint64) {
	t.Helper()
	var got []loaded
	last, err := j.Load(ctxFor(t), stream, after, func(seq uint64, at time.Time, ev proto.Message) error {
		got = append(got, loaded{seq, at, ev})
		return nil
	})
	require.NoError(t, err)
	return got, last
}

// requireEvents checks the loaded events against want, numbered from first.
func requireEvents(t *testing.T, got []loaded, first uint64, want ...proto.Message) {
	t.Helper()
	require.Len(t, got, len(want))
	for i, ev := range want {
		assert.Equal(t, first+uint64(i), got[i].seq, "seq of event %d", i)
		assert.Truef(t, proto.Equal(ev, got[i].ev), "event %d: got %v, want %v", i, got[i].ev, ev)
	}
}

// requireCode checks that err is an *emporium.Error with the given code
// that names its operation.
func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	var e *emporium.Error
	require.Truef(t, errors.As(err, &e), "error %v (%T) is not an *emporium.Error", err, err)
	require.Equalf(t, code, emporium.ErrorCode(err), "error: %v", err)
	require.NotEmpty(t, e.Op, "the error does not say which operation failed")
}

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

func testSnapshotsKeepNewest(t *testing.T, b Backend) {
	cfg := b.Config(t)
	cfg.Now = fixedClock
	snaps := b.open(t, cfg).Snapshots()
	ctx := ctxFor(t)

	var state wrapperspb.StringValue
	seq, found, err := snaps.Load(ctx, "s", &state)
	require.NoError(t, err)
	assert.False(t, found)
	assert.Zero(t, seq)

	save := func(seq uint64, value string) {
		t.Helper()
		require.NoError(t, snaps.Save(ctx, "s", seq, wrapperspb.String(value)))
	}
	expect := func(wantSeq uint64, want string) {
		t.Helper()
		var got wrapperspb.StringValue
		seq, found, err := snaps.Load(ctx, "s", &got)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, wantSeq, seq)
		assert.Equal(t, want, got.GetValue())
	}
	save(5, "five")
	expect(5, "five")
	save(3, "three") // older: ignored
	expect(5, "five")
	save(5, "five again") // same seq: the first stays
	expect(5, "five")
	save(8, "eight")
	expect(8, "eight")

	require.NoError(t, snaps.Save(ctx, "other", 1, wrapperspb.String("other")))
	expect(8, "eight")

	_, _, err = snaps.Load(ctx, "s", &wrapperspb.Int64Value{})
	requireCode(t, err, emporium.EINTERNAL)
	requireCode(t, snaps.Save(ctx, "s", 9, nil), emporium.EINVALID)
	requireCode(t, snaps.Save(ctx, "", 9, wrapperspb.String("nameless")), emporium.EINVALID)
	_, _, err = snaps.Load(ctx, "s", nil)
	requireCode(t, err, emporium.EINVALID)
}

func testSnapshotsRacingSavers(t *testing.T, b Backend) {
	snaps := b.open(t, b.Config(t)).Snapshots()
	ctx := ctxFor(t)
	const savers = 30
	var wg sync.WaitGroup
	for seq := range uint64(savers) {
		wg.Go(func() {
			assert.NoError(t, snaps.Save(ctx, "raced", seq+1, wrapperspb.UInt64(seq+1)))
		})
	}
	wg.Wait()
	var got wrapperspb.UInt64Value
	seq, found, err := snaps.Load(ctx, "raced", &got)
	require.NoError(t, err)
	require.True(t, found)
	assert.EqualValues(t, savers, seq, "an older snapshot replaced the newest")
	assert.EqualValues(t, savers, got.GetValue())
}

// cartDoc is a state document as a caller would define it.
type cartDoc struct {
	ID      string   `bson:"_id,omitempty"`
	Version int64    `bson:"version,omitempty"`
	Owner   string   `bson:"owner"`
	Lines   []string `bson:"lines"`
}

func testDocumentsVersions(t *testing.T, b Backend) {
	docs := b.open(t, b.Config(t)).Documents("carts")
	ctx := ctxFor(t)

	_, err := docs.Get(ctx, "c1", &cartDoc{})
	requireCode(t, err, emporium.ENOTFOUND)

	v, err := docs.Put(ctx, "c1", 0, cartDoc{Owner: "ann", Lines: []string{"sku-1"}, Version: 99, ID: "ignored"})
	require.NoError(t, err)
	require.EqualValues(t, 1, v)

	_, err = docs.Put(ctx, "c1", 0, cartDoc{Owner: "bob"})
	requireCode(t, err, emporium.ECONFLICT)

	var got cartDoc
	v, err = docs.Get(ctx, "c1", &got)
	require.NoError(t, err)
	require.EqualValues(t, 1, v)
	assert.Equal(t, cartDoc{ID: "c1", Version: 1, Owner: "ann", Lines: []string{"sku-1"}}, got)

	v, err = docs.Put(ctx, "c1", 1, cartDoc{Owner: "ann", Lines: []string{"sku-1", "sku-2"}})
	require.NoError(t, err)
	require.EqualValues(t, 2, v)

	for _, stale := range []int64{1, 3} {
		_, err = docs.Put(ctx, "c1", stale, cartDoc{Owner: "mallory"})
		requireCode(t, err, emporium.ECONFLICT)
	}
	v, err = docs.Get(ctx, "c1", &got)
	require.NoError(t, err)
	require.EqualValues(t, 2, v, "a conflicting put changed the document")
	assert.Equal(t, cartDoc{ID: "c1", Version: 2, Owner: "ann", Lines: []string{"sku-1", "sku-2"}}, got)

	requireCode(t, docs.Delete(ctx, "c1", 1), emporium.ECONFLICT)
	require.NoError(t, docs.Delete(ctx, "c1", 2))
	_, err = docs.Get(ctx, "c1", nil)
	requireCode(t, err, emporium.ENOTFOUND)
	requireCode(t, docs.Delete(ctx, "c1", 2), emporium.ENOTFOUND)
	_, err = docs.Put(ctx, "c1", 2, cartDoc{Owner: "ann"})
	requireCode(t, err, emporium.ECONFLICT)

	// A deleted document can be created again.
	v, err = docs.Put(ctx, "c1", 0, cartDoc{Owner: "ann"})
	require.NoError(t, err)
	require.EqualValues(t, 1, v)

	_, err = docs.Put(ctx, "c2", -1, cartDoc{})
	requireCode(t, err, emporium.EINVALID)
	_, err = docs.Put(ctx, "c2", 0, "not a document")
	requireCode(t, err, emporium.EINVALID)
	_, err = docs.Put(ctx, "", 0, cartDoc{})
	requireCode(t, err, emporium.EINVALID)
	_, err = docs.Get(ctx, "c2", nil)
	requireCode(t, err, emporium.ENOTFOUND)
}

// testDocumentsDelete pins down Delete: it removes only the version named,
// tells a missing document (ENOTFOUND) from one at another version
// (ECONFLICT), and changes nothing when it refuses.
func testDocumentsDelete(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	docs := s.Documents("accounts")
	ctx := ctxFor(t)

	requireCode(t, s.Documents("never-written").Delete(ctx, "a", 1), emporium.ENOTFOUND)
	requireCode(t, docs.Delete(ctx, "a", 1), emporium.ENOTFOUND)

	_, err := docs.Put(ctx, "a", 0, bson.M{"name": "ann"})
	require.NoError(t, err)
	_, err = docs.Put(ctx, "a", 1, bson.M{"name": "ann b."})
	require.NoError(t, err)
	_, err = docs.Put(ctx, "b", 0, bson.M{"name": "bob"})
	require.NoError(t, err)

	for _, other := range []int64{1, 3} {
		requireCode(t, docs.Delete(ctx, "a", other), emporium.ECONFLICT)
	}
	requireCode(t, docs.Delete(ctx, "a", 0), emporium.EINVALID)
	requireCode(t, docs.Delete(ctx, "a", -1), emporium.EINVALID)
	var got struct {
		Name string `bson:"name"`
	}
	v, err := docs.Get(ctx, "a", &got)
	require.NoError(t, err, "a refused delete removed the document")
	assert.EqualValues(t, 2, v)
	assert.Equal(t, "ann b.", got.Name)

	require.NoError(t, docs.Delete(ctx, "a", 2))
	_, err = docs.Get(ctx, "a", nil)
	requireCode(t, err, emporium.ENOTFOUND)
	requireCode(t, docs.Delete(ctx, "a", 2), emporium.ENOTFOUND) // deleting twice

	v, err = docs.Get(ctx, "b", &got)
	require.NoError(t, err, "a delete removed another document")
	assert.EqualValues(t, 1, v)
	assert.Equal(t, "bob", got.Name)
}

func testDocumentsRacingWriters(t *testing.T, b Backend) {
	docs := b.open(t, b.Config(t)).Documents("counters")
	ctx := ctxFor(t)
	const writers = 25

	// Everyone creates: one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for w := range writers {
		wg.Go(func() {
			_, err := docs.Put(ctx, "n", 0, bson.M{"by": w})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				created++
			} else if !emporium.IsCode(err, emporium.ECONFLICT) {
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, created, "creates that succeeded")

	// Everyone increments from what they read, retrying on conflict: with
	// lost updates the count would fall short.
	for range writers {
		wg.Go(func() {
			for {
				var cur struct {
					Count int `bson:"count"`
				}
				v, err := docs.Get(ctx, "n", &cur)
				if err != nil {
					t.Errorf("get: %v", err)
					return
				}
				_, err = docs.Put(ctx, "n", v, bson.M{"count": cur.Count + 1})
				if err == nil {
					return
				}
				if !emporium.IsCode(err, emporium.ECONFLICT) {
					t.Errorf("put: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	var final struct {
		Count int `bson:"count"`
	}
	v, err := docs.Get(ctx, "n", &final)
	require.NoError(t, err)
	assert.Equal(t, writers, final.Count, "lost updates")
	assert.EqualValues(t, writers+1, v)
}

// listing is a read-model document.
type listing struct {
	Seq   uint64 `bson:"seq"`
	Title string `bson:"title"`
}

// getListing reads a stored projection through Projections.Get.
func getListing(t *testing.T, s persistence.Store, collection, id string) (listing, bool) {
	t.Helper()
	var got listing
	seq, err := s.Projections().Get(ctxFor(t), collection, id, &got)
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		return listing{}, false
	}
	require.NoError(t, err)
	assert.Equal(t, seq, got.Seq, "Get's seq and the document's")
	return got, true
}

func testProjectionsNewestSeqWins(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	p := s.Projections()
	ctx := ctxFor(t)
	flush := func() {
		t.Helper()
		require.NoError(t, p.Flush(ctx))
	}

	// Older after newer while both are queued.
	p.Put("listings", "p1", 5, listing{Title: "five"})
	p.Put("listings", "p1", 3, listing{Title: "three"})
	flush()
	got, _ := getListing(t, s, "listings", "p1")
	assert.Equal(t, listing{Seq: 5, Title: "five"}, got)

	// Older after newer is stored, and the same seq again.
	p.Put("listings", "p1", 4, listing{Title: "four"})
	p.Put("listings", "p1", 5, listing{Title: "five again"})
	flush()
	got, _ = getListing(t, s, "listings", "p1")
	assert.Equal(t, listing{Seq: 5, Title: "five"}, got)

	// Newer replaces.
	p.Put("listings", "p1", 9, listing{Title: "nine"})
	flush()
	got, _ = getListing(t, s, "listings", "p1")
	assert.Equal(t, listing{Seq: 9, Title: "nine"}, got)

	// The caller may reuse its value once Put returns.
	doc := listing{Title: "first"}
	p.Put("listings", "p2", 1, &doc)
	doc.Title = "changed after Put"
	flush()
	got, _ = getListing(t, s, "listings", "p2")
	assert.Equal(t, "first", got.Title)

	// Many documents in two collections, written in batches that mix fresh
	// projections with stale ones (behind what is stored), so that a bulk
	// write partly fails.
	const ids = 90
	coll := func(i int) string { return []string{"listings", "by_vendor"}[i%2] }
	id := func(i int) string { return fmt.Sprintf("m%d", i) }
	for i := range ids {
		p.Put(coll(i), id(i), 3, listing{Title: "three"})
	}
	flush()
	want := map[int]listing{}
	for i := range ids {
		switch i % 3 {
		case 0: // stale
			p.Put(coll(i), id(i), 2, listing{Title: "two"})
			want[i] = listing{Seq: 3, Title: "three"}
		case 1: // fresh, then an older one in the queue
			p.Put(coll(i), id(i), 5, listing{Title: "five"})
			p.Put(coll(i), id(i), 4, listing{Title: "four"})
			want[i] = listing{Seq: 5, Title: "five"}
		case 2: // same seq as stored: the stored one stays
			p.Put(coll(i), id(i), 3, listing{Title: "three again"})
			want[i] = listing{Seq: 3, Title: "three"}
		}
	}
	p.Put("listings", "new", 1, listing{Title: "new"})
	want[-1] = listing{Seq: 1, Title: "new"}
	flush()
	for i, w := range want {
		c, key := "listings", "new"
		if i >= 0 {
			c, key = coll(i), id(i)
		}
		got, found := getListing(t, s, c, key)
		require.True(t, found, key)
		assert.Equal(t, w, got, key)
	}
}

func testReopenFindsData(t *testing.T, b Backend) {
	cfg := b.Config(t)
	ctx := ctxFor(t)
	s := b.open(t, cfg)
	_, err := s.Journal().Append(ctx, "s", 0, wrapperspb.String("kept"))
	require.NoError(t, err)
	require.NoError(t, s.Snapshots().Save(ctx, "s", 1, wrapperspb.String("state")))
	_, err = s.Documents("docs").Put(ctx, "d", 0, bson.M{"v": "doc"})
	require.NoError(t, err)
	s.Projections().Put("views", "v", 1, bson.M{"v": "view"})
	require.NoError(t, s.Close(ctx))

	s = b.open(t, cfg)
	got, last := loadAll(t, s.Journal(), "s", 0)
	require.EqualValues(t, 1, last)
	requireEvents(t, got, 1, wrapperspb.String("kept"))
	// The commit guard still holds after reopening.
	_, err = s.Journal().Append(ctx, "s", 0, wrapperspb.String("again"))
	requireCode(t, err, emporium.ECONFLICT)

	var state wrapperspb.StringValue
	seq, found, err := s.Snapshots().Load(ctx, "s", &state)
	require.NoError(t, err)
	require.True(t, found)
	assert.EqualValues(t, 1, seq)
	assert.Equal(t, "state", state.GetValue())

	var doc struct{ V string }
	v, err := s.Documents("docs").Get(ctx, "d", &doc)
	require.NoError(t, err)
	assert.EqualValues(t, 1, v)
	assert.Equal(t, "doc", doc.V)

	var view struct{ V string }
	seq, err = s.Projections().Get(ctx, "views", "v", &view)
	require.NoError(t, err)
	assert.EqualValues(t, 1, seq)
	assert.Equal(t, "view", view.V)
}

// testReopenKeepsEverything writes every kind of data several times over
// (events in several commits, replaced snapshots, documents updated and
// deleted, projections replaced and marked, indexes declared), closes the
// store and opens it again: everything reads back as it was last written,
// the queries by field answer as before without declaring their indexes
// again, and writes go on where they stopped.
func testReopenKeepsEverything(t *testing.T, b Backend) {
	cfg := b.Config(t)
	ctx := ctxFor(t)
	s := b.open(t, cfg)
	p := s.Projections()
	require.NoError(t, p.EnsureIndex(ctx, "orders", "vendor", "-_id"))
	require.NoError(t, p.EnsureIndex(ctx, "orders", "due"))
	require.NoError(t, p.EnsureIndex(ctx, "orders", "indexed", "_id"))

	for i := range 3 {
		stream := fmt.Sprintf("order/%d", i)
		seq := uint64(0)
		for c := range 3 {
			last, err := s.Journal().Append(ctx, stream, seq, wrapperspb.Int32(int32(10*i+c)), wrapperspb.Int32(int32(10*i+c)))
			require.NoError(t, err)
			seq = last
		}
		require.NoError(t, s.Snapshots().Save(ctx, stream, 2, wrapperspb.String("at 2")))
		require.NoError(t, s.Snapshots().Save(ctx, stream, 4, wrapperspb.String("at 4")))
	}
	docs := s.Documents("accounts")
	v, err := docs.Put(ctx, "kept", 0, bson.M{"name": "first"})
	require.NoError(t, err)
	_, err = docs.Put(ctx, "kept", v, bson.M{"name": "second"})
	require.NoError(t, err)
	_, err = docs.Put(ctx, "gone", 0, bson.M{"name": "gone"})
	require.NoError(t, err)
	require.NoError(t, docs.Delete(ctx, "gone", 1))

	due := testTime
	for i := range 4 {
		p.Put("orders", fmt.Sprintf("o%d", i), 1, bson.M{"vendor": "v1", "title": "old", "due": due.Add(time.Duration(i) * time.Minute)})
	}
	require.NoError(t, p.Flush(ctx))
	p.Put("orders", "o1", 2, bson.M{"vendor": "v2", "title": "moved"})
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.SetMark(ctx, "orders", "indexed", persistence.Mark{ID: "o0", Seq: 1}, persistence.Mark{ID: "o1", Seq: 2}))
	require.NoError(t, s.Close(ctx))

	s = b.open(t, cfg)
	p = s.Projections()
	for i := range 3 {
		stream := fmt.Sprintf("order/%d", i)
		got, last := loadAll(t, s.Journal(), stream, 0)
		require.EqualValues(t, 6, last, stream)
		require.Len(t, got, 6, stream)
		var state wrapperspb.StringValue
		seq, found, err := s.Snapshots().Load(ctx, stream, &state)
		require.NoError(t, err)
		require.True(t, found)
		assert.EqualValues(t, 4, seq)
		assert.Equal(t, "at 4", state.GetValue())
		// Appends go on at the end, and nowhere else.
		_, err = s.Journal().Append(ctx, stream, 4, wrapperspb.Int32(-1))
		requireCode(t, err, emporium.ECONFLICT)
		last, err = s.Journal().Append(ctx, stream, 6, wrapperspb.Int32(99))
		require.NoError(t, err)
		assert.EqualValues(t, 7, last)
	}

	docs = s.Documents("accounts")
	var acct struct {
		Name string `bson:"name"`
	}
	v, err = docs.Get(ctx, "kept", &acct)
	require.NoError(t, err)
	assert.EqualValues(t, 2, v)
	assert.Equal(t, "second", acct.Name)
	_, err = docs.Get(ctx, "gone", nil)
	requireCode(t, err, emporium.ENOTFOUND)
	_, err = docs.Put(ctx, "kept", 1, bson.M{"name": "stale"})
	requireCode(t, err, emporium.ECONFLICT)
	v, err = docs.Put(ctx, "kept", 2, bson.M{"name": "third"})
	require.NoError(t, err)
	assert.EqualValues(t, 3, v)

	var moved listing
	seq, err := p.Get(ctx, "orders", "o1", &moved)
	require.NoError(t, err)
	assert.EqualValues(t, 2, seq)
	assert.Equal(t, "moved", moved.Title)
	var page []view
	require.NoError(t, p.List(ctx, "orders", "vendor", "v1", "", 10, &page))
	assert.Equal(t, []string{"o3", "o2", "o0"}, viewIDs(page))
	dueIDs, err := p.DueBefore(ctx, "orders", "due", due.Add(90*time.Second), 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"o0"}, dueIDs, "o1 has no due time any more, o2 and o3 are later")
	unmarked, err := p.Unmarked(ctx, "orders", "indexed", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"o2", "o3"}, unmarked)
	n, err := p.Count(ctx, "orders")
	require.NoError(t, err)
	assert.Equal(t, 4, n)
}

func testCloseFlushesAndRefuses(t *testing.T, b Backend) {
	cfg := b.Config(t)
	// Nothing would leave on its own for an hour: only Close writes.
	cfg.GroupCommit = persistence.GroupCommit{Linger: time.Hour, MaxBatch: 1000}
	ctx := ctxFor(t)
	s := b.open(t, cfg)
	for i := range 20 {
		s.Projections().Put("views", fmt.Sprintf("v%d", i), 1, bson.M{"i": i})
	}
	pending := make(chan error, 1)
	go func() {
		_, err := s.Journal().Append(ctx, "s", 0, wrapperspb.String("queued at close"))
		pending <- err
	}()
	// Close may start before the append is queued; then the append is
	// refused, which is also correct. Either way nothing is lost silently.
	require.NoError(t, s.Close(ctx))
	var appendErr error
	select {
	case appendErr = <-pending:
	case <-ctx.Done():
		t.Fatal("the append queued at close never returned")
	}

	_, err := s.Journal().Append(ctx, "s", 1, wrapperspb.String("late"))
	requireCode(t, err, emporium.EUNAVAILABLE)
	_, err = s.Documents("docs").Put(ctx, "d", 0, bson.M{"late": true})
	requireCode(t, err, emporium.EUNAVAILABLE)
	require.NoError(t, s.Close(ctx), "Close twice")

	s = b.open(t, cfg)
	n, err := s.Projections().Count(ctx, "views")
	require.NoError(t, err)
	assert.Equal(t, 20, n, "projections queued before Close")
	got, _ := loadAll(t, s.Journal(), "s", 0)
	if appendErr == nil {
		requireEvents(t, got, 1, wrapperspb.String("queued at close"))
	} else {
		requireCode(t, appendErr, emporium.EUNAVAILABLE)
		assert.Empty(t, got)
	}
	_, err = s.Documents("docs").Get(ctx, "d", nil)
	requireCode(t, err, emporium.ENOTFOUND)
}
