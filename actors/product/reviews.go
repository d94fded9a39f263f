package product

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// Reviews, part of the pure core. A product's reviews live in its own
// journal, so that a review and the rating it moves are one event: the
// rating is counted exactly once per change by construction, whatever
// retries or crashes happen, and it reaches the product read model and the
// search index as every other product change does. The state keeps
// rating_sum and rating_count of the listed reviews; the average is their
// quotient, so it is always the mean of the current reviews.

// Limits of a review. Lengths are in characters.
const (
	// MinStars and MaxStars bound a review's rating.
	MinStars = 1
	MaxStars = 5
	// MaxReviewTitle bounds a review's one-line title.
	MaxReviewTitle = 120
	// MaxReviewBody bounds a review's text.
	MaxReviewBody = 4000
	// MaxReplyBody bounds a vendor's reply.
	MaxReplyBody = 2000
)

// ReviewInput is a review's client-given fields, for CheckReview.
type ReviewInput struct {
	Rating *int32
	Title  *string
	Body   *string
}

// CheckReview applies the rules of a review's fields that do not depend on
// state, as the grain will, so the service refuses a bad body before it
// reads anything. requireRating is true for a new review.
func CheckReview(in ReviewInput, requireRating bool) error {
	_, _, errs := cleanReview(in, requireRating)
	if len(errs) > 0 {
		return emporium.InvalidFields(errs...)
	}
	return nil
}

// CheckReply applies the rules of a vendor's reply.
func CheckReply(body string) error {
	if _, fe := cleanReply(body); fe != nil {
		return emporium.InvalidFields(*fe)
	}
	return nil
}

// cleanReview checks and cleans the fields of in that are set: the rating
// from MinStars to MaxStars, a one-line title and a multi-line body, both
// trimmed. Texts are plain text, kept as typed: nothing in them is markup.
func cleanReview(in ReviewInput, requireRating bool) (title, body string, errs []emporium.FieldError) {
	switch {
	case in.Rating == nil && requireRating:
		errs = append(errs, emporium.Field("rating", emporium.FieldRequired, "rating is required (%d to %d stars)", MinStars, MaxStars))
	case in.Rating != nil && (*in.Rating < MinStars || *in.Rating > MaxStars):
		errs = append(errs, emporium.Field("rating", emporium.FieldOutOfRange, "rating must be %d to %d stars", MinStars, MaxStars))
	}
	if in.Title != nil {
		var fe *emporium.FieldError
		title, fe = cleanLine("title", *in.Title, false, MaxReviewTitle)
		errs = appendFE(errs, fe)
	}
	if in.Body != nil {
		body = strings.TrimSpace(*in.Body)
		errs = appendFE(errs, checkText("body", body, MaxReviewBody, true))
	}
	return title, body, errs
}

func cleanReply(body string) (string, *emporium.FieldError) {
	body = strings.TrimSpace(body)
	if fe := checkText("body", body, MaxReplyBody, true); fe != nil {
		return "", fe
	}
	if body == "" {
		fe := emporium.Field("body", emporium.FieldRequired, "body is required")
		return "", &fe
	}
	return body, nil
}

// PurchaseRequired is the refusal of a review by someone who has no
// delivered order line of the product.
func PurchaseRequired() error {
	return emporium.Errorf(emporium.EPURCHASEREQUIRED,
		"Only buyers who received this product may review it.")
}

func decidePostReview(s *pb.State, c *pb.PostReviewRequest, now time.Time) ([]proto.Message, error) {
	if s.Status != pb.ProductStatus_PRODUCT_STATUS_ACTIVE {
		return nil, notFound()
	}
	title, body, errs := cleanReview(ReviewInput{Rating: &c.Rating, Title: &c.Title, Body: &c.Body}, true)
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	if c.BuyerId == "" || len(c.BuyerId) > maxIDLen || c.ReviewId == "" || len(c.ReviewId) > maxIDLen {
		return nil, emporium.Errorf(emporium.EINTERNAL, "product: a review needs its buyer and its id")
	}
	if !c.VerifiedPurchase {
		return nil, PurchaseRequired()
	}
	if c.BuyerId == s.VendorId {
		return nil, emporium.Errorf(emporium.EFORBIDDEN, "A vendor cannot review their own product.")
	}
	for _, r := range s.Reviews {
		switch {
		case r.BuyerId == c.BuyerId && r.Status == pb.ReviewStatus_REVIEW_STATUS_LISTED:
			return nil, emporium.Errorf(emporium.ECONFLICT,
				"You have reviewed this product already; change your review with PATCH /v1/products/{id}/reviews/mine.")
		case r.BuyerId == c.BuyerId && r.Status == pb.ReviewStatus_REVIEW_STATUS_REMOVED:
			return nil, emporium.Errorf(emporium.EFORBIDDEN,
				"Your review of this product was removed by a moderator; you cannot review it again.")
		case r.Id == c.ReviewId:
			return nil, emporium.Errorf(emporium.ECONFLICT, "a review with this id exists")
		}
	}
	return []proto.Message{&pb.ReviewPosted{
		CommandId: c.CommandId, ReviewId: c.ReviewId, BuyerId: c.BuyerId, Rating: c.Rating,
		Title: title, Body: body, VerifiedPurchase: true, At: timestamppb.New(now),
	}}, nil
}

