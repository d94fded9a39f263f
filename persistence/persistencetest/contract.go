package persistencetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

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
	{"JournalAppended", false, false, testJournalAppended},
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
