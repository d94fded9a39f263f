package mongostore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// BenchmarkJournalAppend measures group commit on FerretDB in-process
// (persistencetest.BenchJournalAppend).
func BenchmarkJournalAppend(b *testing.B) {
	persistencetest.BenchJournalAppend(b, func(b *testing.B) persistence.Journal {
		return openFerret(b, persistence.Config{}).Journal()
	})
}

// BenchmarkJournalAppendSequential measures one append with nothing to
// batch with: the linger plus one durable write.
func BenchmarkJournalAppendSequential(b *testing.B) {
	persistencetest.BenchJournalAppendSequential(b, openFerret(b, persistence.Config{}).Journal())
}

// BenchmarkInsertOneBaseline is what group commit is measured against: the
// same parallel writers each inserting one document at a time.
func BenchmarkInsertOneBaseline(b *testing.B) {
	coll := openFerret(b, persistence.Config{}).Database().Collection("baseline")
	var ids atomic.Int64
	b.SetParallelism(persistencetest.Appenders)
	b.ResetTimer()
	started := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: ids.Add(1)}, {Key: "data", Value: "a document of a typical size"}})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(started).Seconds(), "docs/s")
}

// BenchmarkJournalAppended measures the view repair's journal scan
// (persistencetest.BenchJournalAppended) on FerretDB, which scans the
// collection: 20,000 commits, the last 2,000 asked for.
func BenchmarkJournalAppended(b *testing.B) {
	persistencetest.BenchJournalAppended(b, func(b *testing.B, now func() time.Time) persistence.Journal {
		return openFerret(b, persistence.Config{Now: now}).Journal()
	}, 20_000, 2_000)
}
