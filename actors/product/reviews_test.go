package product

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// activeEvents are the events of an active product.
func activeEvents() []proto.Message {
	return []proto.Message{createdEv(), &pb.ProductPublished{CommandId: "p1", At: timestamppb.New(t0)}}
}

func post(id, buyer string, stars int32) *pb.PostReviewRequest {
	return &pb.PostReviewRequest{CommandId: "post-" + id, ReviewId: id, BuyerId: buyer, Rating: stars,
		Title: "Nice", Body: "Fits well.", VerifiedPurchase: true}
}

func posted(id, buyer string, stars int32) *pb.ReviewPosted {
	return &pb.ReviewPosted{CommandId: "post-" + id, ReviewId: id, BuyerId: buyer, Rating: stars,
		Title: "Nice", Body: "Fits well.", VerifiedPurchase: true, At: timestamppb.New(t0)}
}

func TestDecideReviews(t *testing.T) {
	active := activeEvents()
	reviewed := append(activeEvents(), posted("r1", "b1", 4))
	replied := append(activeEvents(), posted("r1", "b1", 4), &pb.ReviewReplied{CommandId: "re1", ReviewId: "r1", Body: "Thanks", At: timestamppb.New(t0)})
	deleted := append(activeEvents(), posted("r1", "b1", 4), &pb.ReviewDeleted{CommandId: "d1", ReviewId: "r1", At: timestamppb.New(t0)})
	removed := append(activeEvents(), posted("r1", "b1", 4), &pb.ReviewRemoved{CommandId: "x1", ReviewId: "r1", At: timestamppb.New(t0)})
	archived := append(activeEvents(), posted("r1", "b1", 4), &pb.ProductArchived{CommandId: "a1", At: timestamppb.New(t0)})
	at := timestamppb.New(t0)
	long := func(n int) string { return strings.Repeat("é", n) }
	runChecks(t, []check{
		{Name: "post", Given: active, Cmd: post("r1", "b1", 4), Want: []proto.Message{posted("r1", "b1", 4)}},
		{Name: "post trims its texts", Given: active,
			Cmd:  &pb.PostReviewRequest{CommandId: "post-r1", ReviewId: "r1", BuyerId: "b1", Rating: 4, Title: "  Nice ", Body: "\nFits well.  ", VerifiedPurchase: true},
			Want: []proto.Message{posted("r1", "b1", 4)}},
		{Name: "post keeps markup as text", Given: active,
			Cmd:  &pb.PostReviewRequest{CommandId: "c", ReviewId: "r1", BuyerId: "b1", Rating: 5, Body: "<script>alert(1)</script>", VerifiedPurchase: true},
			Want: []proto.Message{&pb.ReviewPosted{CommandId: "c", ReviewId: "r1", BuyerId: "b1", Rating: 5, Body: "<script>alert(1)</script>", VerifiedPurchase: true, At: at}}},
		{Name: "post retried", Given: reviewed, Cmd: post("r1", "b1", 4)},
		{Name: "post twice", Given: reviewed, Cmd: post("r2", "b1", 5), ErrCode: emporium.ECONFLICT},
		{Name: "post after deleting", Given: deleted, Cmd: post("r2", "b1", 2), Want: []proto.Message{posted("r2", "b1", 2)}},
		{Name: "post after removal", Given: removed, Cmd: post("r2", "b1", 2), ErrCode: emporium.EFORBIDDEN},
		{Name: "post without purchase", Given: active,
			Cmd: &pb.PostReviewRequest{CommandId: "c", ReviewId: "r1", BuyerId: "b1", Rating: 4}, ErrCode: emporium.EPURCHASEREQUIRED},
		{Name: "post own product", Given: active, Cmd: post("r1", vendor, 5), ErrCode: emporium.EFORBIDDEN},
		{Name: "post on a draft", Given: []proto.Message{createdEv()}, Cmd: post("r1", "b1", 4), ErrCode: emporium.ENOTFOUND},
		{Name: "post on archived", Given: archived, Cmd: post("r2", "b2", 4), ErrCode: emporium.ENOTFOUND},
		{Name: "post not created", Cmd: post("r1", "b1", 4), ErrCode: emporium.ENOTFOUND},
		{Name: "post zero stars", Given: active, Cmd: post("r1", "b1", 0), ErrCode: emporium.EINVALID, Field: "rating", FieldCode: emporium.FieldOutOfRange},
		{Name: "post six stars", Given: active, Cmd: post("r1", "b1", 6), ErrCode: emporium.EINVALID, Field: "rating", FieldCode: emporium.FieldOutOfRange},
		{Name: "post invalid before the conflict", Given: reviewed, Cmd: post("r2", "b1", 6), ErrCode: emporium.EINVALID, Field: "rating", FieldCode: emporium.FieldOutOfRange},
		{Name: "post title too long", Given: active,
			Cmd:     &pb.PostReviewRequest{CommandId: "c", ReviewId: "r1", BuyerId: "b1", Rating: 4, Title: long(MaxReviewTitle + 1), VerifiedPurchase: true},
			ErrCode: emporium.EINVALID, Field: "title", FieldCode: emporium.FieldTooLong},
		{Name: "post title at the limit", Given: active,
			Cmd:  &pb.PostReviewRequest{CommandId: "c", ReviewId: "r1", BuyerId: "b1", Rating: 4, Title: long(MaxReviewTitle), VerifiedPurchase: true},
			Want: []proto.Message{&pb.ReviewPosted{CommandId: "c", ReviewId: "r1", BuyerId: "b1", Rating: 4, Title: long(MaxReviewTitle), VerifiedPurchase: true, At: at}}},
		{Name: "post body too long", Given: active,
			Cmd:     &pb.PostReviewRequest{CommandId: "c", ReviewId: "r1", BuyerId: "b1", Rating: 4, Body: long(MaxReviewBody + 1), VerifiedPurchase: true},
			ErrCode: emporium.EINVALID, Field: "body", FieldCode: emporium.FieldTooLong},
		{Name: "post title with a newline", Given: active,
			Cmd:     &pb.PostReviewRequest{CommandId: "c", ReviewId: "r1", BuyerId: "b1", Rating: 4, Title: "a\nb", VerifiedPurchase: true},
			ErrCode: emporium.EINVALID, Field: "title", FieldCode: emporium.FieldInvalid},
		{Name: "post without command id", Given: active, Cmd: &pb.PostReviewRequest{ReviewId: "r1", BuyerId: "b1", Rating: 4, VerifiedPurchase: true},
			ErrCode: emporium.EINVALID, Field: "command_id", FieldCode: emporium.FieldRequired},

		{Name: "edit", Given: reviewed, Cmd: &pb.EditReviewRequest{CommandId: "e1", BuyerId: "b1", Rating: wrapperspb.Int32(2), Body: wrapperspb.String(" Shrank. ")},
			Want: []proto.Message{&pb.ReviewEdited{CommandId: "e1", ReviewId: "r1", Rating: wrapperspb.Int32(2), Body: wrapperspb.String("Shrank."), At: at}}},
		{Name: "edit unchanged", Given: reviewed, Cmd: &pb.EditReviewRequest{CommandId: "e1", BuyerId: "b1", Rating: wrapperspb.Int32(4), Title: wrapperspb.String("Nice")}},
		{Name: "edit someone else's", Given: reviewed, Cmd: &pb.EditReviewRequest{CommandId: "e1", BuyerId: "b2", Rating: wrapperspb.Int32(1)}, ErrCode: emporium.ENOTFOUND},
		{Name: "edit deleted", Given: deleted, Cmd: &pb.EditReviewRequest{CommandId: "e1", BuyerId: "b1", Rating: wrapperspb.Int32(1)}, ErrCode: emporium.ENOTFOUND},
		{Name: "edit out of range", Given: reviewed, Cmd: &pb.EditReviewRequest{CommandId: "e1", BuyerId: "b1", Rating: wrapperspb.Int32(9)},
			ErrCode: emporium.EINVALID, Field: "rating", FieldCode: emporium.FieldOutOfRange},

		{Name: "delete", Given: reviewed, Cmd: &pb.DeleteReviewRequest{CommandId: "d1", BuyerId: "b1"},
			Want: []proto.Message{&pb.ReviewDeleted{CommandId: "d1", ReviewId: "r1", At: at}}},
		{Name: "delete none", Given: active, Cmd: &pb.DeleteReviewRequest{CommandId: "d1", BuyerId: "b1"}},
		{Name: "delete someone else's", Given: reviewed, Cmd: &pb.DeleteReviewRequest{CommandId: "d1", BuyerId: "b2"}},

		{Name: "reply", Given: reviewed, Cmd: &pb.ReplyToReviewRequest{CommandId: "re1", Caller: owner, ReviewId: "r1", Body: " Thanks "},
			Want: []proto.Message{&pb.ReviewReplied{CommandId: "re1", ReviewId: "r1", Body: "Thanks", At: at}}},
		{Name: "reply retried", Given: replied, Cmd: &pb.ReplyToReviewRequest{CommandId: "re1", Caller: owner, ReviewId: "r1", Body: "Thanks"}},
		{Name: "reply twice", Given: replied, Cmd: &pb.ReplyToReviewRequest{CommandId: "re2", Caller: owner, ReviewId: "r1", Body: "Again"}, ErrCode: emporium.ECONFLICT},
		{Name: "reply invalid before the conflict", Given: replied, Cmd: &pb.ReplyToReviewRequest{CommandId: "re2", Caller: owner, ReviewId: "r1", Body: ""},
			ErrCode: emporium.EINVALID, Field: "body", FieldCode: emporium.FieldRequired},
		{Name: "reply by another vendor", Given: reviewed, Cmd: &pb.ReplyToReviewRequest{CommandId: "re1", Caller: other, ReviewId: "r1", Body: "Hi"}, ErrCode: emporium.ENOTFOUND},
		{Name: "reply by another vendor, invalid", Given: reviewed, Cmd: &pb.ReplyToReviewRequest{CommandId: "re1", Caller: other, ReviewId: "r1"}, ErrCode: emporium.ENOTFOUND},
		{Name: "reply by an admin", Given: reviewed, Cmd: &pb.ReplyToReviewRequest{CommandId: "re1", Caller: admin, ReviewId: "r1", Body: "Hi"}, ErrCode: emporium.ENOTFOUND},
		{Name: "reply to a missing review", Given: reviewed, Cmd: &pb.ReplyToReviewRequest{CommandId: "re1", Caller: owner, ReviewId: "r9", Body: "Hi"}, ErrCode: emporium.ENOTFOUND},
		{Name: "reply to a deleted review", Given: deleted, Cmd: &pb.ReplyToReviewRequest{CommandId: "re1", Caller: owner, ReviewId: "r1", Body: "Hi"}, ErrCode: emporium.ENOTFOUND},
		{Name: "reply too long", Given: reviewed, Cmd: &pb.ReplyToReviewRequest{CommandId: "re1", Caller: owner, ReviewId: "r1", Body: long(MaxReplyBody + 1)},
			ErrCode: emporium.EINVALID, Field: "body", FieldCode: emporium.FieldTooLong},

		{Name: "remove", Given: reviewed, Cmd: &pb.RemoveReviewRequest{CommandId: "x1", Caller: admin, ReviewId: "r1"},
			Want: []proto.Message{&pb.ReviewRemoved{CommandId: "x1", ReviewId: "r1", At: at}}},
		{Name: "remove removed", Given: removed, Cmd: &pb.RemoveReviewRequest{CommandId: "x2", Caller: admin, ReviewId: "r1"}},
		{Name: "remove deleted", Given: deleted, Cmd: &pb.RemoveReviewRequest{CommandId: "x2", Caller: admin, ReviewId: "r1"}},
		{Name: "remove missing", Given: reviewed, Cmd: &pb.RemoveReviewRequest{CommandId: "x1", Caller: admin, ReviewId: "r9"}, ErrCode: emporium.ENOTFOUND},
		{Name: "remove by the owner", Given: reviewed, Cmd: &pb.RemoveReviewRequest{CommandId: "x1", Caller: owner, ReviewId: "r1"}, ErrCode: emporium.EFORBIDDEN},
		{Name: "remove by another vendor", Given: reviewed, Cmd: &pb.RemoveReviewRequest{CommandId: "x1", Caller: other, ReviewId: "r1"}, ErrCode: emporium.ENOTFOUND},
	})
}

