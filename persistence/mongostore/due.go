package mongostore

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/emporium-shop/emporium/persistence"
)

// DueBefore returns the ids of up to limit read-model documents of
// collection whose time field is at or before t, earliest first. Sweepers use
// it to find entities with work due (an expiry, a retry) whose grain may not
// be active to notice.
func (p *Projections) DueBefore(ctx context.Context, collection, field string, t time.Time, limit int) ([]string, error) {
	const op = "mongostore.Projections.DueBefore"
	if field == "" || limit <= 0 {
		return nil, persistence.Invalid(op, "finding due %s needs a field and a positive limit", collection)
	}
	if err := p.store.ensureCollection(ctx, op, collection); err != nil {
		return nil, err
	}
	coll := p.store.db.Collection(collection)
	opts := options.Find().
		SetProjection(bson.D{{Key: "_id", Value: 1}}).
		SetSort(bson.D{{Key: field, Value: 1}}).
		SetLimit(int64(limit))
	cur, err := coll.Find(ctx, bson.D{{Key: field, Value: bson.D{{Key: "$lte", Value: t}}}}, opts)
	if err != nil {
		return nil, failure(op, err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, failure(op, err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}
