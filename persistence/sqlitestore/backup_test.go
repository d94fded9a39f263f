package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence/sqlitestore"
)

// TestBackupWhileWriting takes a backup while appends and projections are
// being written, then opens the copy as a store: it holds everything
// acknowledged before the backup began, nothing after it ended, every
// stream without a gap, and its declared indexes still answer.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	src := t.TempDir()
	s := open(t, src)
	p := s.Projections()
	require.NoError(t, p.EnsureIndex(ctx, "orders", "vendor", "-_id"))
	for i := range 50 {
		p.Put("orders", fmt.Sprintf("o%02d", i), 1, bson.M{"vendor": fmt.Sprintf("v%d", i%5)})
	}
	require.NoError(t, p.Flush(ctx))

	// Writers append event n as seq n of a stream of their own, and put a
	// projection of the stream at that seq, until told to stop.
	const writers = 4
	var (
		acked [writers]atomic.Uint64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		errs  = make(chan error, writers)
	)
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("stream-%d", w)
			for seq := uint64(1); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Journal().Append(ctx, stream, seq-1, wrapperspb.UInt64(seq)); err != nil {
					errs <- fmt.Errorf("%s: %w", stream, err)
					return
				}
				p.Put("streams", stream, seq, bson.M{"last": int64(seq)})
				acked[w].Store(seq)
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case err := <-errs:
				t.Fatal(err)
			case <-ctx.Done():
				t.Fatalf("timed out waiting until %s", what)
			case <-time.After(time.Millisecond):
			}
		}
	}
	allPast := func(seqs [writers]uint64) func() bool {
		return func() bool {
			for w := range writers {
				if acked[w].Load() <= seqs[w] {
					return false
				}
			}
			return true
		}
	}
	waitFor("every writer has appended", allPast([writers]uint64{}))

	var before, after [writers]uint64
	for w := range writers {
		before[w] = acked[w].Load()
	}
	dest := filepath.Join(t.TempDir(), "copy")
	backupFile := filepath.Join(dest, sqlitestore.Dir, sqlitestore.File)
	require.NoError(t, sqlitestore.Backup(ctx, src, backupFile))
	info, err := os.Stat(backupFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the copy holds password hashes: owner only")
	for w := range writers {
		after[w] = acked[w].Load() + 1 // an append may be durable, not yet acknowledged
	}
	// The writers went on during the backup and after it.
	waitFor("every writer has appended after the backup", allPast(after))
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	c := open(t, dest)
	for w := range writers {
		stream := fmt.Sprintf("stream-%d", w)
		var seqs []uint64
		last, err := c.Journal().Load(ctx, stream, 0, func(seq uint64, _ time.Time, ev proto.Message) error {
			if got := ev.(*wrapperspb.UInt64Value).GetValue(); got != seq {
				return fmt.Errorf("event %d holds %d", seq, got)
			}
			seqs = append(seqs, seq)
			return nil
		})
		require.NoError(t, err, stream)
		assert.GreaterOrEqual(t, last, before[w], "%s: the copy lacks appends acknowledged before the backup", stream)
		assert.LessOrEqual(t, last, after[w], "%s: the copy holds appends made after the backup", stream)
		assert.Len(t, seqs, int(last))
		_, err = c.Journal().Append(ctx, stream, last, wrapperspb.UInt64(last+1))
		assert.NoError(t, err, "%s: the copy's stream cannot go on", stream)
	}
	var page []bson.Raw
	require.NoError(t, c.Projections().List(ctx, "orders", "vendor", "v3", "", 100, &page), "the declared index is in the copy")
	assert.Len(t, page, 10)
	n, err := c.Projections().Count(ctx, "streams")
	require.NoError(t, err)
	assert.LessOrEqual(t, n, writers)
}

func TestBackupRefusesToOverwriteOrInvent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	err := sqlitestore.Backup(ctx, t.TempDir(), filepath.Join(t.TempDir(), "copy.db"))
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "a directory without a store")

	src := t.TempDir()
	s := open(t, src)
	_, err = s.Documents("docs").Put(ctx, "d", 0, bson.M{"v": 1})
	require.NoError(t, err)
	dest := filepath.Join(t.TempDir(), "copy.db")
	require.NoError(t, sqlitestore.Backup(ctx, src, dest))
	err = sqlitestore.Backup(ctx, src, dest)
	assert.Equal(t, emporium.ECONFLICT, emporium.ErrorCode(err), "a backup over an existing file")
	var e *emporium.Error
	require.True(t, errors.As(err, &e))
	assert.Contains(t, e.Message, "never overwrites")
}
