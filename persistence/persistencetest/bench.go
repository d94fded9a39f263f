package persistencetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium/persistence"
)

// Appenders is how many goroutines per GOMAXPROCS append at once in the
// parallel journal benchmarks, standing in for the busy grains of a node.
const Appenders = 128

// BenchJournalAppend measures group commit on the journals open returns (a
// fresh one per sub-benchmark): many goroutines append to streams of their
// own, each waiting for its append to be durable before the next, as grains
// do. It reports appends/s and events/s, with 1 and 5 events an append.
func BenchJournalAppend(b *testing.B, open func(b *testing.B) persistence.Journal) {
	for _, events := range []int{1, 5} {
		b.Run(fmt.Sprintf("events_per_append=%d", events), func(b *testing.B) {
			j := open(b)
			batch := make([]proto.Message, events)
			for i := range batch {
				batch[i] = wrapperspb.String(fmt.Sprintf("an event of a typical size, number %d", i))
			}
			var streams atomic.Int64
			b.SetParallelism(Appenders)
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
			b.ReportMetric(float64(b.N)/elapsed, "appends/s")
			b.ReportMetric(float64(b.N*events)/elapsed, "events/s")
		})
	}
}

// BenchJournalAppendSequential measures the latency of one append when
// nothing else is written: the linger plus one durable write.
func BenchJournalAppendSequential(b *testing.B, j persistence.Journal) {
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

// BenchJournalAppended measures the view repair's journal query
// (Journal.Appended) on a journal of commits commits over about commits/4
// streams (a multiple of the appenders), stamped a millisecond apart in
// the order they were stored, asking for the last window of them: the
// scan a member makes once after another died.
func BenchJournalAppended(b *testing.B, open func(b *testing.B, now func() time.Time) persistence.Journal, commits, window int) {
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var stamped atomic.Int64
	j := open(b, func() time.Time { return start.Add(time.Duration(stamped.Add(1)) * time.Millisecond) })
	ctx := context.Background()
	ev := wrapperspb.String("an event of a typical size")
	// Appenders write at once, each its own streams, so that group commit
	// makes the seeding quick.
	const appenders = 64
	streams := max(commits/4/appenders, 1) * appenders // stream s is appender s%appenders's
	var wg sync.WaitGroup
	for g := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs := map[int]uint64{}
			for i := g; i < commits; i += appenders {
				s := i % streams
				last, err := j.Append(ctx, fmt.Sprintf("inventory-SKU-%06d", s), seqs[s], ev)
				if err != nil {
					b.Error(err)
					return
				}
				seqs[s] = last
			}
		}()
	}
	wg.Wait()
	end := start.Add(time.Duration(stamped.Load()) * time.Millisecond)
	after := end.Add(-time.Duration(window) * time.Millisecond)
	b.ResetTimer()
	for b.Loop() {
		got, err := j.Appended(ctx, after, end)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) == 0 || len(got) > window {
			b.Fatalf("%d streams in the window of %d commits", len(got), window)
		}
	}
}
