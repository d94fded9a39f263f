package mongostore

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

// Documents is a collection of versioned state documents
// (persistence.Documents): _id is the identity, and a write filters on the
// version it replaces.
type Documents struct {
	store *Store
	name  string
	coll  *mongo.Collection
}

// Get decodes the document with the given id into into (which may be nil to
// learn only the version) and returns its version. A missing document is
// ENOTFOUND.
func (d *Documents) Get(ctx context.Context, id string, into any) (version int64, err error) {
	const op = "mongostore.Documents.Get"
	if err := d.store.ensureCollection(ctx, op, d.name); err != nil {
		return 0, err
	}
	raw, err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, &emporium.Error{Code: emporium.ENOTFOUND, Message: fmt.Sprintf("%s %q does not exist", d.name, id), Op: op}
	}
	if err != nil {
		return 0, failure(op, err)
	}
	version, ok := raw.Lookup("version").AsInt64OK()
	if !ok {
		return 0, persistence.Corrupt(op, nil, "%s %q has no version", d.name, id)
	}
	if into != nil {
		if err := bson.Unmarshal(raw, into); err != nil {
			return 0, persistence.Corrupt(op, err, "cannot decode %s %q", d.name, id)
		}
	}
	return version, nil
}

// Put writes doc as the document with the given id and returns its new
// version. expectedVersion 0 creates the document; it is ECONFLICT if one
// exists. Otherwise the stored document must be at expectedVersion, or Put
// is ECONFLICT and writes nothing.
func (d *Documents) Put(ctx context.Context, id string, expectedVersion int64, doc any) (version int64, err error) {
	const op = "mongostore.Documents.Put"
	if id == "" {
		return 0, persistence.Invalid(op, "the %s id is empty", d.name)
	}
	if expectedVersion < 0 {
		return 0, persistence.Invalid(op, "version %d of %s %q is negative", expectedVersion, d.name, id)
	}
	if err := d.store.ensureCollection(ctx, op, d.name); err != nil {
		return 0, err
	}
	version = expectedVersion + 1
	stored, err := persistence.EncodeDocument(doc, id, "version", version)
	if err != nil {
		return 0, persistence.Invalid(op, "%s %q cannot be encoded: %v", d.name, id, err)
	}

	if expectedVersion == 0 {
		// Inserts are atomic on MongoDB and FerretDB alike: the unique _id
		// index turns a second create into a duplicate.
		_, err := d.coll.InsertOne(ctx, stored)
		if mongo.IsDuplicateKeyError(err) {
			return 0, persistence.Conflict(op, "%s %q already exists", d.name, id)
		}
		if err != nil {
			return 0, failure(op, err)
		}
		return version, nil
	}

	if d.store.serialWrites() {
		if err := d.putSerialized(ctx, op, id, expectedVersion, stored); err != nil {
			return 0, err
		}
		return version, nil
	}
	res, err := d.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: expectedVersion}}, stored)
	if err != nil {
		return 0, failure(op, err)
	}
	if res.MatchedCount == 0 {
		return 0, persistence.Conflict(op, "%s %q is no longer at version %d; reload and decide again", d.name, id, expectedVersion)
	}
	return version, nil
}

// putSerialized is the version-checked replace on FerretDB (see ferret.go).
func (d *Documents) putSerialized(ctx context.Context, op, id string, expectedVersion int64, stored bson.Raw) error {
	unlock, err := d.store.locks.lock(ctx, d.name, id)
	if err != nil {
		return failure(op, err)
	}
	defer unlock()
	current, found, err := d.storedVersion(ctx, id)
	switch {
	case err != nil:
		return failure(op, err)
	case !found:
		return persistence.Conflict(op, "%s %q was deleted; reload and decide again", d.name, id)
	case current != expectedVersion:
		return persistence.Conflict(op, "%s %q is at version %d, not %d; reload and decide again", d.name, id, current, expectedVersion)
	}
	_, err = d.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, stored)
	return failure(op, err)
}

// Delete removes the document with the given id if it is at
// expectedVersion. A missing document is ENOTFOUND, another version
// ECONFLICT.
func (d *Documents) Delete(ctx context.Context, id string, expectedVersion int64) error {
	const op = "mongostore.Documents.Delete"
	if expectedVersion <= 0 {
		return persistence.Invalid(op, "deleting %s %q needs the version it is at", d.name, id)
	}
	if err := d.store.ensureCollection(ctx, op, d.name); err != nil {
		return err
	}
	if d.store.serialWrites() {
		unlock, err := d.store.locks.lock(ctx, d.name, id)
		if err != nil {
			return failure(op, err)
		}
		defer unlock()
		if err := d.checkVersion(ctx, op, id, expectedVersion); err != nil {
			return err
		}
		_, err = d.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		return failure(op, err)
	}
	res, err := d.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: expectedVersion}})
	if err != nil {
		return failure(op, err)
	}
	if res.DeletedCount == 1 {
		return nil
	}
	// Nothing matched: tell a missing document from a changed one.
	return d.checkVersion(ctx, op, id, expectedVersion)
}

// checkVersion returns nil if the document is at version, ENOTFOUND if it is
// missing and ECONFLICT if it is at another version.
func (d *Documents) checkVersion(ctx context.Context, op, id string, version int64) error {
	current, found, err := d.storedVersion(ctx, id)
	switch {
	case err != nil:
		return failure(op, err)
	case !found:
		return &emporium.Error{Code: emporium.ENOTFOUND, Message: fmt.Sprintf("%s %q does not exist", d.name, id), Op: op}
	case current != version:
		return persistence.Conflict(op, "%s %q is at version %d, not %d; reload and decide again", d.name, id, current, version)
	}
	return nil
}

// storedVersion reads only the version of the document with the given id.
func (d *Documents) storedVersion(ctx context.Context, id string) (version int64, found bool, err error) {
	return storedCounter(ctx, d.coll, id, "version")
}

// storedCounter reads only the given int64 field (a version or a seq) of
// the document with the given id.
func storedCounter(ctx context.Context, coll *mongo.Collection, id, field string) (value int64, found bool, err error) {
	opts := options.FindOne().SetProjection(bson.D{{Key: field, Value: 1}})
	raw, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	value, ok := raw.Lookup(field).AsInt64OK()
	if !ok {
		return 0, true, fmt.Errorf("%s %q has no %s", coll.Name(), id, field)
	}
	return value, true, nil
}