func TestReviewEventsMoveTheRating(t *testing.T) {
	s := given(activeEvents()...)
	v := s.Version
	Spec.Fold(s, posted("r1", "b1", 5), posted("r2", "b2", 2))
	assert.True(t, proto.Equal(&pb.Rating{Average: 3.5, Count: 2}, s.Rating))
	assert.Equal(t, v+2, s.Version, "a new rating is a new version")
	at := timestamppb.New(t0.Add(time.Hour))
	Spec.Fold(s, &pb.ReviewEdited{CommandId: "e", ReviewId: "r2", Body: wrapperspb.String("Hmm"), At: at},
		&pb.ReviewReplied{CommandId: "re", ReviewId: "r1", Body: "Thanks", At: at})
	assert.Equal(t, v+2, s.Version, "text and replies leave the product as it was")
	Spec.Fold(s, &pb.ReviewEdited{CommandId: "e2", ReviewId: "r2", Rating: wrapperspb.Int32(4), At: at})
	assert.True(t, proto.Equal(&pb.Rating{Average: 4.5, Count: 2}, s.Rating))
	Spec.Fold(s, &pb.ReviewRemoved{CommandId: "x", ReviewId: "r1", At: at})
	assert.True(t, proto.Equal(&pb.Rating{Average: 4, Count: 1}, s.Rating))
	r1 := ReviewByID(s, "r1")
	assert.Equal(t, pb.ReviewStatus_REVIEW_STATUS_REMOVED, r1.Status)
	assert.Empty(t, r1.Title+r1.Body, "a removed review keeps no text")
	assert.Nil(t, r1.Reply)
	Spec.Fold(s, &pb.ReviewDeleted{CommandId: "d", ReviewId: "r2", At: at})
	assert.True(t, proto.Equal(&pb.Rating{}, s.Rating))
	assert.Equal(t, v+5, s.Version)
	assert.Equal(t, t0, product(s).UpdatedAt.AsTime(), "reviews are not edits of the product")
}

