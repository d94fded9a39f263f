package mongostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

// The read side of projections: lookups by _id, the filtered lists the API
// pages through, and the marks an outbox follower (the search indexer)
// leaves on the projections it has handled.
//
// On FerretDB only lookups by _id are fast (see ferret.go): every other
// filter and every sort reads the whole collection, whatever indexes exist.
// So lookups of many ids are run as concurrent lookups by _id there.

// lookupParallelism bounds the concurrent lookups by _id of one GetMany on
// FerretDB, where a $in filter would read the whole collection.
const lookupParallelism = 8

// Get decodes the stored projection with the given id of collection into
// into (which may be nil to learn only the seq) and returns its seq. A
// missing projection is ENOTFOUND. Get reads the store: a projection still
// queued by Put is not seen until it is written (see Flush).
func (p *Projections) Get(ctx context.Context, collection, id string, into any) (seq uint64, err error) {
	const op = "mongostore.Projections.Get"
	if err := p.store.ensureCollection(ctx, op, collection); err != nil {
		return 0, err
	}
	raw, err := p.store.db.Collection(collection).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, &emporium.Error{Code: emporium.ENOTFOUND, Message: fmt.Sprintf("%s %q does not exist", collection, id), Op: op}
	}
	if err != nil {
		return 0, failure(op, err)
	}
	stored, ok := raw.Lookup("seq").AsInt64OK()
	if !ok || stored < 0 {
		return 0, persistence.Corrupt(op, nil, "%s %q has no seq", collection, id)
	}
	if into != nil {
		if err := bson.Unmarshal(raw, into); err != nil {
			return 0, persistence.Corrupt(op, err, "cannot decode %s %q", collection, id)
		}
	}
	return uint64(stored), nil
}

// GetMany decodes the stored documents of collection with the given ids
// into into, a pointer to a slice whose elements a document decodes into
// (structs, maps, bson.Raw). The slice is replaced by one element per
// document found, in the order of ids; ids without a document are left out,
// and repeated ids are looked up once. A struct element may declare a seq
// field (`bson:"seq"`, any integer type) to receive each projection's seq.
// GetMany decodes whatever the collection holds, so it also serves
// collections of versioned documents.
func (p *Projections) GetMany(ctx context.Context, collection string, ids []string, into any) error {
	const op = "mongostore.Projections.GetMany"
	if err := persistence.CheckSliceTarget(op, into); err != nil {
		return err
	}
	if err := p.store.ensureCollection(ctx, op, collection); err != nil {
		return err
	}
	ids = persistence.Unique(ids)
	coll := p.store.db.Collection(collection)
	var raws []bson.Raw
	var err error
	if p.store.ferret {
		raws, err = lookupEach(ctx, coll, ids, nil)
	} else {
		raws, err = lookupIn(ctx, coll, ids, nil)
	}
	if err != nil {
		return failure(op, err)
	}
	return persistence.DecodeInto(op, collection, raws, into)
}

// List decodes into into (a pointer to a slice, as for GetMany) the
// documents of collection whose field equals value, by descending _id, at
// most limit of them, and only those whose _id sorts before beforeID when
// it is not empty. Passing the last _id of a page as beforeID fetches the
// next page; ids made in time order (UUIDv7) make the order newest first.
//
// On MongoDB an index made by EnsureIndex(ctx, collection, field, "-_id")
// serves the query; on FerretDB every List reads the whole
// collection (see ferret.go), which suits collections of thousands of
// documents, not millions.
func (p *Projections) List(ctx context.Context, collection, field string, value any, beforeID string, limit int, into any) error {
	const op = "mongostore.Projections.List"
	if err := persistence.CheckSliceTarget(op, into); err != nil {
		return err
	}
	if field == "" || limit <= 0 {
		return persistence.Invalid(op, "listing %s needs a field and a positive limit", collection)
	}
	if err := p.store.ensureCollection(ctx, op, collection); err != nil {
		return err
	}
	filter := bson.D{{Key: field, Value: value}}
	if beforeID != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: beforeID}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit))
	cur, err := p.store.db.Collection(collection).Find(ctx, filter, opts)
	if err != nil {
		return failure(op, err)
	}
	var raws []bson.Raw
	if err := cur.All(ctx, &raws); err != nil {
		return failure(op, err)
	}
	return persistence.DecodeInto(op, collection, raws, into)
}

