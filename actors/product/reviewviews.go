package product

import (
	"context"
	"strconv"
	"time"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// The reviews' read model: one document per review, written by the
// ProductGrain after the events are durable, which the public list of a
// product's reviews reads with an indexed query.

// ReviewCollection holds one document per review (ReviewView), with the
// review id as its id. Review ids sort by the time they were posted, so the
// list's order by descending id is newest first.
const ReviewCollection = "reviews"

// Fields of a ReviewView the list queries filter on; both are empty on a
// review that is not listed, so that no query finds it.
const (
	// ReviewListedField is the product id of a listed review.
	ReviewListedField = "listed"
	// ReviewStarsField is ReviewStarsKey of a listed review.
	ReviewStarsField = "listed_stars"
)

// ReviewStarsKey is the value of ReviewStarsField of the product's listed
// reviews with the given stars.
func ReviewStarsKey(productID string, stars int) string {
	return productID + "|" + strconv.Itoa(stars)
}

// ReviewView is a review's read-model document. A deleted or removed
// review keeps a document without its text and out of every list.
type ReviewView struct {
	ProductID string `bson:"product_id"`
	Listed    string `bson:"listed"`
	Stars     string `bson:"listed_stars"`
	// Status is "listed", "deleted" or "removed".
	Status           string     `bson:"status"`
	Rating           int32      `bson:"rating"`
	Title            string     `bson:"title"`
	Body             string     `bson:"body"`
	VerifiedPurchase bool       `bson:"verified_purchase"`
	Reply            *ReplyView `bson:"reply,omitempty"`
	CreatedAt        time.Time  `bson:"created_at"`
	UpdatedAt        time.Time  `bson:"updated_at"`
}

// ReplyView is a vendor's reply as a ReviewView holds it.
type ReplyView struct {
	Body      string    `bson:"body"`
	CreatedAt time.Time `bson:"created_at"`
}

// Indexer declares the read-model indexes a query needs
// (persistence.Projections).
type Indexer interface {
	EnsureIndex(ctx context.Context, collection string, keys ...string) error
}

// EnsureIndexes declares the indexes of the review lists: a product's
// listed reviews newest first, all of them or those with some stars. It is
// idempotent; run it at start-up.
func EnsureIndexes(ctx context.Context, ix Indexer) error {
	for _, field := range []string{ReviewListedField, ReviewStarsField} {
		if err := ix.EnsureIndex(ctx, ReviewCollection, field, "-_id"); err != nil {
			return emporium.Wrap("product.EnsureIndexes", err)
		}
	}
	return nil
}

// reviewView renders a review of product id as its read-model document.
func reviewView(productID string, r *pb.Review) ReviewView {
	v := ReviewView{
		ProductID: productID, Status: reviewStatusWord(r.Status), Rating: r.Rating, Title: r.Title, Body: r.Body,
		VerifiedPurchase: r.VerifiedPurchase, CreatedAt: r.CreatedAt.AsTime().UTC(), UpdatedAt: r.UpdatedAt.AsTime().UTC(),
	}
	if r.Status == pb.ReviewStatus_REVIEW_STATUS_LISTED {
		v.Listed, v.Stars = productID, ReviewStarsKey(productID, int(r.Rating))
	}
	if r.Reply != nil {
		v.Reply = &ReplyView{Body: r.Reply.Body, CreatedAt: r.Reply.At.AsTime().UTC()}
	}
	return v
}

// reviewStatusWord is a review status as the read model spells it.
func reviewStatusWord(st pb.ReviewStatus) string {
	switch st {
	case pb.ReviewStatus_REVIEW_STATUS_LISTED:
		return "listed"
	case pb.ReviewStatus_REVIEW_STATUS_DELETED:
		return "deleted"
	case pb.ReviewStatus_REVIEW_STATUS_REMOVED:
		return "removed"
	default:
		return ""
	}
}

// projectReviews writes the documents of the reviews changed since this
// activation last wrote them (every review at its first write: a crash may
// have lost a write the journal holds).
func (g *grain) projectReviews(state *pb.State, seq uint64) {
	for _, r := range state.Reviews {
		if g.reviewsOnce && r.Revision <= g.reviewsProjected {
			continue
		}
		g.Config.Views.Put(ReviewCollection, r.Id, seq, reviewView(state.Id, r))
	}
}