func decideEditReview(s *pb.State, c *pb.EditReviewRequest, now time.Time) ([]proto.Message, error) {
	in := ReviewInput{}
	if c.Rating != nil {
		in.Rating = &c.Rating.Value
	}
	if c.Title != nil {
		in.Title = &c.Title.Value
	}
	if c.Body != nil {
		in.Body = &c.Body.Value
	}
	title, body, errs := cleanReview(in, false)
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	r := ListedReviewBy(s, c.BuyerId)
	if r == nil {
		return nil, noReviewOfYours()
	}
	ev := &pb.ReviewEdited{CommandId: c.CommandId, ReviewId: r.Id, At: timestamppb.New(now)}
	if c.Rating != nil && c.Rating.Value != r.Rating {
		ev.Rating = wrapperspb.Int32(c.Rating.Value)
	}
	if c.Title != nil && title != r.Title {
		ev.Title = wrapperspb.String(title)
	}
	if c.Body != nil && body != r.Body {
		ev.Body = wrapperspb.String(body)
	}
	if ev.Rating == nil && ev.Title == nil && ev.Body == nil {
		return nil, nil
	}
	return []proto.Message{ev}, nil
}

func decideDeleteReview(s *pb.State, c *pb.DeleteReviewRequest, now time.Time) ([]proto.Message, error) {
	r := ListedReviewBy(s, c.BuyerId)
	if r == nil {
		return nil, nil // nothing listed: what was asked holds
	}
	return []proto.Message{&pb.ReviewDeleted{CommandId: c.CommandId, ReviewId: r.Id, At: timestamppb.New(now)}}, nil
}

func decideReplyToReview(s *pb.State, c *pb.ReplyToReviewRequest, now time.Time) ([]proto.Message, error) {
	// Only the owning vendor speaks for the product; anyone else, admins
	// included, is told the review does not exist.
	if v := c.GetCaller().GetVendorId(); v == "" || v != s.VendorId {
		return nil, reviewNotFound()
	}
	body, fe := cleanReply(c.Body)
	if fe != nil {
		return nil, emporium.InvalidFields(*fe)
	}
	r := ReviewByID(s, c.ReviewId)
	if r == nil || r.Status != pb.ReviewStatus_REVIEW_STATUS_LISTED {
		return nil, reviewNotFound()
	}
	if r.Reply != nil {
		return nil, emporium.Errorf(emporium.ECONFLICT, "The review has a reply already; a vendor replies once.")
	}
	return []proto.Message{&pb.ReviewReplied{CommandId: c.CommandId, ReviewId: r.Id, Body: body, At: timestamppb.New(now)}}, nil
}

func decideRemoveReview(s *pb.State, c *pb.RemoveReviewRequest, now time.Time) ([]proto.Message, error) {
	if !c.GetCaller().GetAsAdmin() {
		return nil, emporium.Errorf(emporium.EFORBIDDEN, "Only administrators may remove reviews.")
	}
	r := ReviewByID(s, c.ReviewId)
	switch {
	case r == nil:
		return nil, reviewNotFound()
	case r.Status != pb.ReviewStatus_REVIEW_STATUS_LISTED:
		return nil, nil // removed or withdrawn already: nothing is shown
	}
	return []proto.Message{&pb.ReviewRemoved{CommandId: c.CommandId, ReviewId: r.Id, At: timestamppb.New(now)}}, nil
}

