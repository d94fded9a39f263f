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
		for _, k := range []string{"ProductCreated", "ProductUpdated", "variant_set", "ProductPublished", "ProductArchived", "RatingUpdated"} {
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
				count := int64(r.IntN(4))
				avg := 0.0
				if count > 0 {
					avg = float64(1 + r.IntN(5))
				}
				cmd = &pb.SetRatingRequest{CommandId: id, Average: avg, Count: count}
			}
			sent = append(sent, cmd)
			before := proto.Clone(s)
			events, err := decideAsShell(s, cmd, now)
			require.True(t, proto.Equal(before, s), "seed %d step %d: decide changed the state", seed, step)
			if err != nil {
				require.Empty(t, events)
				code := emporium.ErrorCode(err)
				require.Contains(t, []string{emporium.EINVALID, emporium.ENOTFOUND, emporium.ECONFLICT}, code, "seed %d step %d: %v", seed, step, err)
				continue
			}
			if r.IntN(10) == 0 {
				// The shell fenced a seq whose append it could not settle.
				Spec.Fold(s, &pb.Fenced{})
				journal = append(journal, &pb.Fenced{})
			}
			for _, ev := range events {
				v := s.Version
				Spec.Fold(s, ev)
				journal = append(journal, ev)
				kinds[string(ev.ProtoReflect().Descriptor().Name())]++
				if u, ok := ev.(*pb.ProductUpdated); ok && u.HasVariantSet {
					kinds["variant_set"]++
				}
				require.Equal(t, v+1, s.Version, "seed %d step %d: every event adds one version", seed, step)
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
		versions := 0
		for _, ev := range journal {
			if _, ok := ev.(*pb.Fenced); !ok {
				versions++
			}
		}
		require.Equal(t, uint64(versions), s.Version)
		replayed := newState("p1")
		for _, ev := range journal {
			Spec.Fold(replayed, ev)
		}
		require.True(t, proto.Equal(s, replayed), "seed %d: replay differs", seed)
	}
}