// EnsureIndex creates, unless it exists, the index of collection on keys,
// in order; a key written "-name" is descending. It is idempotent and meant
// for start-up. The index is named after its keys, as MongoDB names it, so
// creating the same index again changes nothing, while a different index
// on the same keys fails.
//
// On FerretDB it only creates the collection: FerretDB never reads through
// a secondary index (a filter on any field but _id reads the whole table),
// so an index would cost every write and speed up no read (ferret.go).
func (p *Projections) EnsureIndex(ctx context.Context, collection string, keys ...string) error {
	const op = "mongostore.Projections.EnsureIndex"
	if collection == "" || len(keys) == 0 {
		return persistence.Invalid(op, "an index needs a collection and at least one key")
	}
	spec := make(bson.D, len(keys))
	for i, k := range keys {
		name, order := strings.TrimPrefix(k, "-"), 1
		if name != k {
			order = -1
		}
		if name == "" {
			return persistence.Invalid(op, "index key %d of %s is empty", i, collection)
		}
		spec[i] = bson.E{Key: name, Value: order}
	}
	if err := p.store.ensureCollection(ctx, op, collection); err != nil {
		return err
	}
	if p.store.ferret {
		return nil
	}
	_, err := p.store.db.Collection(collection).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: spec})
	return failure(op, err)
}

// SetMark sets field to the seq on each marked projection of collection
// that is still stored at that seq, and leaves the others alone. An outbox
// follower marks what it has handled: since a Put replaces the whole
// document, a projection written later has no mark and shows up in
// Unmarked again, and a mark never lands on a projection newer than the one
// handled. field must not be one the projections themselves carry.
//
// On MongoDB each mark is one atomic conditional update. On FerretDB a
// conditional update reads and then rewrites the whole document with
// nothing in between, which could bring back an older projection, so there
// SetMark holds the lock the projection writer takes for its batches, reads
// each seq by _id and rewrites only the projections still at their seq.
func (p *Projections) SetMark(ctx context.Context, collection, field string, marks ...persistence.Mark) error {
	const op = "mongostore.Projections.SetMark"
	if field == "" || field == "_id" || field == "seq" {
		return persistence.Invalid(op, "the mark field of %s must be named, and neither _id nor seq", collection)
	}
	for _, m := range marks {
		if m.ID == "" || m.Seq == 0 || m.Seq > 1<<63-1 {
			return persistence.Invalid(op, "a mark of %s needs an id and a seq from 1 to 2^63-1", collection)
		}
	}
	if len(marks) == 0 {
		return nil
	}
	if err := p.store.ensureCollection(ctx, op, collection); err != nil {
		return err
	}
	coll := p.store.db.Collection(collection)
	set := func(filter bson.D, seq uint64) mongo.WriteModel {
		return mongo.NewUpdateOneModel().SetFilter(filter).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: int64(seq)}}}})
	}
	var models []mongo.WriteModel
	if !p.store.serialWrites() {
		for _, m := range marks {
			models = append(models, set(bson.D{{Key: "_id", Value: m.ID}, {Key: "seq", Value: int64(m.Seq)}}, m.Seq))
		}
		return failure(op, p.store.bulkWrite(ctx, coll, models, false))
	}

	if err := p.lockSerial(ctx); err != nil {
		return failure(op, err)
	}
	defer p.unlockSerial()
	ids := make([]string, len(marks))
	for i, m := range marks {
		ids[i] = m.ID
	}
	stored, err := lookupEach(ctx, coll, persistence.Unique(ids), bson.D{{Key: "seq", Value: 1}})
	if err != nil {
		return failure(op, err)
	}
	seqs := make(map[string]int64, len(stored))
	for _, raw := range stored {
		id, _ := raw.Lookup("_id").StringValueOK()
		seq, _ := raw.Lookup("seq").AsInt64OK()
		seqs[id] = seq
	}
	for _, m := range marks {
		if seq, ok := seqs[m.ID]; ok && seq == int64(m.Seq) {
			models = append(models, set(bson.D{{Key: "_id", Value: m.ID}}, m.Seq))
		}
	}
	if len(models) == 0 {
		return nil
	}
	return failure(op, p.store.bulkWrite(ctx, coll, models, true))
}

// Unmarked returns the ids of up to limit projections of collection that
// have no field (see SetMark), by ascending _id, after afterID when it is
// not empty: passing the last id of a page fetches the next. It reads the
// whole collection on FerretDB, so it suits sweeps, not requests.
func (p *Projections) Unmarked(ctx context.Context, collection, field, afterID string, limit int) ([]string, error) {
	const op = "mongostore.Projections.Unmarked"
	if field == "" || limit <= 0 {
		return nil, persistence.Invalid(op, "finding unmarked %s needs a field and a positive limit", collection)
	}
	if err := p.store.ensureCollection(ctx, op, collection); err != nil {
		return nil, err
	}
	filter := bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: false}}}}
	if afterID != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: afterID}}})
	}
	ids, err := findIDs(ctx, p.store.db.Collection(collection), filter, bson.D{{Key: "_id", Value: 1}}, limit)
	return ids, failure(op, err)
}