// TestRatingIsTheMeanOfCurrentReviews is the property of issue 12: over
// random sequences of posts, edits, deletions and removals by a few
// buyers, each command possibly sent again as Proto.Actor's retries would,
// the product's rating is after every step the count and the mean of the
// reviews a model of the sequence says are current; and a replay of the
// journal gives the same state.
func TestRatingIsTheMeanOfCurrentReviews(t *testing.T) {
	buyers := []string{"b1", "b2", "b3", "b4", "b5"}
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 12))
		s := given(activeEvents()...)
		journal := activeEvents()
		model := map[string]int32{} // buyer -> stars of their current review
		banned := map[string]bool{} // buyers whose review an admin removed
		reviewOf := map[string]string{}
		var sent []proto.Message
		applied := map[proto.Message]bool{}
		for step := range 80 {
			id := fmt.Sprint("s", seed, "-", step)
			buyer := buyers[r.IntN(len(buyers))]
			stars := int32(1 + r.IntN(5))
			var cmd proto.Message
			switch k := r.IntN(10); {
			case k == 0 && len(sent) > 0:
				cmd = sent[r.IntN(len(sent))] // a retry: must change nothing
			case k < 4:
				cmd = &pb.PostReviewRequest{CommandId: id, ReviewId: "rv-" + id, BuyerId: buyer, Rating: stars, VerifiedPurchase: true}
			case k < 7:
				cmd = &pb.EditReviewRequest{CommandId: id, BuyerId: buyer, Rating: wrapperspb.Int32(stars)}
			case k < 9:
				cmd = &pb.DeleteReviewRequest{CommandId: id, BuyerId: buyer}
			default:
				cmd = &pb.RemoveReviewRequest{CommandId: id, Caller: admin, ReviewId: reviewOf[buyer]}
			}
			retry := applied[cmd]
			sent = append(sent, cmd)
			events, err := decideAsShell(s, cmd, t0)
			if len(events) > 0 {
				applied[cmd] = true
			}
			if retry {
				require.NoError(t, err, "seed %d step %d: a retry is answered", seed, step)
				require.Empty(t, events, "seed %d step %d: a retry changes nothing", seed, step)
			}
			if len(events) > 0 {
				switch c := cmd.(type) {
				case *pb.PostReviewRequest:
					_, has := model[c.BuyerId]
					if has || banned[c.BuyerId] {
						t.Fatalf("seed %d step %d: a second review of %s was taken", seed, step, c.BuyerId)
					}
					model[c.BuyerId], reviewOf[c.BuyerId] = c.Rating, c.ReviewId
				case *pb.EditReviewRequest:
					model[c.BuyerId] = c.Rating.Value
				case *pb.DeleteReviewRequest:
					delete(model, c.BuyerId)
				case *pb.RemoveReviewRequest:
					for b, rid := range reviewOf {
						if rid == c.ReviewId {
							if _, listed := model[b]; listed {
								banned[b] = true
							}
							delete(model, b)
						}
					}
				}
			}
			for _, ev := range events {
				Spec.Fold(s, ev)
				journal = append(journal, ev)
			}
			var sum int64
			for _, v := range model {
				sum += int64(v)
			}
			require.Equal(t, int64(len(model)), s.Rating.GetCount(), "seed %d step %d: count", seed, step)
			want := 0.0
			if len(model) > 0 {
				want = float64(sum) / float64(len(model))
			}
			require.InDelta(t, want, s.Rating.GetAverage(), 1e-12, "seed %d step %d: the average is the mean of the current reviews", seed, step)
		}
		replayed := given(journal...)
		require.True(t, proto.Equal(s, replayed), "seed %d: replay differs", seed)
	}
}

