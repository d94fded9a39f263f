// Package category is the CategoryGrain: one grain, identity TreeID, owns
// the whole category tree of the catalogue (DESIGN §4, §8). The tree is
// small and rarely written, so a single writer keeps its rules (unique
// slugs, no cycles, bounded depth) without any coordination between grains.
//
// The rules are a pure core (core.go: decide, apply and the answers;
// validate.go: the field rules); the actor shell (grain.go) persists the
// events between them and writes the read model, one document holding the
// flat tree. The read side (tree.go) builds a Tree from that document and
// caches it in a Reader.
package category

import (
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/categorypb"
)

// The pure core of the CategoryGrain: decide turns a command into events
// (or refuses it) without changing anything, apply folds an event into the
// state without checking anything. Nothing here does I/O or reads the
// clock: the shell passes now. Whether products still use a category is
// not the core's: the caller checks it before Delete.

// TreeID is the identity of the one CategoryGrain that holds the tree, and
// the _id of its read-model document.
const TreeID = "tree"

// Limits of the tree.
const (
	// MaxCategories bounds the tree, so that its one grain state and its one
	// read-model document stay small (well under a MongoDB document).
	MaxCategories = 10_000
	// MaxDepth is the most levels the tree has: a root is at level 1.
	MaxDepth = 5
)

// newState returns the state of a tree that was never written.
func newState() *pb.State {
	return &pb.State{Categories: map[string]*pb.Node{}}
}

// decide checks cmd against the state at time now and returns the events
// that carry it out. No events and no error means there is nothing left to
// do: the command asks for what already holds, or was applied before
// under another id of its own (a Create whose category records it). The
// shell has already answered a retry of a remembered command id (retried)
// and refused a missing one. A refusal returns no events. Get yields no
// events.
func decide(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	switch c := cmd.(type) {
	case *pb.CreateRequest:
		return decideCreate(s, c, now)
	case *pb.UpdateRequest:
		return decideUpdate(s, c, now)
	case *pb.DeleteRequest:
		return decideDelete(s, c, now)
	case *pb.GetRequest:
		return nil, nil
	default:
		return nil, emporium.Errorf(emporium.EINTERNAL, "category: unknown command %T", cmd)
	}
}

func decideCreate(s *pb.State, c *pb.CreateRequest, now time.Time) ([]proto.Message, error) {
	if fe := checkID("id", c.Id); fe != nil {
		return nil, emporium.InvalidFields(*fe)
	}
	if n, ok := s.Categories[c.Id]; ok {
		if n.CreatedBy == c.CommandId {
			return nil, nil // a retry: answered from state
		}
		return nil, emporium.Errorf(emporium.ECONFLICT, "a category with id %q already exists", c.Id)
	}
	if len(s.Categories) >= MaxCategories {
		return nil, emporium.Errorf(emporium.EINVALID,
			"the catalogue has the most categories it may have (%d); delete some first", MaxCategories)
	}
	var errs []emporium.FieldError
	name, fe := cleanName(c.Name)
	errs = appendFE(errs, fe)
	var slug string
	if fe == nil {
		slug, fe = slugFor(c.Slug, name)
		if fe == nil {
			fe = checkSlugFree(s, slug, "")
		}
		errs = appendFE(errs, fe)
	}
	parent := cleanParent(c.ParentId)
	if parent != "" {
		if _, ok := s.Categories[parent]; !ok {
			errs = append(errs, parentNotFound(parent))
		} else if d := depth(s, parent) + 1; d > MaxDepth {
			errs = append(errs, emporium.Field("parent_id", emporium.FieldTooDeep,
				"the tree has at most %d levels; a category under %q would be at level %d", MaxDepth, parent, d))
		}
	}
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	return []proto.Message{&pb.CategoryCreated{
		CommandId: c.CommandId,
		Id:        c.Id,
		Name:      name,
		Slug:      slug,
		ParentId:  parent,
		At:        timestamppb.New(now),
	}}, nil
}

