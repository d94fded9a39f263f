package catalog

import (
	"context"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/category"
	categorypb "github.com/emporium-shop/emporium/protos/categorypb"
	"github.com/emporium-shop/emporium/search"
)

// Categories.

// Categories answers the category tree.
func (s *Service) Categories(ctx context.Context) ([]emporium.Category, error) {
	tree, err := s.cfg.Categories.Tree(ctx)
	if err != nil {
		return nil, emporium.Wrap("catalog.Categories", err)
	}
	return tree.Roots(), nil
}

// CreateCategory adds a category (admins only).
func (s *Service) CreateCategory(ctx context.Context, p emporium.Principal, in emporium.CategoryInput) (emporium.Category, error) {
	const op = "catalog.CreateCategory"
	if err := requireAdmin(p); err != nil {
		return emporium.Category{}, emporium.Wrap(op, err)
	}
	ch, err := category.Client(s.cfg.Cluster).Create(&categorypb.CreateRequest{
		CommandId: s.cfg.NewID(), Id: s.cfg.NewID(), Name: in.Name, Slug: in.Slug, ParentId: in.ParentID,
	}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Category{}, emporium.GrainCall(op, err)
	}
	return s.categoryAfter(ctx, ch), nil
}

// UpdateCategory renames or moves a category (admins only).
func (s *Service) UpdateCategory(ctx context.Context, p emporium.Principal, id string, in emporium.CategoryUpdate) (emporium.Category, error) {
	const op = "catalog.UpdateCategory"
	if err := requireAdmin(p); err != nil {
		return emporium.Category{}, emporium.Wrap(op, err)
	}
	req := &categorypb.UpdateRequest{CommandId: s.cfg.NewID(), Id: id,
		Name: stringValue(in.Name), Slug: stringValue(in.Slug), ParentId: stringValue(in.ParentID)}
	ch, err := category.Client(s.cfg.Cluster).Update(req, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Category{}, emporium.GrainCall(op, err)
	}
	return s.categoryAfter(ctx, ch), nil
}

// categoryAfter answers a category as a write left it, with its children
// as the tree shows them, and tells the tree reader the version to expect.
func (s *Service) categoryAfter(ctx context.Context, ch *categorypb.Change) emporium.Category {
	s.cfg.Categories.Wrote(ch.Version)
	c := category.FromProto(ch.Category)
	c.Children = []emporium.Category{}
	if tree, err := s.cfg.Categories.Tree(ctx); err == nil {
		if found, ok := tree.Find(c.ID); ok {
			c.Children = found.Children
		}
	}
	return c
}

// DeleteCategory removes a leaf category no product uses (admins only).
func (s *Service) DeleteCategory(ctx context.Context, p emporium.Principal, id string) error {
	const op = "catalog.DeleteCategory"
	if err := requireAdmin(p); err != nil {
		return emporium.Wrap(op, err)
	}
	res, err := s.cfg.Index.Search(ctx, search.Query{Categories: []string{id}, Statuses: allStatuses, Limit: 1})
	if err != nil {
		return emporium.Wrap(op, err)
	}
	if res.Total > 0 {
		return &emporium.Error{Code: emporium.ECONFLICT, Op: op,
			Message: "The category still has products; move them to another category first."}
	}
	ch, err := category.Client(s.cfg.Cluster).Delete(&categorypb.DeleteRequest{CommandId: s.cfg.NewID(), Id: id}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.GrainCall(op, err)
	}
	s.cfg.Categories.Wrote(ch.Version)
	return nil
}