func TestCheckReview(t *testing.T) {
	four, zero := int32(4), int32(0)
	title, body := "Nice", strings.Repeat("a", MaxReviewBody+1)
	assert.NoError(t, CheckReview(ReviewInput{Rating: &four, Title: &title}, true))
	assert.NoError(t, CheckReview(ReviewInput{}, false), "an empty edit is no change")
	assert.Equal(t, []emporium.FieldError{emporium.Field("rating", emporium.FieldRequired, "rating is required (1 to 5 stars)")},
		emporium.ErrorFields(CheckReview(ReviewInput{}, true)))
	assert.Len(t, emporium.ErrorFields(CheckReview(ReviewInput{Rating: &zero, Body: &body}, false)), 2)
	assert.NoError(t, CheckReply("Thanks!"))
	assert.Equal(t, "body", emporium.ErrorFields(CheckReply("  "))[0].Field)
}

func TestReviewAnswer(t *testing.T) {
	s := given(append(activeEvents(), posted("r1", "b1", 4), posted("r2", "b2", 2))...)
	a := reviewAnswer(s, post("r2", "b2", 2))
	assert.Equal(t, "r2", a.Review.Id)
	assert.True(t, proto.Equal(&pb.Rating{Average: 3, Count: 2}, a.Rating))
	a.Review.Title = "changed"
	assert.Equal(t, "Nice", ReviewByID(s, "r2").Title, "the answer shares nothing with the state")
	assert.Equal(t, "r1", reviewAnswer(s, &pb.EditReviewRequest{BuyerId: "b1"}).Review.Id)
	assert.Nil(t, reviewAnswer(s, &pb.DeleteReviewRequest{BuyerId: "b1"}).Review)
}

func TestReviewView(t *testing.T) {
	s := given(append(activeEvents(), posted("r1", "b1", 4),
		&pb.ReviewReplied{CommandId: "re", ReviewId: "r1", Body: "Thanks", At: timestamppb.New(t0)},
		posted("r2", "b2", 2), &pb.ReviewRemoved{CommandId: "x", ReviewId: "r2", At: timestamppb.New(t0)})...)
	v := reviewView("p1", ReviewByID(s, "r1"))
	assert.Equal(t, ReviewView{ProductID: "p1", Listed: "p1", Stars: "p1|4", Status: "listed", Rating: 4, Title: "Nice", Body: "Fits well.",
		VerifiedPurchase: true, Reply: &ReplyView{Body: "Thanks", CreatedAt: t0}, CreatedAt: t0, UpdatedAt: t0}, v)
	gone := reviewView("p1", ReviewByID(s, "r2"))
	assert.Empty(t, gone.Listed+gone.Stars+gone.Title+gone.Body, "a removed review is in no list and keeps no text")
	assert.Equal(t, "removed", gone.Status)
}
