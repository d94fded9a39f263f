package category

import (
	"context"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/categorypb"
)

// The actor shell of the CategoryGrain: it persists each decision through
// actors.Entity and writes the tree's read model, one document holding the
// flat tree, which Reader loads.

// Kind is the cluster kind name of the CategoryGrain.
const Kind = "CategoryGrain"

// ViewCollection holds the read model: one document, _id TreeID, holding
// the flat tree and its version (View).
const ViewCollection = "categories"

// Config is what the CategoryGrain needs from the node.
type Config struct {
	actors.GrainConfig
	// Views receives the tree's read model; nil keeps none.
	Views actors.Views
}

// NewKind returns the cluster kind that activates the CategoryGrain with
// cfg.
func NewKind(cfg Config) *cluster.Kind {
	cfg.WithDefaults()
	cfg.Activations.Register(Kind)
	return pb.NewCategoryGrainKind(func() pb.CategoryGrain { return &grain{} }, cfg.IdleTimeout, configs.Hook(&cfg))
}

var configs actors.Configs[Config]

// Client returns the grain client of the tree: the CategoryGrain with
// identity TreeID.
func Client(c *cluster.Cluster) *pb.CategoryGrainGrainClient {
	return pb.GetCategoryGrainGrainClient(c, TreeID)
}

// Stream returns the journal stream of the tree with the given identity
// (TreeID outside tests).
func Stream(id string) string { return "category-" + id }

// Replay rebuilds a tree from its whole journal, ignoring snapshots.
func Replay(ctx context.Context, journal actors.Journal, id string) (*pb.State, error) {
	return actors.Replay(ctx, journal, Stream(id), newState(), apply)
}

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
	actors.Activation[*pb.State]
	cfg *Config
	id  string
}

// Init loads the tree and writes its read model, which a crash may have
// left behind the journal.
func (g *grain) Init(ctx cluster.GrainContext) {
	g.id = ctx.Identity()
	g.cfg = configs.Take(ctx.Self())
	e := actors.NewEntity(&g.cfg.GrainConfig, Stream(g.id), newState, apply,
		func() proto.Message { return &pb.Fenced{} })
	e.Changed = g.project
	if g.Start(ctx, Kind, &g.cfg.GrainConfig, e); g.Loaded() {
		g.E.Refresh()
	}
}

// Terminate snapshots when that saves replay.
func (g *grain) Terminate(ctx cluster.GrainContext) { g.Stop(ctx) }

// ReceiveDefault ignores other messages: the grain has no timers.
func (g *grain) ReceiveDefault(cluster.GrainContext) {}

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
	if err := g.Usable(ctx); err != nil {
		return nil, err
	}
	if err := g.E.Run(false); err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	return tree(g.E.State), nil
}

// write decides a command on category id and persists its events.
func (g *grain) write(ctx cluster.GrainContext, cmd proto.Message, id string, deleting bool) (*pb.Change, error) {
	if err := g.Usable(ctx); err != nil {
		return nil, err
	}
	now := g.cfg.Clock.Now()
	err := g.E.Run(true, func(s *pb.State) ([]proto.Message, error) { return decide(s, cmd, now) })
	if err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	reply, err := change(g.E.State, id, deleting)
	if err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	return reply, nil
}

// project writes the read model: the flat tree with its version. A tree
// never written has none; Reader reads its absence as an empty tree.
func (g *grain) project(state *pb.State, seq uint64) {
	if g.cfg.Views == nil || state.Version == 0 {
		return
	}
	t := tree(state)
	v := View{Categories: make([]ViewCategory, len(t.Categories)), Version: int64(t.Version)}
	for i, c := range t.Categories {
		v.Categories[i] = ViewCategory{ID: c.Id, Name: c.Name, Slug: c.Slug, ParentID: c.ParentId}
	}
	g.cfg.Views.Put(ViewCollection, g.id, seq, v)
}

var _ pb.CategoryGrain = (*grain)(nil)