func decideUpdate(s *pb.State, c *pb.UpdateRequest, now time.Time) ([]proto.Message, error) {
	n, ok := s.Categories[c.Id]
	if !ok {
		return nil, notFound(c.Id)
	}
	ev := &pb.CategoryUpdated{CommandId: c.CommandId, Id: c.Id, At: timestamppb.New(now)}
	var errs []emporium.FieldError
	name := n.Name
	if c.Name != nil {
		v, fe := cleanName(c.Name.Value)
		errs = appendFE(errs, fe)
		if fe == nil {
			name = v
			if v != n.Name {
				ev.Name = wrapperspb.String(v)
			}
		}
	}
	// A rename keeps the slug (links to it stay valid) unless the request
	// carries one; an empty one is made from the name.
	if c.Slug != nil {
		v, fe := slugFor(c.Slug.Value, name)
		if fe == nil && v != n.Slug {
			fe = checkSlugFree(s, v, n.Id)
			if fe == nil {
				ev.Slug = wrapperspb.String(v)
			}
		}
		errs = appendFE(errs, fe)
	}
	if c.ParentId != nil {
		v := cleanParent(c.ParentId.Value)
		if v != n.ParentId {
			fe := checkMove(s, n.Id, v)
			errs = appendFE(errs, fe)
			if fe == nil {
				ev.ParentId = wrapperspb.String(v)
			}
		}
	}
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	if ev.Name == nil && ev.Slug == nil && ev.ParentId == nil {
		return nil, nil
	}
	return []proto.Message{ev}, nil
}

func decideDelete(s *pb.State, c *pb.DeleteRequest, now time.Time) ([]proto.Message, error) {
	if _, ok := s.Categories[c.Id]; !ok {
		return nil, notFound(c.Id)
	}
	if kids := children(s)[c.Id]; len(kids) > 0 {
		return nil, emporium.Errorf(emporium.ECONFLICT,
			"category %q has %d sub-categories; move or delete them first", c.Id, len(kids))
	}
	return []proto.Message{&pb.CategoryDeleted{CommandId: c.CommandId, Id: c.Id, At: timestamppb.New(now)}}, nil
}

// checkMove checks moving category id under parent ("" for the roots): the
// parent exists, is neither the category nor one of its descendants, and
// the moved sub-tree stays within MaxDepth levels.
func checkMove(s *pb.State, id, parent string) *emporium.FieldError {
	if parent == "" {
		return nil // a sub-tree that fit lower fits at the roots
	}
	if _, ok := s.Categories[parent]; !ok {
		fe := parentNotFound(parent)
		return &fe
	}
	if slices.Contains(path(s, parent), id) {
		fe := emporium.Field("parent_id", emporium.FieldCycle, "category %q cannot move under itself or one of its sub-categories", id)
		return &fe
	}
	if d := depth(s, parent) + height(s, id); d > MaxDepth {
		fe := emporium.Field("parent_id", emporium.FieldTooDeep,
			"the tree has at most %d levels; moved under %q, the category and its sub-categories would reach level %d", MaxDepth, parent, d)
		return &fe
	}
	return nil
}

// apply folds one event into the state. Events are facts: apply never
// refuses one, so replaying a journal always gives the same state. Every
// event but Fenced adds one to the version.
func apply(s *pb.State, ev proto.Message) {
	if s.Categories == nil {
		s.Categories = map[string]*pb.Node{} // a snapshot of an empty tree
	}
	var at *timestamppb.Timestamp
	switch e := ev.(type) {
	case *pb.CategoryCreated:
		s.Categories[e.Id] = &pb.Node{Id: e.Id, Name: e.Name, Slug: e.Slug, ParentId: e.ParentId, CreatedBy: e.CommandId}
		rememberCommand(s, e.CommandId, e.Id)
		at = e.At
	case *pb.CategoryUpdated:
		if n := s.Categories[e.Id]; n != nil {
			if e.Name != nil {
				n.Name = e.Name.Value
			}
			if e.Slug != nil {
				n.Slug = e.Slug.Value
			}
			if e.ParentId != nil {
				n.ParentId = e.ParentId.Value
			}
		}
		rememberCommand(s, e.CommandId, e.Id)
		at = e.At
	case *pb.CategoryDeleted:
		delete(s.Categories, e.Id)
		rememberCommand(s, e.CommandId, e.Id)
		at = e.At
	case *pb.Fenced:
		// Only takes its seq; not a version.
		return
	default:
		return
	}
	s.UpdatedAt = proto.CloneOf(at)
	s.Version++
}

