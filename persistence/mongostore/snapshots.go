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

// Snapshots keeps the latest snapshot of each stream's state with the seq it
// reflects, so that a grain loads it and then only the journal after it.
type Snapshots struct {
	store *Store
	coll  *mongo.Collection
}

// snapshot is the stored form of a snapshot; _id is the stream.
type snapshot struct {
	Stream string    `bson:"_id"`
	Seq    int64     `bson:"seq"`
	Type   string    `bson:"type"`
	Data   []byte    `bson:"data"`
	At     time.Time `bson:"at"`
}

// Save stores state as the snapshot of stream at seq, unless a snapshot at
// seq or later is already stored: an old activation of a grain can never
// replace a newer snapshot with an older one.
func (s *Snapshots) Save(ctx context.Context, stream string, seq uint64, state proto.Message) error {
	const op = "mongostore.Snapshots.Save"
	if stream == "" {
		return persistence.Invalid(op, "the stream name is empty")
	}
	if state == nil || !state.ProtoReflect().IsValid() {
		return persistence.Invalid(op, "the snapshot of stream %q is nil", stream)
	}
	if seq > math.MaxInt64 {
		return persistence.Invalid(op, "seq %d of stream %q is out of range", seq, stream)
	}
	data, err := proto.Marshal(state)
	if err != nil {
		return persistence.Corrupt(op, err, "cannot encode the snapshot of stream %q", stream)
	}
	snap := snapshot{Stream: stream, Seq: int64(seq), Type: string(proto.MessageName(state)), Data: data, At: s.store.now()}
	if s.store.serialWrites() {
		return failure(op, s.saveSerialized(ctx, snap))
	}
	// The filter matches only an older snapshot; when a newer one exists,
	// the upsert tries to insert a second document with the same _id and
	// fails as a duplicate, which is the "keep the newer" outcome. (When two
	// first snapshots of a stream race, the older may win the insert; that
	// costs the next load a longer replay, never correctness.)
	filter := bson.D{{Key: "_id", Value: stream}, {Key: "seq", Value: bson.D{{Key: "$lt", Value: snap.Seq}}}}
	_, err = s.coll.ReplaceOne(ctx, filter, snap, options.Replace().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return failure(op, err)
}

// saveSerialized is Save on FerretDB: read the stored seq and replace by
// _id, under the key lock, since FerretDB's conditional writes are neither
// atomic nor indexed (see ferret.go).
func (s *Snapshots) saveSerialized(ctx context.Context, snap snapshot) error {
	unlock, err := s.store.locks.lock(ctx, snapshotsCollection, snap.Stream)
	if err != nil {
		return err
	}
	defer unlock()
	stored, found, err := storedCounter(ctx, s.coll, snap.Stream, "seq")
	if err != nil || (found && stored >= snap.Seq) {
		return err
	}
	byID := bson.D{{Key: "_id", Value: snap.Stream}}
	_, err = s.coll.ReplaceOne(ctx, byID, snap, options.Replace().SetUpsert(true))
	return err
}

// Load reads the snapshot of stream into into and returns its seq. found is
// false, and into untouched, when the stream has no snapshot. A snapshot of
// another message type than into's fails with EINTERNAL.
func (s *Snapshots) Load(ctx context.Context, stream string, into proto.Message) (seq uint64, found bool, err error) {
	const op = "mongostore.Snapshots.Load"
	if stream == "" {
		return 0, false, persistence.Invalid(op, "the stream name is empty")
	}
	if into == nil || !into.ProtoReflect().IsValid() {
		return 0, false, persistence.Invalid(op, "no message to load the snapshot of stream %q into", stream)
	}
	var snap snapshot
	err = s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: stream}}).Decode(&snap)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, failure(op, err)
	}
	if want := string(proto.MessageName(into)); snap.Type != want {
		return 0, false, persistence.Corrupt(op, nil, "the snapshot of stream %q is a %s, not a %s", stream, snap.Type, want)
	}
	if err := proto.Unmarshal(snap.Data, into); err != nil {
		return 0, false, persistence.Corrupt(op, err, "cannot decode the snapshot of stream %q", stream)
	}
	return uint64(snap.Seq), true, nil
}
