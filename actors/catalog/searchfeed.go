package catalog

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
	memberpb "github.com/emporium-shop/emporium/protos/memberpb"
	"github.com/emporium-shop/emporium/search"
)

// SearchFeedStream is the journal stream of the search feed: the ordered
// log, in the shared store, of the products the members indexed, which the
// members with embedded indexes follow (search/feed.go). The journal gives
// it what a feed needs without anything new in the store: a total order (the
// stream's seqs, which are the cursors) and appends that conflict rather
// than interleave, on MongoDB and SQLite alike.
const SearchFeedStream = "search-feed"

// publishTries bounds the appends of one Publish that lose to another
// member's; each loss moves the known tail forward, so a few suffice unless
// many members publish at once, and the indexer retries the batch then.
const publishTries = 32

// SearchFeed is the search.Feed of a cluster over the shared journal.
type SearchFeed struct {
	Journal persistence.Journal

	mu sync.Mutex
	// tail is the last seq of the stream this member knows of; an append
	// expects it and, when another member appended first, learns the new
	// one.
	tail uint64
}

// Publish implements search.Feed: one entry, appended after the stream's
// current tail.
func (f *SearchFeed) Publish(ctx context.Context, ids []string) error {
	const op = "catalog.SearchFeed.Publish"
	if len(ids) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	entry := &memberpb.SearchFeedEntry{ProductIds: ids}
	for try := range publishTries {
		seq, err := f.Journal.Append(ctx, SearchFeedStream, f.tail, entry)
		if err == nil {
			f.tail = seq
			return nil
		}
		if !emporium.IsCode(err, emporium.ECONFLICT) {
			return emporium.Wrap(op, err)
		}
		// Another member appended: find the tail and try after it, after a
		// pause of up to a few milliseconds (growing with each loss), so
		// that members racing in step do not keep colliding.
		last, err := f.Journal.Load(ctx, SearchFeedStream, f.tail, func(uint64, time.Time, proto.Message) error { return nil })
		if err != nil {
			return emporium.Wrap(op, err)
		}
		f.tail = last
		select {
		case <-ctx.Done():
			return emporium.Wrap(op, ctx.Err())
		case <-time.After(time.Duration(rand.Int64N(int64(try+1) * int64(time.Millisecond)))):
		}
	}
	return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "Other members kept publishing to the search feed first; the indexer retries."}
}

// errFeedPageFull stops a journal load once a page of ids is read.
var errFeedPageFull = errors.New("feed page full")

// Read implements search.Feed.
func (f *SearchFeed) Read(ctx context.Context, cursor uint64, limit int) (ids []string, next uint64, err error) {
	const op = "catalog.SearchFeed.Read"
	next = cursor
	_, err = f.Journal.Load(ctx, SearchFeedStream, cursor, func(seq uint64, _ time.Time, ev proto.Message) error {
		if e, ok := ev.(*memberpb.SearchFeedEntry); ok {
			ids = append(ids, e.GetProductIds()...)
		}
		next = seq
		if len(ids) >= limit {
			return errFeedPageFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFeedPageFull) {
		return nil, cursor, emporium.Wrap(op, err)
	}
	return ids, next, nil
}

var _ search.Feed = (*SearchFeed)(nil)
