package category

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/persistence"
	pb "github.com/emporium-shop/emporium/protos/categorypb"
)

// The shell tests run one cluster member over an embedded store. Each test
// writes its own tree, a CategoryGrain of its own identity (in production
// there is one, TreeID), so that the tests do not share state.

var (
	member *cluster.Cluster
	store  persistence.Store
)

func TestMain(m *testing.M) {
	os.Exit(actorstest.Main(m, "category", func(s persistence.Store, logger *slog.Logger, cleanup func(func())) (err error) {
		store = s
		member, err = actors.StartMember(actors.ClusterConfig{Provider: actors.ProviderLocal, Addr: "127.0.0.1:0", Logger: logger},
			NewKind(Config{
				GrainConfig: actors.GrainConfig{
					Journal: store.Journal(), Snapshots: store.Snapshots(), Logger: logger,
					SnapshotEvery: 5, // reloads use a snapshot and the journal after it
				},
				Views: store.Projections(),
			}))
		if err != nil {
			return err
		}
		cleanup(func() { member.Shutdown(false) })
		return nil
	}))
}

// newTree returns the identity of a tree no other test (or run of the
// test, with -count) writes, and its grain client.
func newTree(t *testing.T) (string, *pb.CategoryGrainGrainClient) {
	id := fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	return id, pb.GetCategoryGrainGrainClient(member, id)
}

// The Reader reads the read model through persistence.Projections.
var _ ViewGetter = (persistence.Projections)(nil)

func TestCreateMoveDelete(t *testing.T) {
	id, g := newTree(t)
	got, err := g.Create(&pb.CreateRequest{CommandId: "k1", Id: "clothing", Name: "Clothing"})
	require.NoError(t, err)
	assert.Equal(t, &pb.Category{Id: "clothing", Name: "Clothing", Slug: "clothing"}, stripped(got.Category))
	assert.Equal(t, uint64(1), got.Version)
	_, err = g.Create(&pb.CreateRequest{CommandId: "k2", Id: "shoes", Name: "Chaussures d'été", ParentId: "clothing"})
	require.NoError(t, err)
	_, err = g.Create(&pb.CreateRequest{CommandId: "k3", Id: "garden", Name: "Garden"})
	require.NoError(t, err)

	moved, err := g.Update(&pb.UpdateRequest{CommandId: "k4", Id: "shoes", ParentId: wrapperspb.String("garden"), Name: wrapperspb.String("Shoes")})
	require.NoError(t, err)
	assert.Equal(t, &pb.Category{Id: "shoes", Name: "Shoes", Slug: "chaussures-d-ete", ParentId: "garden"}, stripped(moved.Category),
		"moved and renamed; the slug stays")
	assert.Equal(t, uint64(4), moved.Version)

	// Refusals cross the cluster with their codes and fields, and change
	// nothing.
	_, err = g.Update(&pb.UpdateRequest{CommandId: "k5", Id: "garden", ParentId: wrapperspb.String("shoes")})
	assertField(t, err, "parent_id", emporium.FieldCycle)
	_, err = g.Create(&pb.CreateRequest{CommandId: "k6", Id: "x", Name: "Garden"})
	assertField(t, err, "slug", emporium.FieldTaken)
	_, err = g.Create(&pb.CreateRequest{CommandId: "k7", Id: "x", Name: "X", ParentId: "nope"})
	assertField(t, err, "parent_id", emporium.FieldNotFound)
	_, err = g.Delete(&pb.DeleteRequest{CommandId: "k8", Id: "garden"})
	assert.Equal(t, emporium.ECONFLICT, emporium.ErrorCode(err), "garden has a sub-category")
	assert.Contains(t, emporium.ErrorMessage(err), "sub-categories")
	_, err = g.Delete(&pb.DeleteRequest{CommandId: "k9", Id: "nope"})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
	_, err = g.Create(&pb.CreateRequest{CommandId: "k10", Id: "garden", Name: "Other"})
	assert.Equal(t, emporium.ECONFLICT, emporium.ErrorCode(err), "the id is taken")

	tree, err := g.Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.Equal(t, uint64(4), tree.Version, "the refusals wrote nothing")

	deleted, err := g.Delete(&pb.DeleteRequest{CommandId: "k11", Id: "shoes"})
	require.NoError(t, err)
	assert.Nil(t, deleted.Category)
	assert.Equal(t, uint64(5), deleted.Version)
	_, err = g.Delete(&pb.DeleteRequest{CommandId: "k12", Id: "garden"})
	require.NoError(t, err, "a leaf now")

	tree, err = g.Get(&pb.GetRequest{})
	require.NoError(t, err)
	require.Len(t, tree.Categories, 1)
	assert.Equal(t, "clothing", tree.Categories[0].Id)

	replayed, err := Spec.Replay(t.Context(), store.Journal(), id)
	require.NoError(t, err)
	assert.Equal(t, tree.Version, replayed.Version)
	assert.Len(t, replayed.Categories, 1)
}

