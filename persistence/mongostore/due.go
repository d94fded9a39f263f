package mongostore

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

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
	filter := bson.D{{Key: field, Value: bson.D{{Key: "$lte", Value: t}}}}
	ids, err := findIDs(ctx, p.store.db.Collection(collection), filter, bson.D{{Key: field, Value: 1}}, limit)
	return ids, failure(op, err)
}
