package product

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/persistence"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// The shell tests run one cluster member over an embedded store: SKU claims
// across products, the read model, retries.

var (
	member *cluster.Cluster
	store  persistence.Store
)

func TestMain(m *testing.M) {
	os.Exit(actorstest.Main(m, "product", func(s persistence.Store, logger *slog.Logger, cleanup func(func())) (err error) {
		store = s
		if err := EnsureIndexes(context.Background(), s.Projections()); err != nil {
			return err
		}
		member, err = actors.StartMember(actors.ClusterConfig{Provider: actors.ProviderLocal, Addr: "127.0.0.1:0", Logger: logger},
			NewKind(Config{
				GrainConfig: actors.GrainConfig{Journal: store.Journal(), Snapshots: store.Snapshots(), Logger: logger},
				Claims:      &actors.DocumentClaims{Collection: func(c string) actors.ClaimDocuments { return store.Documents(c) }},
				Views:       store.Projections(),
			}))
		if err != nil {
			return err
		}
		cleanup(func() { member.Shutdown(false) })
		return nil
	}))
}

func products(id string) *pb.ProductGrainGrainClient {
	return pb.GetProductGrainGrainClient(member, id)
}

// withSKUPrefix makes a create request whose SKUs no other test uses.
func withSKUPrefix(prefix string) func(*pb.CreateRequest) {
	return func(c *pb.CreateRequest) {
		for _, v := range c.Variants {
			v.Sku = prefix + v.Sku
		}
	}
}

func TestSKUsAreUniqueAcrossProducts(t *testing.T) {
	req := createReq(withSKUPrefix("U-"))
	first, err := products("p-unique-1").Create(req)
	require.NoError(t, err)
	assert.Len(t, first.Variants, 4)
	again, err := products("p-unique-1").Create(req)
	require.NoError(t, err, "a retried Create is answered from state")
	assert.Equal(t, first.Version, again.Version)

	_, err = products("p-unique-2").Create(createReq(withSKUPrefix("U-")))
	require.Error(t, err)
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	fields := emporium.ErrorFields(err)
	require.NotEmpty(t, fields)
	assert.Equal(t, "taken", fields[0].Code)
	_, err = products("p-unique-2").Get(&pb.GetRequest{})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "the refused product does not exist")

	// A variant set that drops a SKU gives it up; another product can take it.
	update := &pb.UpdateRequest{
		CommandId: "drop-sizes", Caller: &pb.Caller{VendorId: vendor},
		VariantSet: &pb.VariantSet{Options: []*pb.Option{{Name: "color", Values: []string{"red", "blue"}}}, Variants: []*pb.VariantInput{
			variant("U-TS-S-R", 1999, "color", "red"), variant("U-TS-S-B", 1999, "color", "blue"),
		}},
	}
	_, err = products("p-unique-1").Update(update)
	require.NoError(t, err)
	other := createReq(func(c *pb.CreateRequest) {
		c.CommandId = "create-other"
		c.Options = []*pb.Option{{Name: "size", Values: []string{"M"}}}
		c.Variants = []*pb.VariantInput{variant("U-TS-M-R", 2199, "size", "M")}
	})
	_, err = products("p-unique-3").Create(other)
	require.NoError(t, err, "the dropped SKU was released")
}

func TestReadModelFollowsTheProduct(t *testing.T) {
	_, err := products("p-view").Create(createReq(withSKUPrefix("V-")))
	require.NoError(t, err)
	published, err := products("p-view").Publish(&pb.PublishRequest{CommandId: "pub", Caller: &pb.Caller{VendorId: vendor}})
	require.NoError(t, err)
	require.NoError(t, store.Projections().Flush(t.Context()))

	var doc struct {
		Status  string   `bson:"status"`
		Version int64    `bson:"version"`
		Title   string   `bson:"title"`
		SKUs    []string `bson:"skus"`
	}
	_, err = store.Projections().Get(t.Context(), ViewCollection, "p-view", &doc)
	require.NoError(t, err)
	assert.Equal(t, "active", doc.Status)
	assert.Equal(t, int64(published.Version), doc.Version)
	assert.Equal(t, "T-shirt", doc.Title)
	assert.Len(t, doc.SKUs, 4)

	// Another vendor neither reads nor changes it.
	_, err = products("p-view").GetForVendor(&pb.GetForVendorRequest{Caller: &pb.Caller{VendorId: "someone-else"}})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
	_, err = products("p-view").Archive(&pb.ArchiveRequest{CommandId: "arch", Caller: &pb.Caller{VendorId: "someone-else"}})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))

	replayed, err := Spec.Replay(t.Context(), store.Journal(), "p-view")
	require.NoError(t, err)
	assert.Equal(t, published.Version, replayed.Version)
}
