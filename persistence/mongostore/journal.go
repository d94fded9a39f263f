package mongostore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/emporium-shop/emporium/persistence"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Journal is the append-only event log of every stream (one grain's
// events), with optimistic concurrency: an append names the seq it expects
// the stream to be at, and loses with ECONFLICT if another writer got there
// first.
//
// Each Append is stored as one document, a commit, so that its events land
// together or not at all without transactions, which FerretDB lacks. A
// commit's _id is "<stream>:<first seq, zero-padded to 20 digits>", so two
// writers at the same expected seq collide on the _id.
type Journal struct {
	store   *Store
	coll    *mongo.Collection
	commits *persistence.Committer
	timeout time.Duration
}

// commit is the stored form of one Append.
type commit struct {
	ID     string        `bson:"_id"`
	Stream string        `bson:"stream"`
	Seq    int64         `bson:"seq"`  // seq of the first event
	Last   int64         `bson:"last"` // seq of the last event
	Events []eventRecord `bson:"events"`
	At     time.Time     `bson:"at"`
}

// eventRecord is one event: its protobuf full name and wire encoding.
type eventRecord struct {
	Type string `bson:"type"`
	Data []byte `bson:"data"`
}

func newJournal(s *Store, gc persistence.GroupCommit) *Journal {
	j := &Journal{store: s, coll: s.db.Collection(journalCollection), timeout: gc.WriteTimeout}
	j.commits = persistence.NewCommitter(gc, j.insert)
	return j
}

// commitID returns the _id of the commit of stream that starts at seq. The
// fixed width keeps the ids of a stream in seq order, and since the seq is
// always the last 20 characters, no two (stream, seq) pairs share an id.
func commitID(stream string, seq int64) string {
	return fmt.Sprintf("%s:%020d", stream, seq)
}

// Append stores events as the next events of stream, numbered
// expectedSeq+1 to expectedSeq+len(events), and returns the seq of the last
// one. expectedSeq is the last seq the caller has seen: 0 for a new stream,
// otherwise a seq returned by Load or by a successful Append. It must never
// be a seq in the middle of someone else's commit.
//
// If another writer has already appended after expectedSeq, Append fails
// with ECONFLICT and stores nothing; reload the stream and decide again.
// Appending no events is EINVALID.
//
// Appends of all callers are written together in batches (see GroupCommit),
// and Append returns when its own events are durable. If ctx ends first,
// Append returns EUNAVAILABLE at once, but its events stay queued and may
// still be stored: reload before deciding again. After Close it fails with
// EUNAVAILABLE.
func (j *Journal) Append(ctx context.Context, stream string, expectedSeq uint64, events ...proto.Message) (lastSeq uint64, err error) {
	const op = "mongostore.Journal.Append"
	if stream == "" {
		return 0, persistence.Invalid(op, "the stream name is empty")
	}
	if len(events) == 0 {
		return 0, persistence.Invalid(op, "no events to append to stream %q", stream)
	}
	n := uint64(len(events))
	if expectedSeq > math.MaxInt64-n {
		return 0, persistence.Invalid(op, "stream %q cannot grow past seq %d", stream, uint64(math.MaxInt64))
	}
	first := int64(expectedSeq) + 1
	c := &commit{
		ID:     commitID(stream, first),
		Stream: stream,
		Seq:    first,
		Last:   first + int64(n) - 1,
		Events: make([]eventRecord, len(events)),
		At:     j.store.now(),
	}
	for i, ev := range events {
		if ev == nil || !ev.ProtoReflect().IsValid() {
			return 0, persistence.Invalid(op, "event %d of %d for stream %q is nil", i+1, n, stream)
		}
		data, err := proto.Marshal(ev)
		if err != nil {
			return 0, persistence.Corrupt(op, err, "cannot encode event %d (%s) for stream %q", i+1, proto.MessageName(ev), stream)
		}
		c.Events[i] = eventRecord{Type: string(proto.MessageName(ev)), Data: data}
	}

	err = j.commits.Submit(ctx, op, c)
	switch {
	case err == nil:
		return uint64(c.Last), nil
	case isDuplicateWrite(err):
		return 0, persistence.Conflict(op, "stream %q already has events after seq %d; reload and decide again", stream, expectedSeq)
	default:
		return 0, failure(op, err)
	}
}

// insert writes one batch of commits as an unordered InsertMany, so that a
// commit that collides (a conflict) or fails does not stop the others, and
// returns the outcome of each commit.
func (j *Journal) insert(docs []any) []error {
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	_, err := j.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	return perDocument(err, len(docs))
}

// perDocument spreads the error of a batch write of n documents over the
// documents: the write error reported for a document's index is that
// document's outcome, the others succeeded. An error that is not about
// single documents (a network failure, a write concern not met) fails all:
// none of them is known to be durable.
func perDocument(err error, n int) []error {
	errs := make([]error, n)
	if err == nil {
		return errs
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil && len(bwe.WriteErrors) > 0 {
		valid := true
		for _, we := range bwe.WriteErrors {
			valid = valid && we.Index >= 0 && we.Index < n
		}
		if valid {
			for _, we := range bwe.WriteErrors {
				errs[we.Index] = we.WriteError
			}
			return errs
		}
	}
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// isDuplicateWrite reports whether err is the write error of a single
// document that collided with an existing one. A batch-level error that
// merely contains such a write error does not count: it fails every document
// of the batch, and none of them lost a race.
func isDuplicateWrite(err error) bool {
	var we mongo.WriteError
	return errors.As(err, &we) && mongo.IsDuplicateKeyError(we)
}

// decodeEvent turns a stored event back into its message, looked up by type
// name among the linked protobuf types.
func decodeEvent(e eventRecord) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(e.Type))
	if err != nil {
		return nil, fmt.Errorf("unknown event type %q (is its protos package linked into this binary?): %w", e.Type, err)
	}
	msg := mt.New().Interface()
	if err := proto.Unmarshal(e.Data, msg); err != nil {
		return nil, fmt.Errorf("decode %s: %w", e.Type, err)
	}
	return msg, nil
}
