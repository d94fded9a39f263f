package search

import (
	"context"
	"log/slog"
	"time"

	"github.com/emporium-shop/emporium"
)

// Several indexes over one store. Elasticsearch is one index that every
// member of a cluster writes, so the outbox marks of the Source say what it
// holds. An embedded (bleve) index is each member's own: a product that one
// member indexed and acknowledged is not in the others' indexes. So members
// with embedded indexes share a Feed: whoever indexes products (because its
// grain changed them, or because it found them pending) publishes their ids,
// and every member follows the feed from a cursor of its own, kept with its
// index (FeedCursors), indexing what the others published. The outbox marks
// still make sure somebody indexes, and so publishes, every change.
//
// A member whose index has no cursor yet (a new member, or an index removed
// to be rebuilt) first indexes every product (Reindex), because products
// acknowledged before it joined are in no feed entry it will read, then
// follows the feed from its start. Reading an entry twice costs a reload,
// nothing more: the index keeps each product's highest version.

// DefaultFeedInterval is how often an indexer looks for feed entries it has
// not read.
const DefaultFeedInterval = time.Second

// Feed is the shared, ordered log of the products members indexed.
type Feed interface {
	// Publish appends one entry naming ids. It may fail with EUNAVAILABLE
	// while the store is down; the indexer retries the batch.
	Publish(ctx context.Context, ids []string) error
	// Read returns the ids of the entries after cursor, in order, stopping
	// after the entry that brings them to limit or more, and the cursor of
	// the last entry read (cursor itself when there is none).
	Read(ctx context.Context, cursor uint64, limit int) (ids []string, next uint64, err error)
}

// FeedCursors keeps an index's position in the feed, with the index.
type FeedCursors interface {
	// LoadFeedCursor returns the saved position; found is false when none
	// was ever saved.
	LoadFeedCursor(ctx context.Context) (cursor uint64, found bool, err error)
	// SaveFeedCursor saves the position.
	SaveFeedCursor(ctx context.Context, cursor uint64) error
}

// follow keeps the index in step with the feed until ctx ends: it catches
// up first when the index has no cursor, then reads new entries every
// FeedInterval.
func (x *Indexer) follow(ctx context.Context) {
	backoff := time.Duration(0)
	grow := func(d time.Duration) time.Duration { return min(max(2*d, x.cfg.MinBackoff), x.cfg.MaxBackoff) }
	for ctx.Err() == nil {
		err := x.catchUp(ctx)
		if err == nil {
			break
		}
		backoff = grow(backoff)
		x.log.Warn("search: catching up with the store failed; retrying", slog.Duration("retry_in", backoff), slog.Any("error", err))
		if !pause(ctx, backoff) {
			return
		}
	}
	backoff = 0
	wait := x.cfg.FeedInterval
	for pause(ctx, wait) {
		full, err := x.readFeed(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			backoff = grow(backoff)
			x.log.Warn("search: following the search feed failed; retrying", slog.Duration("retry_in", backoff), slog.Any("error", err))
			wait = backoff
		case full:
			// More entries wait: read on at once.
			backoff, wait = 0, 0
		default:
			backoff, wait = 0, x.cfg.FeedInterval
		}
	}
}

// catchUp loads the index's cursor, or, for an index without one, indexes
// every product and starts from the feed's beginning.
func (x *Indexer) catchUp(ctx context.Context) error {
	const op = "search.Indexer.catchUp"
	cursor, found, err := x.cfg.Cursors.LoadFeedCursor(ctx)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	if !found {
		x.log.Info("search: this index follows no feed position yet; indexing every product first")
		if err := x.Reindex(ctx, nil); err != nil {
			return emporium.Wrap(op, err)
		}
		if err := x.cfg.Cursors.SaveFeedCursor(ctx, 0); err != nil {
			return emporium.Wrap(op, err)
		}
	}
	x.cursor.Store(cursor)
	return nil
}

// readFeed indexes the products of the feed entries after the cursor, up to
// about MaxBatch of them, and moves the cursor past them. It reports whether
// the batch was full, so that more entries may wait.
func (x *Indexer) readFeed(ctx context.Context) (full bool, err error) {
	const op = "search.Indexer.readFeed"
	cursor := x.cursor.Load()
	ids, next, err := x.cfg.Feed.Read(ctx, cursor, x.cfg.MaxBatch)
	if err != nil {
		return false, emporium.Wrap(op, err)
	}
	if next == cursor {
		return false, nil
	}
	if err := x.write(ctx, unique(ids), false); err != nil {
		return false, emporium.Wrap(op, err)
	}
	if err := x.cfg.Cursors.SaveFeedCursor(ctx, next); err != nil {
		return false, emporium.Wrap(op, err)
	}
	x.cursor.Store(next)
	return len(ids) >= x.cfg.MaxBatch, nil
}

// unique returns ids without repeats, in their first order.
func unique(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