// applyReview folds a review event into the state. The rating follows the
// listed reviews, and the version grows only when the rating moved: a
// text edit or a reply changes nothing the product shows. An event about a
// review the state lacks changes nothing.
func applyReview(s *pb.State, ev proto.Message) {
	s.ReviewsVersion++
	switch e := ev.(type) {
	case *pb.ReviewPosted:
		s.Reviews = append(s.Reviews, &pb.Review{
			Id: e.ReviewId, BuyerId: e.BuyerId, Rating: e.Rating, Title: e.Title, Body: e.Body,
			VerifiedPurchase: e.VerifiedPurchase, Status: pb.ReviewStatus_REVIEW_STATUS_LISTED,
			CreatedAt: proto.CloneOf(e.At), UpdatedAt: proto.CloneOf(e.At), Revision: s.ReviewsVersion,
		})
		moveRating(s, int64(e.Rating), 1)
	case *pb.ReviewEdited:
		r := ReviewByID(s, e.ReviewId)
		if r == nil {
			return
		}
		if e.Rating != nil {
			if r.Status == pb.ReviewStatus_REVIEW_STATUS_LISTED {
				moveRating(s, int64(e.Rating.Value-r.Rating), 0)
			}
			r.Rating = e.Rating.Value
		}
		if e.Title != nil {
			r.Title = e.Title.Value
		}
		if e.Body != nil {
			r.Body = e.Body.Value
		}
		r.UpdatedAt, r.Revision = proto.CloneOf(e.At), s.ReviewsVersion
	case *pb.ReviewReplied:
		r := ReviewByID(s, e.ReviewId)
		if r == nil {
			return
		}
		r.Reply = &pb.VendorReply{Body: e.Body, At: proto.CloneOf(e.At)}
		r.Revision = s.ReviewsVersion
	case *pb.ReviewDeleted:
		unlist(s, e.ReviewId, pb.ReviewStatus_REVIEW_STATUS_DELETED, e.At)
	case *pb.ReviewRemoved:
		unlist(s, e.ReviewId, pb.ReviewStatus_REVIEW_STATUS_REMOVED, e.At)
	}
}

// unlist makes a review a tombstone: its text goes, and its stars leave
// the rating if it was listed.
func unlist(s *pb.State, id string, status pb.ReviewStatus, at *timestamppb.Timestamp) {
	r := ReviewByID(s, id)
	if r == nil {
		return
	}
	if r.Status == pb.ReviewStatus_REVIEW_STATUS_LISTED {
		moveRating(s, -int64(r.Rating), -1)
	}
	r.Status, r.Title, r.Body, r.Reply = status, "", "", nil
	r.UpdatedAt, r.Revision = proto.CloneOf(at), s.ReviewsVersion
}

// moveRating adds to the listed reviews' sum and count and sets the rating
// they make; a move adds one to the version.
func moveRating(s *pb.State, sum, count int64) {
	if sum == 0 && count == 0 {
		return
	}
	s.RatingSum += sum
	s.RatingCount += count
	s.Rating = &pb.Rating{Average: average(s.RatingSum, s.RatingCount), Count: s.RatingCount}
	s.Version++
}

// average is the mean of count ratings summing to sum, 0 without any.
func average(sum, count int64) float64 {
	if count <= 0 {
		return 0
	}
	return float64(sum) / float64(count)
}

// ListedReviewBy returns the buyer's listed review, or nil.
func ListedReviewBy(s *pb.State, buyerID string) *pb.Review {
	if buyerID == "" {
		return nil
	}
	for _, r := range s.Reviews {
		if r.BuyerId == buyerID && r.Status == pb.ReviewStatus_REVIEW_STATUS_LISTED {
			return r
		}
	}
	return nil
}

// ReviewByID returns the review with the given id, tombstones included, or
// nil.
func ReviewByID(s *pb.State, id string) *pb.Review {
	for _, r := range s.Reviews {
		if r.Id == id {
			return r
		}
	}
	return nil
}

// reviewAnswer is the answer of a review command cmd on the state after it
// (or on the state that answers its retry): the review it acted on while it
// is listed, and the rating.
func reviewAnswer(s *pb.State, cmd proto.Message) *pb.ReviewAnswer {
	var r *pb.Review
	switch c := cmd.(type) {
	case *pb.PostReviewRequest:
		r = ReviewByID(s, c.ReviewId)
	case *pb.EditReviewRequest:
		r = ListedReviewBy(s, c.BuyerId)
	case *pb.ReplyToReviewRequest:
		r = ReviewByID(s, c.ReviewId)
	}
	out := &pb.ReviewAnswer{Rating: &pb.Rating{Average: s.GetRating().GetAverage(), Count: s.GetRating().GetCount()}}
	if r != nil && r.Status == pb.ReviewStatus_REVIEW_STATUS_LISTED {
		out.Review = proto.CloneOf(r)
	}
	return out
}

func noReviewOfYours() error {
	return emporium.Errorf(emporium.ENOTFOUND, "You have not reviewed this product.")
}

func reviewNotFound() error { return emporium.Errorf(emporium.ENOTFOUND, "review not found") }