// change renders the answer to a write on category id: the category as it
// stands, or ENOTFOUND when it does not exist (a Create retried after the
// category was deleted). After a Delete it carries only the version.
func change(s *pb.State, id string, deleted bool) (*pb.Change, error) {
	if deleted {
		return &pb.Change{Version: s.Version}, nil
	}
	n, ok := s.Categories[id]
	if !ok {
		return nil, notFound(id)
	}
	return &pb.Change{Category: category(n), Version: s.Version}, nil
}

// tree renders the whole tree, flat and ordered by id.
func tree(s *pb.State) *pb.Tree {
	ids := slices.Sorted(maps.Keys(s.Categories))
	out := &pb.Tree{Categories: make([]*pb.Category, len(ids)), Version: s.Version}
	for i, id := range ids {
		out.Categories[i] = category(s.Categories[id])
	}
	return out
}

func category(n *pb.Node) *pb.Category {
	return &pb.Category{Id: n.Id, Name: n.Name, Slug: n.Slug, ParentId: n.ParentId}
}

// path returns the ids from id up to its root, id first. It stops at a
// missing parent and, defensively, after as many steps as the tree has
// categories, so it ends even on a state that broke the rules.
func path(s *pb.State, id string) []string {
	var out []string
	for id != "" && len(out) <= len(s.Categories) {
		n, ok := s.Categories[id]
		if !ok {
			break
		}
		out = append(out, id)
		id = n.ParentId
	}
	return out
}

// depth is the level of category id: 1 for a root.
func depth(s *pb.State, id string) int { return len(path(s, id)) }

// height is the number of levels of the sub-tree under id, id included: 1
// for a leaf.
func height(s *pb.State, id string) int {
	kids := children(s)
	var walk func(id string, level int) int
	walk = func(id string, level int) int {
		h := 1
		if level > len(s.Categories) {
			return h // a cycle: cannot happen, but must not loop
		}
		for _, k := range kids[id] {
			h = max(h, 1+walk(k, level+1))
		}
		return h
	}
	return walk(id, 1)
}

// children maps each category id to the ids of its direct sub-categories.
func children(s *pb.State) map[string][]string {
	out := map[string][]string{}
	for id, n := range s.Categories {
		if n.ParentId != "" {
			out[n.ParentId] = append(out[n.ParentId], id)
		}
	}
	return out
}

// checkSlugFree refuses a slug another category than self holds.
func checkSlugFree(s *pb.State, slug, self string) *emporium.FieldError {
	for id, n := range s.Categories {
		if n.Slug == slug && id != self {
			fe := emporium.Field("slug", emporium.FieldTaken, "slug %q is taken by another category; choose another", slug)
			return &fe
		}
	}
	return nil
}

func parentNotFound(parent string) emporium.FieldError {
	return emporium.Field("parent_id", emporium.FieldNotFound, "parent category %q does not exist", parent)
}

func notFound(id string) error {
	return emporium.Errorf(emporium.ENOTFOUND, "category %q not found", id)
}

// retried tells the shell whether cmd, whose command id is valid, was
// applied lately to the category it names, so that it is a retry to answer
// from state (a category created, then deleted since, is answered as gone).
// The same id applied to another category is a reused key, refused with
// EIDEMPOTENCY.
func retried(s *pb.State, cmd proto.Message) (bool, error) {
	c, ok := cmd.(interface {
		GetCommandId() string
		GetId() string
	})
	if !ok {
		return false, nil
	}
	for _, rc := range s.RecentCommands {
		if rc.CommandId != c.GetCommandId() {
			continue
		}
		if rc.CategoryId != c.GetId() {
			return false, emporium.Errorf(emporium.EIDEMPOTENCY,
				"command_id %q was already used for another category", c.GetCommandId())
		}
		return true, nil
	}
	return false, nil
}

// rememberCommand records that a command acted on category id, for
// retried; the last actors.CommandsKept are kept.
func rememberCommand(s *pb.State, commandID, id string) {
	s.RecentCommands = actors.KeepLast(append(s.RecentCommands, &pb.RecentCommand{CommandId: commandID, CategoryId: id}), actors.CommandsKept)
}
