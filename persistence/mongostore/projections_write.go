package mongostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/emporium-shop/emporium/persistence"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Projections are the read models on MongoDB (persistence.Projections):
// the shared write queue, whose batches become bulk writes here, and the
// queries of projections_read.go.
type Projections struct {
	*persistence.ProjectionQueue
	store *Store
	// serial is held, on FerretDB, by the writer while it writes a batch and
	// by SetMark, whose read-check-write sequences must not interleave.
	serial chan struct{}
}

func newProjections(s *Store, gc persistence.GroupCommit) *Projections {
	p := &Projections{store: s, serial: make(chan struct{}, 1)}
	p.ProjectionQueue = persistence.NewProjectionQueue(s.log, gc, p.writeBatch)
	return p
}

// writeBatch stores a batch of projections, one bulk write per collection,
// and returns those to try again with the first error met.
func (p *Projections) writeBatch(ctx context.Context, batch []*persistence.Projection) (retry []*persistence.Projection, err error) {
	var errs []error
	for _, group := range byCollection(batch) {
		write := p.writeConditional
		if p.store.serialWrites() {
			write = p.writeSerialized
		}
		failed, err := write(ctx, group)
		retry = append(retry, failed...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return retry, errors.Join(errs...)
}

// byCollection splits a batch by collection.
func byCollection(batch []*persistence.Projection) [][]*persistence.Projection {
	index := map[string]int{}
	var groups [][]*persistence.Projection
	for _, q := range batch {
		i, ok := index[q.Collection]
		if !ok {
			i = len(groups)
			index[q.Collection] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], q)
	}
	return groups
}

// writeConditional stores one collection's projections on MongoDB as an
// unordered bulk of upserts that each replace only an older document. When
// the bulk reports any error, every projection of the group is written again
// on its own: per-statement results of a bulk update are exact on MongoDB,
// but not on every server that speaks its protocol (FerretDB stops at the
// first error and reports index 0), and writing a stored projection again
// changes nothing. Errors are rare here (a stale projection, an outage), so
// the extra round trips are too.
func (p *Projections) writeConditional(ctx context.Context, group []*persistence.Projection) (retry []*persistence.Projection, err error) {
	coll := p.store.db.Collection(group[0].Collection)
	models := make([]mongo.WriteModel, len(group))
	for i, q := range group {
		models[i] = mongo.NewReplaceOneModel().SetFilter(olderThan(q)).SetReplacement(q.Doc).SetUpsert(true)
	}
	if err := p.store.bulkWrite(ctx, coll, models, false); err == nil {
		return nil, nil
	}
	var errs []error
	for _, q := range group {
		if err := replaceIfOlder(ctx, coll, q); err != nil {
			retry = append(retry, q)
			errs = append(errs, err)
		}
	}
	return retry, errors.Join(errs...)
}

// olderThan matches the stored projection of q's id if it has a lower seq.
func olderThan(q *persistence.Projection) bson.D {
	return bson.D{{Key: "_id", Value: q.ID}, {Key: "seq", Value: bson.D{{Key: "$lt", Value: int64(q.Seq)}}}}
}

// replaceIfOlder writes one projection unless the stored one is as new. A
// duplicate key means the filter found no older document and the insert
// found one with the _id: normally a newer one, but possibly one that a
// concurrent writer inserted with a lower seq, so the stored seq decides.
func replaceIfOlder(ctx context.Context, coll *mongo.Collection, q *persistence.Projection) error {
	_, err := coll.ReplaceOne(ctx, olderThan(q), q.Doc, options.Replace().SetUpsert(true))
	if !mongo.IsDuplicateKeyError(err) {
		return err
	}
	stored, found, err := storedCounter(ctx, coll, q.ID, "seq")
	switch {
	case err != nil:
		return err
	case !found || stored < int64(q.Seq):
		return fmt.Errorf("projection %s/%s at seq %d lost a race with seq %d; retrying", coll.Name(), q.ID, q.Seq, stored)
	}
	return nil
}

// writeSerialized stores one collection's projections on FerretDB, where a
// filter on anything but _id scans the collection and the update command
// stops at its first error whatever ordered says (see ferret.go). The
// writer is the only one writing projections, and holds the lock SetMark
// takes to mark them, so reading each stored seq and then replacing by _id
// is safe. After any failure the whole group is tried again, because
// FerretDB does not say which statements ran; running one twice is
// harmless, since the retry reads the stored seq first.
func (p *Projections) writeSerialized(ctx context.Context, group []*persistence.Projection) (retry []*persistence.Projection, err error) {
	name := group[0].Collection
	if err := p.store.ensureCollection(ctx, "mongostore.Projections.Flush", name); err != nil {
		return group, err
	}
	if err := p.lockSerial(ctx); err != nil {
		return group, err
	}
	defer p.unlockSerial()
	coll := p.store.db.Collection(name)
	var models []mongo.WriteModel
	for _, q := range group {
		stored, found, err := storedCounter(ctx, coll, q.ID, "seq")
		if err != nil {
			return group, err
		}
		if found && stored >= int64(q.Seq) {
			continue
		}
		byID := bson.D{{Key: "_id", Value: q.ID}}
		models = append(models, mongo.NewReplaceOneModel().SetFilter(byID).SetReplacement(q.Doc).SetUpsert(true))
	}
	if len(models) == 0 {
		return nil, nil
	}
	if err := p.store.bulkWrite(ctx, coll, models, true); err != nil {
		return group, err
	}
	return nil, nil
}
