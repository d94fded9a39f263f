package emporium

import (
	"context"
	"time"
)

// Reviews are buyers' reviews of the products they received. A review
// needs a delivered order line of the product (else EPURCHASEREQUIRED) and
// carries VerifiedPurchase; a buyer has one listed review per product. The
// product's Rating follows its listed reviews, as their count and mean.
// Texts are plain text: they are stored as typed and never interpreted as
// markup.
type Reviews interface {
	// ProductReviews lists the listed reviews of an active product, newest
	// first, one page at a time; q.Rating, when set, keeps those with that
	// many stars. Another product is ENOTFOUND.
	ProductReviews(ctx context.Context, productID string, q ReviewQuery) (ReviewList, error)
	// PostReview adds the caller's review of an active product. Without a
	// delivered order line of it, EPURCHASEREQUIRED; with a listed review
	// already, ECONFLICT.
	PostReview(ctx context.Context, p Principal, productID string, in ReviewInput) (Review, error)
	// UpdateMyReview changes the fields in sets of the caller's review;
	// ENOTFOUND when the caller has none.
	UpdateMyReview(ctx context.Context, p Principal, productID string, in ReviewUpdate) (Review, error)
	// DeleteMyReview withdraws the caller's review, if any.
	DeleteMyReview(ctx context.Context, p Principal, productID string) error
	// ReplyToReview adds the calling vendor's one reply to a review of one
	// of their products; another vendor's review is ENOTFOUND, a second
	// reply ECONFLICT.
	ReplyToReview(ctx context.Context, p Principal, reviewID string, in ReplyInput) (Review, error)
	// RemoveReview takes an abusive review down (admins only); the rating
	// follows.
	RemoveReview(ctx context.Context, p Principal, reviewID string) error
}

// Review is a buyer's review as the API shows it. The author's identity
// is not shown: a buyer's reviews cannot be linked across products.
type Review struct {
	ID               string       `json:"id"`
	ProductID        string       `json:"product_id"`
	Rating           int          `json:"rating"`
	Title            string       `json:"title"`
	Body             string       `json:"body"`
	VerifiedPurchase bool         `json:"verified_purchase"`
	Reply            *VendorReply `json:"reply,omitempty"`
	CreatedAt        time.Time    `json:"created_at"`
	UpdatedAt        time.Time    `json:"updated_at"`
}

// VendorReply is the owning vendor's reply to a review.
type VendorReply struct {
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// ReviewInput is a new review: Rating is required (1 to 5 stars).
type ReviewInput struct {
	Rating *int    `json:"rating"`
	Title  *string `json:"title,omitempty"`
	Body   *string `json:"body,omitempty"`
}

// ReviewUpdate changes the fields that are set.
type ReviewUpdate struct {
	Rating *int    `json:"rating,omitempty"`
	Title  *string `json:"title,omitempty"`
	Body   *string `json:"body,omitempty"`
}

// ReplyInput is a vendor's reply.
type ReplyInput struct {
	Body string `json:"body"`
}

// ReviewQuery asks for one page of a product's reviews; Rating, when not
// nil, keeps the reviews with that many stars.
type ReviewQuery struct {
	Page
	Rating *int
}

// ReviewList is one page of reviews.
type ReviewList struct {
	Items      []Review `json:"items"`
	NextCursor string   `json:"next_cursor,omitempty"`
}
