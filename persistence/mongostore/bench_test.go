package mongostore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium/persistence"
)

// appenders is how many goroutines per GOMAXPROCS append at once in the
// parallel benchmarks, standing in for the busy grains of one node.
const appenders = 128

// BenchmarkJournalAppend measures group commit on FerretDB in-process: many
// goroutines append to streams of their own, each waiting for its append to
// be durable before the next, as grains do.
func BenchmarkJournalAppend(b *testing.B) {
	for _, events := range []int{1, 5} {
		b.Run(fmt.Sprintf("events_per_append=%d", events), func(b *testing.B) {
			j := openFerret(b, persistence.Config{}).Journal()
			batch := make([]proto.Message, events)
			for i := range batch {
				batch[i] = wrapperspb.String(fmt.Sprintf("an event of a typical size, number %d", i))
			}
			var streams atomic.Int64
			b.SetParallelism(appenders)
			b.ResetTimer()
			started := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				stream := fmt.Sprintf("bench-%d", streams.Add(1))
				seq := uint64(0)
				for pb.Next() {
					last, err := j.Append(context.Background(), stream, seq, batch...)
					if err != nil {
						b.Error(err)
						return
					}
					seq = last
				}
			})
			elapsed := time.Since(started).Seconds()
			b.ReportMetric(float64(b.N*events)/elapsed, "events/s")
			b.ReportMetric(float64(b.N)/elapsed, "appends/s")
		})
	}
}

// BenchmarkJournalAppendSequential measures the latency of one append when
// nothing else is written: the linger plus one durable write.
func BenchmarkJournalAppendSequential(b *testing.B) {
	j := openFerret(b, persistence.Config{}).Journal()
	seq := uint64(0)
	ev := wrapperspb.String("an event of a typical size")
	for b.Loop() {
		last, err := j.Append(context.Background(), "bench", seq, ev)
		if err != nil {
			b.Fatal(err)
		}
		seq = last
	}
}

// BenchmarkInsertOneBaseline is what group commit is measured against: the
// same parallel writers each inserting one document at a time.
func BenchmarkInsertOneBaseline(b *testing.B) {
	coll := openFerret(b, persistence.Config{}).Database().Collection("baseline")
	var ids atomic.Int64
	b.SetParallelism(appenders)
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
