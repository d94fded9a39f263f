package product

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// combinationsComplete reports whether a state's variants satisfy the
// combination rule against its options.
func combinationsComplete(s *pb.State) bool {
	in := &pb.VariantSet{Options: s.Options}
	for _, v := range s.Variants {
		in.Variants = append(in.Variants, &pb.VariantInput{Sku: v.Sku, Options: v.Options, PriceAmount: v.PriceAmount, CompareAtAmount: v.CompareAtAmount})
	}
	_, _, errs := cleanVariantSet(in)
	return errs == nil
}

// randomVariantSet draws options and variants, usually valid, sometimes
// breaking the combination rule (a missing or doubled combination, an
// unknown value).
func randomVariantSet(r *rand.Rand) *pb.VariantSet {
	pool := [][]string{{"S", "M", "L"}, {"red", "blue"}, {"cotton", "wool"}}
	names := []string{"size", "color", "fabric"}
	set := &pb.VariantSet{}
	n := r.IntN(3)
	for i := range n {
		k := 1 + r.IntN(len(pool[i]))
		set.Options = append(set.Options, &pb.Option{Name: names[i], Values: pool[i][:k]})
	}
	combos := []map[string]string{{}}
	for _, o := range set.Options {
		var next []map[string]string
		for _, c := range combos {
			for _, v := range o.Values {
				m := map[string]string{o.Name: v}
				for k, x := range c {
					m[k] = x
				}
				next = append(next, m)
			}
		}
		combos = next
	}
	for i, c := range combos {
		// A small SKU pool, so that updates keep, drop and add SKUs.
		sku := fmt.Sprintf("SKU-%d", (i+r.IntN(3))%8)
		set.Variants = append(set.Variants, &pb.VariantInput{Sku: sku, Options: c, PriceAmount: int64(100 + r.IntN(5))})
	}
	switch r.IntN(8) {
	case 0:
		set.Variants = set.Variants[:len(set.Variants)-1]
	case 1:
		set.Variants = append(set.Variants, proto.CloneOf(set.Variants[0]))
	case 2:
		if len(set.Options) > 0 {
			set.Variants[0].Options[names[0]] = "nope"
		}
	}
	return set
}

// TestRandomCommandsKeepInvariants drives the core with random commands,
// some repeated as Proto.Actor's retries would be, and checks after each
// that the version counts the events, that every state's variants satisfy
// the combination rule, that a refused command left no events, and that
// replaying the events gives the same state.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	callers := []*pb.Caller{owner, owner, owner, other, admin}
	kinds := map[string]int{}
	defer func() {
		// The draw reaches every kind of event, variant-set changes included.
		for _, k := range []string{"ProductCreated", "ProductUpdated", "variant_set", "ProductPublished", "ProductArchived", "ReviewPosted", "ReviewEdited", "ReviewDeleted", "ReviewReplied", "ReviewRemoved"} {
			assert.Positive(t, kinds[k], "no %s was drawn", k)
		}
	}()
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 7))
		s := newState("p1")
		var journal []proto.Message
		var sent []proto.Message
		now := t0
		for step := range 300 {
			now = now.Add(time.Duration(r.IntN(60)) * time.Second)
			id := fmt.Sprint("c", step)
			caller := callers[r.IntN(len(callers))]
			var cmd proto.Message
			switch k := r.IntN(12); {
			case k < 2 && len(sent) > 0:
				cmd = sent[r.IntN(len(sent))] // a retry
			case k == 2:
				set := randomVariantSet(r)
				cmd = &pb.CreateRequest{CommandId: id, VendorId: vendor, Title: "P", Currency: "EUR",
					CategoryId: []string{"", "cat"}[r.IntN(2)], Options: set.Options, Variants: set.Variants}
			case k < 6:
				u := &pb.UpdateRequest{CommandId: id, Caller: caller}
				if r.IntN(2) == 0 {
					u.ExpectedVersion = s.Version - uint64(r.IntN(2))
				}
				if r.IntN(2) == 0 {
					u.Title = wrapperspb.String([]string{"P", "Q", ""}[r.IntN(3)])
				}
				if r.IntN(3) == 0 {
					u.CategoryId = wrapperspb.String([]string{"", "cat", "other"}[r.IntN(3)])
				}
				if r.IntN(2) == 0 {
					u.VariantSet = randomVariantSet(r)
				}
				cmd = u
			case k < 8:
				cmd = &pb.PublishRequest{CommandId: id, Caller: caller}
			case k == 8:
				if r.IntN(3) == 0 {
					cmd = &pb.ArchiveRequest{CommandId: id, Caller: caller}
				} else {
					cmd = &pb.GetForVendorRequest{Caller: caller}
				}
			default:
				cmd = randomReviewCommand(r, s, id, caller)
			}
			sent = append(sent, cmd)
			before := proto.Clone(s)
			events, err := decideAsShell(s, cmd, now)
			require.True(t, proto.Equal(before, s), "seed %d step %d: decide changed the state", seed, step)
			if err != nil {
				require.Empty(t, events)
				code := emporium.ErrorCode(err)
				require.Contains(t, []string{emporium.EINVALID, emporium.ENOTFOUND, emporium.ECONFLICT, emporium.EFORBIDDEN, emporium.EPURCHASEREQUIRED}, code, "seed %d step %d: %v", seed, step, err)
				continue
			}
			if r.IntN(10) == 0 {
				// The shell fenced a seq whose append it could not settle.
				Spec.Fold(s, &pb.Fenced{})
				journal = append(journal, &pb.Fenced{})
			}
			for _, ev := range events {
				v, rating := s.Version, proto.CloneOf(s.Rating)
				Spec.Fold(s, ev)
				journal = append(journal, ev)
				kinds[string(ev.ProtoReflect().Descriptor().Name())]++
				if u, ok := ev.(*pb.ProductUpdated); ok && u.HasVariantSet {
					kinds["variant_set"]++
				}
				if isReviewEvent(ev) && proto.Equal(rating, s.Rating) {
					require.Equal(t, v, s.Version, "seed %d step %d: a review event that leaves the rating takes no version", seed, step)
				} else {
					require.Equal(t, v+1, s.Version, "seed %d step %d: every event adds one version", seed, step)
				}
				requireRatingIsTheMean(t, s)
			}
			if created(s) {
				require.True(t, combinationsComplete(s), "seed %d step %d: variants break the rule: %v", seed, step, s.Variants)
				if s.Status == pb.ProductStatus_PRODUCT_STATUS_ACTIVE {
					require.NotEmpty(t, s.CategoryId, "an active product has a category")
				}
				require.Equal(t, vendor, s.VendorId, "the owner never changes")
			}
			// A retry of what was just done yields nothing.
			if len(events) > 0 {
				again, err := decideAsShell(s, cmd, now)
				require.NoError(t, err)
				require.Empty(t, again, "seed %d step %d: a retry repeated the effect", seed, step)
			}
		}
		replayed := newState("p1")
		for _, ev := range journal {
			Spec.Fold(replayed, ev)
		}
		require.True(t, proto.Equal(s, replayed), "seed %d: replay differs", seed)
	}
}

