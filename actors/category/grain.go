package category

import (
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/categorypb"
)

// The commands of the CategoryGrain (declared to the shell in kind.go); the
// grain writes the tree's read model, one document holding the flat tree,
// which Reader loads.

// View is the read-model document of the tree. Projections add _id (the
// grain's identity) and seq (the journal seq).
type View struct {
	// Categories is the whole tree, flat, ordered by id.
	Categories []ViewCategory `bson:"categories"`
	// Version counts the tree's changes, as Change.version does.
	Version int64 `bson:"version"`
}

// ViewCategory is one category of the read model.
type ViewCategory struct {
	ID       string `bson:"id"`
	Name     string `bson:"name"`
	Slug     string `bson:"slug"`
	ParentID string `bson:"parent_id"`
}

// grain is one activation of the CategoryGrain.
type grain struct {
	actors.Activation[*pb.State, Config]
}

// Create adds a category.
func (g *grain) Create(req *pb.CreateRequest, ctx cluster.GrainContext) (*pb.Change, error) {
	return g.write(ctx, req, req.Id, false)
}

// Update renames, re-slugs or moves a category.
func (g *grain) Update(req *pb.UpdateRequest, ctx cluster.GrainContext) (*pb.Change, error) {
	return g.write(ctx, req, req.Id, false)
}

// Delete removes a category without sub-categories.
func (g *grain) Delete(req *pb.DeleteRequest, ctx cluster.GrainContext) (*pb.Change, error) {
	return g.write(ctx, req, req.Id, true)
}

// Get answers the whole tree, after settling an unknown outcome, if any.
func (g *grain) Get(_ *pb.GetRequest, ctx cluster.GrainContext) (*pb.Tree, error) {
	if err := g.Query(ctx); err != nil {
		return nil, err
	}
	return tree(g.Entity.State), nil
}

// write decides a command on category id and persists its events.
func (g *grain) write(ctx cluster.GrainContext, cmd proto.Message, id string, deleting bool) (*pb.Change, error) {
	err := g.Command(ctx, cmd, func(s *pb.State, now time.Time) ([]proto.Message, error) { return decide(s, cmd, now) })
	if err != nil {
		return nil, err
	}
	reply, err := change(g.Entity.State, id, deleting)
	if err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	return reply, nil
}

// Project writes the read model: the flat tree with its version. A tree
// never written has none; Reader reads its absence as an empty tree.
func (g *grain) Project(state *pb.State, seq uint64) {
	if g.Config.Views == nil || state.Version == 0 {
		return
	}
	t := tree(state)
	v := View{Categories: make([]ViewCategory, len(t.Categories)), Version: int64(t.Version)}
	for i, c := range t.Categories {
		v.Categories[i] = ViewCategory{ID: c.Id, Name: c.Name, Slug: c.Slug, ParentID: c.ParentId}
	}
	g.Config.Views.Put(ViewCollection, g.ID(), seq, v)
}

var _ pb.CategoryGrain = (*grain)(nil)
