package product

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// activeProduct creates and publishes product id with SKUs of its own.
func activeProduct(t *testing.T, id string) {
	t.Helper()
	_, err := products(id).Create(createReq(withSKUPrefix(id + "-")))
	require.NoError(t, err)
	_, err = products(id).Publish(&pb.PublishRequest{CommandId: "pub", Caller: owner})
	require.NoError(t, err)
}

// passivateProduct stops the product's activation the way the idle timeout
// does, so that the next request loads it from the store.
func passivateProduct(t *testing.T, id string) {
	t.Helper()
	pid := member.Get(id, Kind)
	require.NotNil(t, pid)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())
}

// TestReviewCommandsAreCountedOnce sends every review command twice with
// the same command id, as Proto.Actor does when a request times out, across
// a passivation too: each is counted once, the answers agree, and the
// journal replays to the same state.
func TestReviewCommandsAreCountedOnce(t *testing.T) {
	const id = "p-reviews-once"
	activeProduct(t, id)
	first, err := products(id).PostReview(post(id+"~r1", "b1", 5))
	require.NoError(t, err)
	again, err := products(id).PostReview(post(id+"~r1", "b1", 5))
	require.NoError(t, err, "a retried post is answered from state")
	assert.True(t, proto.Equal(first, again))
	assert.True(t, proto.Equal(&pb.Rating{Average: 5, Count: 1}, again.Rating))

	_, err = products(id).PostReview(post(id+"~r2", "b2", 2))
	require.NoError(t, err)
	passivateProduct(t, id)
	again, err = products(id).PostReview(post(id+"~r2", "b2", 2))
	require.NoError(t, err, "a retry after passivation is answered from the journal")
	assert.True(t, proto.Equal(&pb.Rating{Average: 3.5, Count: 2}, again.Rating))

	edit := &pb.EditReviewRequest{CommandId: "edit-1", BuyerId: "b2", Rating: wrapperspb.Int32(4)}
	for range 2 {
		out, err := products(id).EditReview(edit)
		require.NoError(t, err)
		assert.True(t, proto.Equal(&pb.Rating{Average: 4.5, Count: 2}, out.Rating))
	}
	del := &pb.DeleteReviewRequest{CommandId: "del-1", BuyerId: "b1"}
	for range 2 {
		out, err := products(id).DeleteReview(del)
		require.NoError(t, err)
		assert.Nil(t, out.Review)
		assert.True(t, proto.Equal(&pb.Rating{Average: 4, Count: 1}, out.Rating))
	}
	// A second review by the same buyer is refused, not counted.
	_, err = products(id).PostReview(post(id+"~r3", "b2", 1))
	assert.Equal(t, emporium.ECONFLICT, emporium.ErrorCode(err))

	got, err := products(id).Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.True(t, proto.Equal(&pb.Rating{Average: 4, Count: 1}, got.Rating))
	replayed, err := Spec.Replay(t.Context(), store.Journal(), id)
	require.NoError(t, err)
	assert.True(t, proto.Equal(got.Rating, replayed.Rating))
	assert.Equal(t, got.Version, replayed.Version)
}

// TestReviewReadModels: the product document carries the rating, and each
// review has a document that lists it while it is listed and hides its
// text once it is not.
func TestReviewReadModels(t *testing.T) {
	const id = "p-reviews-view"
	activeProduct(t, id)
	_, err := products(id).PostReview(post(id+"~r1", "b1", 4))
	require.NoError(t, err)
	_, err = products(id).PostReview(post(id+"~r2", "b2", 1))
	require.NoError(t, err)
	out, err := products(id).ReplyToReview(&pb.ReplyToReviewRequest{CommandId: "re", Caller: owner, ReviewId: id + "~r1", Body: "Thank you!"})
	require.NoError(t, err)
	assert.Equal(t, "Thank you!", out.Review.GetReply().GetBody())
	_, err = products(id).RemoveReview(&pb.RemoveReviewRequest{CommandId: "rm", Caller: admin, ReviewId: id + "~r2"})
	require.NoError(t, err)
	require.NoError(t, store.Projections().Flush(t.Context()))

	var doc struct {
		Rating struct {
			Average float64 `bson:"average"`
			Count   string  `bson:"count"` // protojson writes 64-bit integers as strings
		} `bson:"rating"`
	}
	_, err = store.Projections().Get(t.Context(), ViewCollection, id, &doc)
	require.NoError(t, err)
	assert.Equal(t, 4.0, doc.Rating.Average)
	assert.Equal(t, "1", doc.Rating.Count)

	var listed []ReviewView
	require.NoError(t, store.Projections().List(t.Context(), ReviewCollection, ReviewListedField, id, "", 10, &listed))
	require.Len(t, listed, 1)
	assert.Equal(t, "Thank you!", listed[0].Reply.Body)
	var fours, ones []ReviewView
	require.NoError(t, store.Projections().List(t.Context(), ReviewCollection, ReviewStarsField, ReviewStarsKey(id, 4), "", 10, &fours))
	require.NoError(t, store.Projections().List(t.Context(), ReviewCollection, ReviewStarsField, ReviewStarsKey(id, 1), "", 10, &ones))
	assert.Len(t, fours, 1)
	assert.Empty(t, ones, "a removed review is in no list")

	// After a passivation the new activation keeps the documents in step.
	passivateProduct(t, id)
	_, err = products(id).EditReview(&pb.EditReviewRequest{CommandId: "e", BuyerId: "b1", Title: wrapperspb.String("Great")})
	require.NoError(t, err)
	require.NoError(t, store.Projections().Flush(t.Context()))
	var edited ReviewView
	_, err = store.Projections().Get(t.Context(), ReviewCollection, id+"~r1", &edited)
	require.NoError(t, err)
	assert.Equal(t, "Great", edited.Title)
	assert.Equal(t, "Thank you!", edited.Reply.Body)
}