func TestRetriedCommandsAreAnsweredFromState(t *testing.T) {
	_, g := newTree(t)
	create := &pb.CreateRequest{CommandId: "k1", Id: "books", Name: "Books"}
	first, err := g.Create(create)
	require.NoError(t, err)
	again, err := g.Create(create)
	require.NoError(t, err, "a retried Create is answered from state")
	assert.True(t, proto.Equal(first, again))

	rename := &pb.UpdateRequest{CommandId: "k2", Id: "books", Name: wrapperspb.String("Novels")}
	renamed, err := g.Update(rename)
	require.NoError(t, err)
	_, err = g.Update(&pb.UpdateRequest{CommandId: "k3", Id: "books", Name: wrapperspb.String("Poetry")})
	require.NoError(t, err)
	late, err := g.Update(rename)
	require.NoError(t, err, "a late retry of the rename")
	assert.Equal(t, "Poetry", late.Category.Name, "does not undo the later rename")
	assert.Equal(t, renamed.Version+1, late.Version)

	_, err = g.Update(&pb.UpdateRequest{CommandId: "k2", Id: "other", Name: wrapperspb.String("X")})
	assert.Equal(t, emporium.EIDEMPOTENCY, emporium.ErrorCode(err), "a command id reused for another category")

	del := &pb.DeleteRequest{CommandId: "k4", Id: "books"}
	_, err = g.Delete(del)
	require.NoError(t, err)
	again, err = g.Delete(del)
	require.NoError(t, err, "a retried Delete succeeds")
	assert.Equal(t, late.Version+1, again.Version)
	_, err = g.Create(create)
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "a Create retried after a delete says the category is gone")
}

func TestReadModelHoldsTheTree(t *testing.T) {
	id, g := newTree(t)
	r := NewReader(store.Projections(), ReaderConfig{ID: id})
	empty, err := r.Tree(t.Context())
	require.NoError(t, err)
	assert.Zero(t, empty.Len(), "a tree never written reads as empty")

	_, err = g.Create(&pb.CreateRequest{CommandId: "k1", Id: "home", Name: "Home & Garden"})
	require.NoError(t, err)
	_, err = g.Create(&pb.CreateRequest{CommandId: "k2", Id: "tools", Name: "Tools", ParentId: "home"})
	require.NoError(t, err)
	last, err := g.Create(&pb.CreateRequest{CommandId: "k3", Id: "saws", Name: "Saws", ParentId: "tools"})
	require.NoError(t, err)
	require.NoError(t, store.Projections().Flush(t.Context()))

	var doc struct {
		Version    int64 `bson:"version"`
		Seq        int64 `bson:"seq"`
		Categories []struct {
			ID       string `bson:"id"`
			Slug     string `bson:"slug"`
			ParentID string `bson:"parent_id"`
		} `bson:"categories"`
	}
	_, err = store.Projections().Get(t.Context(), ViewCollection, id, &doc)
	require.NoError(t, err)
	assert.Equal(t, int64(last.Version), doc.Version)
	assert.Equal(t, int64(3), doc.Seq)
	require.Len(t, doc.Categories, 3)
	assert.Equal(t, "home-garden", doc.Categories[0].Slug)
	assert.Equal(t, "tools", doc.Categories[1].ParentID, "saws, ordered by id")

	// The Reader serves the written tree once told of the write.
	r.Wrote(last.Version)
	tr, err := r.Tree(t.Context())
	require.NoError(t, err)
	assert.Equal(t, last.Version, tr.Version())
	assert.Equal(t, []string{"home", "tools", "saws"}, tr.Descendants("home-garden"))
	assert.Equal(t, []string{"home", "tools"}, tr.Ancestors("saws"))

	// A local write is seen at once, even before its projection is flushed.
	moved, err := g.Update(&pb.UpdateRequest{CommandId: "k4", Id: "saws", ParentId: wrapperspb.String("home")})
	require.NoError(t, err)
	r.Wrote(moved.Version)
	tr, err = r.Tree(t.Context())
	require.NoError(t, err)
	assert.Equal(t, moved.Version, tr.Version())
	assert.Equal(t, []string{"home"}, tr.Ancestors("saws"))
}

