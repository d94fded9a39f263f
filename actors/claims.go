package actors

import (
	"context"
	"time"

	"github.com/emporium-shop/emporium"
)

// Claims keeps uniqueness claims: documents that make a key of a collection
// (an email, a username, a SKU) belong to one owner (a user id, a product
// id). Claiming is insert-if-absent, which is atomic on every store, so two
// entities racing for one key cannot both win.
type Claims interface {
	// Claim makes key of collection belong to owner. It is nil when the
	// key is now, or was already, owner's, and ECONFLICT when another owner
	// holds it.
	Claim(ctx context.Context, collection, key, owner string) error
	// Owner answers the owner of key and since when; ENOTFOUND when nobody
	// holds it.
	Owner(ctx context.Context, collection, key string) (owner string, claimedAt time.Time, err error)
	// Takeover moves key from the owner from to the owner to; ECONFLICT when
	// from no longer holds it.
	Takeover(ctx context.Context, collection, key, from, to string) error
	// Release gives key up if owner holds it; nil when it does not.
	Release(ctx context.Context, collection, key, owner string) error
}

// ClaimDocuments is the part of a versioned document collection
// (*persistence.Documents) that claims use.
type ClaimDocuments interface {
	Get(ctx context.Context, id string, into any) (version int64, err error)
	Put(ctx context.Context, id string, expectedVersion int64, doc any) (version int64, err error)
	Delete(ctx context.Context, id string, expectedVersion int64) error
}

// DocumentClaims keeps claims as versioned documents: insert-if-absent
// claims a key, and the version guards takeover and release.
type DocumentClaims struct {
	// Collection returns the documents of a collection, e.g.
	// func(c string) ClaimDocuments { return store.Documents(c) }.
	Collection func(collection string) ClaimDocuments
	// Now stamps claims; nil means the wall clock.
	Now func() time.Time
}

// claimDoc is a stored claim.
type claimDoc struct {
	Owner     string    `bson:"owner"`
	ClaimedAt time.Time `bson:"claimed_at"`
}

func (c *DocumentClaims) now() time.Time {
	if c.Now == nil {
		return time.Now().UTC()
	}
	return c.Now()
}

// Claim implements Claims.
func (c *DocumentClaims) Claim(ctx context.Context, collection, key, owner string) error {
	docs := c.Collection(collection)
	_, err := docs.Put(ctx, key, 0, claimDoc{Owner: owner, ClaimedAt: c.now()})
	if !emporium.IsCode(err, emporium.ECONFLICT) {
		return err
	}
	var held claimDoc
	if _, gerr := docs.Get(ctx, key, &held); gerr != nil {
		if emporium.IsCode(gerr, emporium.ENOTFOUND) {
			// Released meanwhile: try once more.
			_, err = docs.Put(ctx, key, 0, claimDoc{Owner: owner, ClaimedAt: c.now()})
			return err
		}
		return gerr
	}
	if held.Owner == owner {
		return nil // a retry
	}
	return emporium.Errorf(emporium.ECONFLICT, "%s %q is taken", collection, key)
}

// Owner implements Claims.
func (c *DocumentClaims) Owner(ctx context.Context, collection, key string) (string, time.Time, error) {
	var held claimDoc
	if _, err := c.Collection(collection).Get(ctx, key, &held); err != nil {
		return "", time.Time{}, err
	}
	return held.Owner, held.ClaimedAt, nil
}

// Takeover implements Claims.
func (c *DocumentClaims) Takeover(ctx context.Context, collection, key, from, to string) error {
	docs := c.Collection(collection)
	var held claimDoc
	version, err := docs.Get(ctx, key, &held)
	if err != nil {
		return err
	}
	if held.Owner != from {
		return emporium.Errorf(emporium.ECONFLICT, "%s %q changed hands", collection, key)
	}
	_, err = docs.Put(ctx, key, version, claimDoc{Owner: to, ClaimedAt: c.now()})
	return err
}

// Release implements Claims.
func (c *DocumentClaims) Release(ctx context.Context, collection, key, owner string) error {
	docs := c.Collection(collection)
	var held claimDoc
	version, err := docs.Get(ctx, key, &held)
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		return nil
	}
	if err != nil {
		return err
	}
	if held.Owner != owner {
		return nil
	}
	err = docs.Delete(ctx, key, version)
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		return nil
	}
	return err
}

var _ Claims = (*DocumentClaims)(nil)
