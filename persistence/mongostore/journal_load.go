package mongostore

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/emporium-shop/emporium/persistence"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/proto"
)

// maxProbe bounds how far back Load looks, one _id lookup per seq, for the
// commit that holds afterSeq when walking a stream on FerretDB. Commits are
// one decision's events, so a handful of seqs nearly always suffices.
const maxProbe = 32

// Load calls fn, in order, for every event of stream with a seq above
// afterSeq, with the time its commit was stored, and returns the stream's
// last seq, or afterSeq when there is nothing after it. afterSeq may fall in
// the middle of a commit, as when resuming from a snapshot.
//
// An event whose type is not linked into the binary, or a stream whose
// commits do not follow each other seq by seq, fails with EINTERNAL. If fn
// returns an error, Load stops and returns that error unchanged with the seq
// of the last event fn accepted.
func (j *Journal) Load(ctx context.Context, stream string, afterSeq uint64, fn func(seq uint64, at time.Time, ev proto.Message) error) (lastSeq uint64, err error) {
	const op = "mongostore.Journal.Load"
	if stream == "" {
		return 0, persistence.Invalid(op, "the stream name is empty")
	}
	if fn == nil {
		return 0, persistence.Invalid(op, "no function to receive the events of stream %q", stream)
	}
	if afterSeq >= math.MaxInt64 {
		return afterSeq, nil
	}
	r := &streamReader{op: op, stream: stream, after: int64(afterSeq), last: int64(afterSeq), fn: fn}
	if j.store.ferret {
		err = j.walk(ctx, r)
	} else {
		err = j.query(ctx, r)
	}
	var ferr *callbackError
	if errors.As(err, &ferr) {
		return uint64(r.last), ferr.err
	}
	return uint64(r.last), failure(op, err)
}

// query reads the commits that end after afterSeq with one indexed query.
// Commits of a stream form a chain, so ordering by last is ordering by seq,
// and it lets the (stream, last) index serve both the filter and the sort.
func (j *Journal) query(ctx context.Context, r *streamReader) error {
	filter := bson.D{{Key: "stream", Value: r.stream}, {Key: "last", Value: bson.D{{Key: "$gt", Value: r.after}}}}
	cur, err := j.coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "last", Value: 1}}))
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var c commit
		if err := cur.Decode(&c); err != nil {
			return persistence.Corrupt(r.op, err, "cannot decode a commit of stream %q", r.stream)
		}
		if err := r.apply(&c); err != nil {
			return err
		}
	}
	return cur.Err()
}

// walk reads a stream commit by commit through _id lookups, the only reads
// FerretDB serves from an index (see ferret.go): the commit after one that
// ends at seq n has the _id of seq n+1, and the first miss is the end.
func (j *Journal) walk(ctx context.Context, r *streamReader) error {
	c, err := j.commitAt(ctx, r.stream, r.after+1)
	if err != nil {
		return err
	}
	if c == nil && r.after > 0 {
		// afterSeq ends the stream, or lies inside a commit that started
		// earlier: look for the commit that holds it.
		var found bool
		if c, found, err = j.commitHolding(ctx, r.stream, r.after); err != nil {
			return err
		}
		if !found {
			return j.query(ctx, r)
		}
	}
	for c != nil {
		if err := r.apply(c); err != nil {
			return err
		}
		if c, err = j.commitAt(ctx, r.stream, c.Last+1); err != nil {
			return err
		}
	}
	return nil
}

// commitHolding looks back from seq for the commit that holds it. It returns
// that commit when events follow seq in it, nil when the stream ends at or
// before seq, and found=false when no commit starts within maxProbe seqs.
func (j *Journal) commitHolding(ctx context.Context, stream string, seq int64) (c *commit, found bool, err error) {
	for start := seq; start > 0 && start > seq-maxProbe; start-- {
		held, err := j.commitAt(ctx, stream, start)
		switch {
		case err != nil:
			return nil, false, err
		case held == nil:
			continue
		case held.Last <= seq:
			// The stream's latest commit ends at or before seq: had a
			// commit started after it, the lookup of seq+1 or of a later
			// start would have found it.
			return nil, true, nil
		default:
			return held, true, nil
		}
	}
	return nil, false, nil
}

// commitAt returns the commit of stream starting at seq, or nil.
func (j *Journal) commitAt(ctx context.Context, stream string, seq int64) (*commit, error) {
	var c commit
	err := j.coll.FindOne(ctx, bson.D{{Key: "_id", Value: commitID(stream, seq)}}).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// streamReader checks that commits follow each other and hands their events
// to the caller.
type streamReader struct {
	op     string
	stream string
	after  int64 // deliver events after this seq
	last   int64 // seq of the last event delivered, or after
	seen   bool  // a commit has been applied
	fn     func(seq uint64, at time.Time, ev proto.Message) error
}

// callbackError carries the error of the caller's fn through Load unchanged.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

func (r *streamReader) apply(c *commit) error {
	if c.Stream != r.stream || c.Seq < 1 || c.Last < c.Seq || int64(len(c.Events)) != c.Last-c.Seq+1 {
		return persistence.Corrupt(r.op, nil, "commit %q of stream %q is malformed", c.ID, r.stream)
	}
	switch {
	case !r.seen && c.Seq > r.after+1:
		return persistence.Corrupt(r.op, nil, "events %d to %d of stream %q are missing", r.after+1, c.Seq-1, r.stream)
	case r.seen && c.Seq != r.last+1:
		return persistence.Corrupt(r.op, nil, "commit %q of stream %q does not follow seq %d", c.ID, r.stream, r.last)
	}
	r.seen = true
	for i, e := range c.Events {
		seq := c.Seq + int64(i)
		if seq <= r.after {
			continue
		}
		ev, err := decodeEvent(e)
		if err != nil {
			return persistence.Corrupt(r.op, err, "cannot read event %d of stream %q", seq, r.stream)
		}
		if err := r.fn(uint64(seq), c.At, ev); err != nil {
			return &callbackError{err: err}
		}
		r.last = seq
	}
	return nil
}

// Appended implements persistence.Journal. The commits' time has no index
// (one would cost every append for a query that runs after a crash), so
// this reads the whole journal, two fields a commit.
func (j *Journal) Appended(ctx context.Context, after, until time.Time) (map[string]uint64, error) {
	const op = "mongostore.Journal.Appended"
	filter := bson.D{{Key: "at", Value: bson.D{{Key: "$gt", Value: after}, {Key: "$lte", Value: until}}}}
	cur, err := j.coll.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "stream", Value: 1}, {Key: "last", Value: 1}}))
	if err != nil {
		return nil, failure(op, err)
	}
	defer cur.Close(ctx)
	streams := map[string]uint64{}
	for cur.Next(ctx) {
		var c struct {
			Stream string `bson:"stream"`
			Last   int64  `bson:"last"`
		}
		if err := cur.Decode(&c); err != nil {
			return nil, persistence.Corrupt(op, err, "cannot read a commit's stream and seq")
		}
		streams[c.Stream] = max(streams[c.Stream], uint64(c.Last))
	}
	if err := cur.Err(); err != nil {
		return nil, failure(op, err)
	}
	return streams, nil
}
