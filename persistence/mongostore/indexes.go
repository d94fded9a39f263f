package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collections the store owns.
const (
	journalCollection   = "journal"
	snapshotsCollection = "snapshots"
)

// collectionIndexes returns the secondary indexes of a collection the store
// owns. Index names are fixed so that creating them again is a no-op, and a
// changed definition under the same name fails Open instead of silently
// keeping the old one. The models are built afresh for every call because
// the driver writes into their options while creating them.
//
// FerretDB gets none: it never reads through a secondary index (see
// ferret.go), the _id already makes (stream, seq) unique, and maintaining
// the two journal indexes cost a third of the embedded store's append
// throughput (about 11,000 against 8,000 appends/s on the development
// machine).
func collectionIndexes(name string, ferret bool) []mongo.IndexModel {
	if name != journalCollection || ferret {
		return nil // and snapshots are read and written by _id only
	}
	return []mongo.IndexModel{
		// Guards optimistic concurrency next to the _id (which already
		// encodes stream and first seq), so that the rule holds even for a
		// commit written with another _id scheme.
		{Keys: bson.D{{Key: "stream", Value: 1}, {Key: "seq", Value: 1}}, Options: options.Index().SetName("stream_seq").SetUnique(true)},
		// Serves Load: the commits of a stream that end after a seq.
		{Keys: bson.D{{Key: "stream", Value: 1}, {Key: "last", Value: 1}}, Options: options.Index().SetName("stream_last")},
	}
}

// createIndexes creates the store's collections and indexes, or finds them
// there. Each index gets its own command because FerretDB panics when one
// createIndexes command names several indexes that already exist.
func (s *Store) createIndexes(ctx context.Context) error {
	for _, name := range []string{journalCollection, snapshotsCollection} {
		if err := s.ensureCollection(ctx, "mongostore.Open", name); err != nil {
			return err
		}
		for _, model := range collectionIndexes(name, s.ferret) {
			if _, err := s.db.Collection(name).Indexes().CreateOne(ctx, model); err != nil {
				return fmt.Errorf("create index on %s: %w", name, err)
			}
		}
	}
	return nil
}