// findIDs returns the _id of up to limit documents of coll that match
// filter, in sort order: the shape of every query that feeds a sweep.
func findIDs(ctx context.Context, coll *mongo.Collection, filter, sort bson.D, limit int) ([]string, error) {
	opts := options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetSort(sort).SetLimit(int64(limit))
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}

// EachID calls fn with the ids of every document of collection, batch ids
// at a time, in no particular order, through one cursor: the way a rebuild
// walks a whole collection without sorting it (which FerretDB would do in
// memory). Documents added or removed during the walk may or may not be
// seen. An error from fn stops the walk and is returned as it is.
func (p *Projections) EachID(ctx context.Context, collection string, batch int, fn func(ids []string) error) error {
	const op = "mongostore.Projections.EachID"
	if batch <= 0 {
		return persistence.Invalid(op, "walking %s needs a positive batch size", collection)
	}
	if err := p.store.ensureCollection(ctx, op, collection); err != nil {
		return err
	}
	opts := options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(int32(min(batch, 1<<20)))
	cur, err := p.store.db.Collection(collection).Find(ctx, bson.D{}, opts)
	if err != nil {
		return failure(op, err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	ids := make([]string, 0, batch)
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if !ok {
			return persistence.Corrupt(op, nil, "%s holds a document whose _id is not a string", collection)
		}
		if ids = append(ids, id); len(ids) == batch {
			if err := fn(ids); err != nil {
				return err
			}
			ids = make([]string, 0, batch)
		}
	}
	if err := cur.Err(); err != nil {
		return failure(op, err)
	}
	if len(ids) > 0 {
		return fn(ids)
	}
	return nil
}

// Count returns about how many documents collection holds: the server's
// count from its metadata, which an unclean shutdown of MongoDB can leave
// slightly off. It serves progress reports, not decisions.
func (p *Projections) Count(ctx context.Context, collection string) (int, error) {
	const op = "mongostore.Projections.Count"
	if err := p.store.ensureCollection(ctx, op, collection); err != nil {
		return 0, err
	}
	n, err := p.store.db.Collection(collection).EstimatedDocumentCount(ctx)
	if err != nil {
		return 0, failure(op, err)
	}
	return int(n), nil
}

// lockSerial takes the lock that serialises, on FerretDB, the projection
// writer's batches and SetMark (see writeSerialized), or fails when ctx
// ends first.
func (p *Projections) lockSerial(ctx context.Context) error {
	select {
	case p.serial <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Projections) unlockSerial() { <-p.serial }

// lookupIn reads the documents with the given ids in one query, and returns
// them in the order of ids.
func lookupIn(ctx context.Context, coll *mongo.Collection, ids []string, projection bson.D) ([]bson.Raw, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	opts := options.Find()
	if projection != nil {
		opts.SetProjection(projection)
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, opts)
	if err != nil {
		return nil, err
	}
	var found []bson.Raw
	if err := cur.All(ctx, &found); err != nil {
		return nil, err
	}
	byID := make(map[string]bson.Raw, len(found))
	for _, raw := range found {
		if id, ok := raw.Lookup("_id").StringValueOK(); ok {
			byID[id] = raw
		}
	}
	out := make([]bson.Raw, 0, len(found))
	for _, id := range ids {
		if raw, ok := byID[id]; ok {
			out = append(out, raw)
		}
	}
	return out, nil
}

// lookupEach reads the documents with the given ids one lookup by _id each,
// a few at a time, and returns them in the order of ids: on FerretDB that
// is an index seek per id, where a $in filter reads the whole collection.
func lookupEach(ctx context.Context, coll *mongo.Collection, ids []string, projection bson.D) ([]bson.Raw, error) {
	found := make([]bson.Raw, len(ids))
	errs := make([]error, len(ids))
	slots := make(chan struct{}, lookupParallelism)
	var wg sync.WaitGroup
	for i, id := range ids {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			opts := options.FindOne()
			if projection != nil {
				opts.SetProjection(projection)
			}
			raw, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts).Raw()
			if !errors.Is(err, mongo.ErrNoDocuments) {
				found[i], errs[i] = raw, err
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first: an outage fails every lookup alike
		}
	}
	out := found[:0]
	for _, raw := range found {
		if raw != nil {
			out = append(out, raw)
		}
	}
	return out, nil
}