func TestPassivationKeepsState(t *testing.T) {
	id, g := newTree(t)
	var last *pb.Change
	for i := range 12 { // past SnapshotEvery: the reload uses a snapshot and the journal
		cid := fmt.Sprint("c", i)
		parent := ""
		if i%3 != 0 {
			parent = fmt.Sprint("c", i-i%3)
		}
		var err error
		last, err = g.Create(&pb.CreateRequest{CommandId: "k" + cid, Id: cid, Name: "Category " + cid, ParentId: parent})
		require.NoError(t, err)
	}
	_, err := g.Update(&pb.UpdateRequest{CommandId: "move", Id: "c3", ParentId: wrapperspb.String("c0")})
	require.NoError(t, err)
	before, err := g.Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.Equal(t, last.Version+1, before.Version)

	// Passivate the activation the way the idle timeout does: a poison pill.
	pid := member.Get(id, Kind)
	require.NotNil(t, pid)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())
	actorstest.WaitFor(t, 5*time.Second, "the snapshot saved at passivation or before", func() bool {
		s := newState()
		seq, found, err := store.Snapshots().Load(t.Context(), Spec.Stream(id), s)
		return err == nil && found && seq >= 10
	})

	after, err := g.Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.True(t, proto.Equal(before, after), "state changed across passivation: %v -> %v", before, after)
	assert.NotEqual(t, pid.String(), member.Get(id, Kind).String(), "a new activation answered")

	// Retries after the reload are still recognised.
	again, err := g.Update(&pb.UpdateRequest{CommandId: "move", Id: "c3", ParentId: wrapperspb.String("c0")})
	require.NoError(t, err)
	assert.Equal(t, before.Version, again.Version)
	replayed, err := Spec.Replay(t.Context(), store.Journal(), id)
	require.NoError(t, err)
	assert.True(t, proto.Equal(tree(replayed), after), "the journal replays to the state")
}

func TestTheTreeGrain(t *testing.T) {
	// Client reaches the one tree of production, identity TreeID.
	got, err := Client(member).Create(&pb.CreateRequest{CommandId: "k1", Id: "root", Name: "Root"})
	require.NoError(t, err)
	assert.Equal(t, "root", got.Category.Slug)
	require.NotNil(t, member.Get(TreeID, Kind))
}

func assertField(t *testing.T, err error, field, code string) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "error: %v", err)
	fields := emporium.ErrorFields(err)
	require.NotEmpty(t, fields, "error: %v", err)
	assert.Equal(t, field, fields[0].Field)
	assert.Equal(t, code, fields[0].Code)
}

// stripped copies a category without its protobuf internals, for
// assert.Equal.
func stripped(c *pb.Category) *pb.Category {
	return &pb.Category{Id: c.GetId(), Name: c.GetName(), Slug: c.GetSlug(), ParentId: c.GetParentId()}
}
