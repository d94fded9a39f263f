package persistence_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
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

func (r *recorder) count(level slog.Level, msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if rec.Level == level && rec.Message == msg {
			n++
		}
	}
	return n
}

func TestProjectionsRetryFailedWrites(t *testing.T) {
	t.Parallel()
	logs := &recorder{}
	cfg := persistencetest.Config(t)
	cfg.Logger = slog.New(logs)
	s := persistencetest.OpenConfig(t, cfg)
	outage := errors.New("the server went away")
	attempts := persistence.FailProjectionWrites(s, 2, outage)
	ctx := ctxFor(t)

	s.Projections().Put("views", "v1", 1, bson.M{"title": "one"})
	// While writes fail, Flush keeps waiting and reports the cause when its
	// context ends; the projection stays queued.
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	err := s.Projections().Flush(short)
	if err != nil {
		assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	}

	require.NoError(t, s.Projections().Flush(ctx))
	assert.EqualValues(t, 3, attempts.Load(), "two failures, then the write that worked")
	assert.Equal(t, 2, logs.count(slog.LevelWarn, "persistence: projection write failed; retrying"))
	var got struct{ Title string }
	require.NoError(t, s.Database().Collection("views").FindOne(ctx, bson.D{{Key: "_id", Value: "v1"}}).Decode(&got))
	assert.Equal(t, "one", got.Title)
}

func TestProjectionsRejectBadInputLoudly(t *testing.T) {
	t.Parallel()
	logs := &recorder{}
	cfg := persistencetest.Config(t)
	cfg.Logger = slog.New(logs)
	s := persistencetest.OpenConfig(t, cfg)

	s.Projections().Put("views", "", 1, bson.M{})
	s.Projections().Put("views", "v", 1, "not a document")
	require.NoError(t, s.Projections().Flush(ctxFor(t)))
	assert.Equal(t, 1, logs.count(slog.LevelError, "persistence: projection dropped: it needs a collection, an id and a seq up to 2^63-1"))
	assert.Equal(t, 1, logs.count(slog.LevelError, "persistence: projection dropped: it cannot be encoded"))
}