// randomReviewCommand draws a review command from a small pool of buyers
// (the owning vendor among them), mostly with a verified purchase and valid
// fields.
func randomReviewCommand(r *rand.Rand, s *pb.State, id string, caller *pb.Caller) proto.Message {
	buyer := []string{"b1", "b2", "b3", vendor}[r.IntN(4)]
	target := "none"
	if len(s.Reviews) > 0 {
		target = s.Reviews[r.IntN(len(s.Reviews))].Id
	}
	stars := int32(r.IntN(7)) // 0 and 6 are out of range
	switch r.IntN(6) {
	case 0, 1:
		return &pb.PostReviewRequest{CommandId: id, ReviewId: "r" + id, BuyerId: buyer, Rating: stars,
			Title: "Good", Body: "Fine.", VerifiedPurchase: r.IntN(8) > 0}
	case 2:
		c := &pb.EditReviewRequest{CommandId: id, BuyerId: buyer}
		if r.IntN(3) > 0 {
			c.Rating = wrapperspb.Int32(stars)
		}
		if r.IntN(2) == 0 {
			c.Body = wrapperspb.String([]string{"Fine.", "Better.", ""}[r.IntN(3)])
		}
		return c
	case 3:
		return &pb.DeleteReviewRequest{CommandId: id, BuyerId: buyer}
	case 4:
		return &pb.ReplyToReviewRequest{CommandId: id, Caller: caller, ReviewId: target, Body: "Thanks."}
	default:
		return &pb.RemoveReviewRequest{CommandId: id, Caller: caller, ReviewId: target}
	}
}

func isReviewEvent(ev proto.Message) bool {
	switch ev.(type) {
	case *pb.ReviewPosted, *pb.ReviewEdited, *pb.ReviewDeleted, *pb.ReviewReplied, *pb.ReviewRemoved:
		return true
	}
	return false
}

// requireRatingIsTheMean checks the rating against the listed reviews
// themselves: their count, and the mean of their stars.
func requireRatingIsTheMean(t *testing.T, s *pb.State) {
	t.Helper()
	var sum, n int64
	buyers := map[string]bool{}
	for _, r := range s.Reviews {
		if r.Status != pb.ReviewStatus_REVIEW_STATUS_LISTED {
			require.Empty(t, r.Title+r.Body, "a review that is not listed keeps no text")
			continue
		}
		require.False(t, buyers[r.BuyerId], "one listed review per buyer")
		buyers[r.BuyerId] = true
		sum += int64(r.Rating)
		n++
	}
	require.Equal(t, n, s.GetRating().GetCount())
	if n == 0 {
		require.Zero(t, s.GetRating().GetAverage())
		return
	}
	require.InDelta(t, float64(sum)/float64(n), s.GetRating().GetAverage(), 1e-12)
}
