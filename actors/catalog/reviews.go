package catalog

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/product"
	productpb "github.com/emporium-shop/emporium/protos/productpb"
)

// Reviews: they live in each product's ProductGrain (see package product),
// so that a review and the rating it moves are one event. The service
// checks the purchase, makes review ids, and lists reviews from the
// grains' read model.

var _ emporium.Reviews = (*Service)(nil)

// Purchases answers whether a buyer received a product: a delivered order
// line of it (order.Service.Delivered, which the node wires in).
type Purchases interface {
	Delivered(ctx context.Context, buyerID, productID string) (bool, error)
}

// reviewIDSeparator joins a product id and a new id into a review id, so
// that a review id names its product's grain: a vendor's reply and an
// admin's removal, which name only the review, reach the grain without a
// read-model lookup (which could lag behind a review just posted). New ids
// are UUIDv7 (no separator in them), so a product's review ids sort by
// the time they were posted.
const reviewIDSeparator = "~"

// productOfReview returns the product id a review id names, or "".
func productOfReview(reviewID string) string {
	i := strings.LastIndex(reviewID, reviewIDSeparator)
	if i <= 0 || i == len(reviewID)-1 || len(reviewID) > maxReviewIDLen {
		return ""
	}
	return reviewID[:i]
}

// maxReviewIDLen bounds a review id: a product id and a UUID.
const maxReviewIDLen = 200

// ProductReviews lists an active product's listed reviews, newest first.
func (s *Service) ProductReviews(ctx context.Context, productID string, q emporium.ReviewQuery) (emporium.ReviewList, error) {
	const op = "catalog.ProductReviews"
	limit, err := pageLimit(op, q.Limit)
	if err != nil {
		return emporium.ReviewList{}, err
	}
	field, value := product.ReviewListedField, productID
	if q.Rating != nil {
		if *q.Rating < product.MinStars || *q.Rating > product.MaxStars {
			return emporium.ReviewList{}, emporium.Wrap(op, emporium.Invalid("rating", emporium.FieldOutOfRange, "The rating filter is 1 to 5 stars."))
		}
		field, value = product.ReviewStarsField, product.ReviewStarsKey(productID, *q.Rating)
	}
	if err := s.requireActive(ctx, op, productID); err != nil {
		return emporium.ReviewList{}, err
	}
	var docs []reviewDoc
	// One more than the page tells whether there is a next one. The query
	// is by the product, so a cursor of another product's list reaches
	// nothing of it.
	if err := s.cfg.Reads.List(ctx, product.ReviewCollection, field, value, q.Cursor, limit+1, &docs); err != nil {
		return emporium.ReviewList{}, emporium.Wrap(op, err)
	}
	out := emporium.ReviewList{Items: make([]emporium.Review, 0, min(len(docs), limit))}
	for i, d := range docs {
		if i == limit {
			out.NextCursor = docs[i-1].ID
			break
		}
		out.Items = append(out.Items, d.review())
	}
	return out, nil
}

// PostReview adds the caller's review of an active product they received.
func (s *Service) PostReview(ctx context.Context, p emporium.Principal, productID string, in emporium.ReviewInput) (emporium.Review, error) {
	const op = "catalog.PostReview"
	req := &productpb.PostReviewRequest{BuyerId: p.UserID}
	input := product.ReviewInput{Title: in.Title, Body: in.Body}
	if in.Rating != nil {
		stars := starsOf(*in.Rating)
		req.Rating, input.Rating = stars, &stars
	}
	if err := product.CheckReview(input, true); err != nil {
		return emporium.Review{}, emporium.Wrap(op, err)
	}
	req.Title, req.Body = deref(in.Title), deref(in.Body)
	if err := s.requireActive(ctx, op, productID); err != nil {
		return emporium.Review{}, err
	}
	if s.cfg.Purchases == nil {
		return emporium.Review{}, &emporium.Error{Code: emporium.EPURCHASEREQUIRED, Op: op, Message: product.PurchaseRequired().Error()}
	}
	bought, err := s.cfg.Purchases.Delivered(ctx, p.UserID, productID)
	if err != nil {
		return emporium.Review{}, emporium.Wrap(op, err)
	}
	if !bought {
		return emporium.Review{}, emporium.Wrap(op, product.PurchaseRequired())
	}
	req.VerifiedPurchase = true
	req.CommandId = s.cfg.NewID()
	req.ReviewId = productID + reviewIDSeparator + s.cfg.NewID()
	out, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, productID).PostReview(req, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Review{}, emporium.GrainCall(op, err)
	}
	return reviewOf(productID, out.Review), nil
}

// UpdateMyReview changes the caller's review.
func (s *Service) UpdateMyReview(ctx context.Context, p emporium.Principal, productID string, in emporium.ReviewUpdate) (emporium.Review, error) {
	const op = "catalog.UpdateMyReview"
	req := &productpb.EditReviewRequest{CommandId: s.cfg.NewID(), BuyerId: p.UserID}
	input := product.ReviewInput{Title: in.Title, Body: in.Body}
	if in.Rating != nil {
		stars := starsOf(*in.Rating)
		req.Rating, input.Rating = wrapperspb.Int32(stars), &stars
	}
	if err := product.CheckReview(input, false); err != nil {
		return emporium.Review{}, emporium.Wrap(op, err)
	}
	if in.Title != nil {
		req.Title = wrapperspb.String(*in.Title)
	}
	if in.Body != nil {
		req.Body = wrapperspb.String(*in.Body)
	}
	out, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, productID).EditReview(req, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Review{}, emporium.GrainCall(op, err)
	}
	return reviewOf(productID, out.Review), nil
}

// DeleteMyReview withdraws the caller's review, if any.
func (s *Service) DeleteMyReview(ctx context.Context, p emporium.Principal, productID string) error {
	const op = "catalog.DeleteMyReview"
	_, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, productID).DeleteReview(
		&productpb.DeleteReviewRequest{CommandId: s.cfg.NewID(), BuyerId: p.UserID}, actors.Within(ctx, s.cfg.Cluster))
	return emporium.GrainCall(op, err)
}

// ReplyToReview adds the calling vendor's reply to a review of their
// product.
func (s *Service) ReplyToReview(ctx context.Context, p emporium.Principal, reviewID string, in emporium.ReplyInput) (emporium.Review, error) {
	const op = "catalog.ReplyToReview"
	if err := s.requireVendor(ctx, p); err != nil {
		return emporium.Review{}, err
	}
	productID := productOfReview(reviewID)
	if productID == "" {
		return emporium.Review{}, &emporium.Error{Code: emporium.ENOTFOUND, Op: op, Message: "review not found"}
	}
	// The body's own rules say nothing about the review: they are checked
	// first. Whether the caller owns the product is the grain's to say, and
	// another vendor is told the review does not exist.
	if err := product.CheckReply(in.Body); err != nil {
		return emporium.Review{}, emporium.Wrap(op, err)
	}
	out, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, productID).ReplyToReview(&productpb.ReplyToReviewRequest{
		CommandId: s.cfg.NewID(), Caller: &productpb.Caller{VendorId: p.UserID}, ReviewId: reviewID, Body: in.Body,
	}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Review{}, emporium.GrainCall(op, err)
	}
	return reviewOf(productID, out.Review), nil
}

// RemoveReview takes a review down (admins only).
func (s *Service) RemoveReview(ctx context.Context, p emporium.Principal, reviewID string) error {
	const op = "catalog.RemoveReview"
	if err := requireAdmin(p); err != nil {
		return emporium.Wrap(op, err)
	}
	productID := productOfReview(reviewID)
	if productID == "" {
		return &emporium.Error{Code: emporium.ENOTFOUND, Op: op, Message: "review not found"}
	}
	_, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, productID).RemoveReview(&productpb.RemoveReviewRequest{
		CommandId: s.cfg.NewID(), Caller: caller(p), ReviewId: reviewID,
	}, actors.Within(ctx, s.cfg.Cluster))
	return emporium.GrainCall(op, err)
}

// requireActive answers ENOTFOUND unless productID is an active product,
// from its read model.
func (s *Service) requireActive(ctx context.Context, op, productID string) error {
	var doc struct {
		Status string `bson:"status"`
	}
	_, err := s.cfg.Reads.Get(ctx, product.ViewCollection, productID, &doc)
	switch {
	case emporium.IsCode(err, emporium.ENOTFOUND) || err == nil && doc.Status != emporium.StatusActive:
		return &emporium.Error{Code: emporium.ENOTFOUND, Op: op, Message: "product not found"}
	case err != nil:
		return emporium.Wrap(op, err)
	}
	return nil
}

// starsOf narrows a client's rating to the grain's type, keeping a value
// out of range out of range (never wrapped into it).
func starsOf(n int) int32 {
	const bound = 1 << 20
	return int32(max(min(n, bound), -bound))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// reviewOf presents a grain's review of productID; nil (a review no longer
// listed) is the zero review.
func reviewOf(productID string, r *productpb.Review) emporium.Review {
	if r == nil {
		return emporium.Review{}
	}
	out := emporium.Review{
		ID: r.Id, ProductID: productID, Rating: int(r.Rating), Title: r.Title, Body: r.Body,
		VerifiedPurchase: r.VerifiedPurchase, CreatedAt: r.CreatedAt.AsTime().UTC(), UpdatedAt: r.UpdatedAt.AsTime().UTC(),
	}
	if r.Reply != nil {
		out.Reply = &emporium.VendorReply{Body: r.Reply.Body, CreatedAt: r.Reply.At.AsTime().UTC()}
	}
	return out
}

// reviewDoc is a review read-model document (product.ReviewView) with its
// id.
type reviewDoc struct {
	ID               string             `bson:"_id"`
	ProductID        string             `bson:"product_id"`
	Rating           int32              `bson:"rating"`
	Title            string             `bson:"title"`
	Body             string             `bson:"body"`
	VerifiedPurchase bool               `bson:"verified_purchase"`
	Reply            *product.ReplyView `bson:"reply"`
	CreatedAt        time.Time          `bson:"created_at"`
	UpdatedAt        time.Time          `bson:"updated_at"`
}

func (d reviewDoc) review() emporium.Review {
	out := emporium.Review{
		ID: d.ID, ProductID: d.ProductID, Rating: int(d.Rating), Title: d.Title, Body: d.Body,
		VerifiedPurchase: d.VerifiedPurchase, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
	if d.Reply != nil {
		out.Reply = &emporium.VendorReply{Body: d.Reply.Body, CreatedAt: d.Reply.CreatedAt.UTC()}
	}
	return out
}
