// Package catalog is the catalogue service, not a grain: it implements
// emporium.Catalog over the CategoryGrain, UserGrain (vendor stores),
// ProductGrain and InventoryGrain, their read models and the search index.
// It is no cluster kind and keeps no state of its own: every change is a
// command to one of those grains, and the public read side is served by
// read models and search (DESIGN §4). It lives under actors/ because it
// drives the grains' generated clients. It also answers the carts'
// catalogue lookups (items.go) and feeds the search indexer
// (searchsource.go).
//
// Files: service.go (configuration and shared helpers), categories.go,
// vendors.go, products.go (the vendor's product and stock commands),
// browse.go (the public read side), reviews.go (buyers' reviews, which
// live in the ProductGrain), reads.go (read-model lookups) and convert.go
// (contract types to and from grain messages).
package catalog

import (
	"context"
	"log/slog"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/google/uuid"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/category"
	productpb "github.com/emporium-shop/emporium/protos/productpb"
	"github.com/emporium-shop/emporium/search"
)

// ReadModels reads the documents grains project (persistence.Projections).
type ReadModels interface {
	// Get decodes the document id of collection into into; ENOTFOUND when
	// there is none.
	Get(ctx context.Context, collection, id string, into any) (seq uint64, err error)
	// GetMany decodes the documents of ids that exist into into (a pointer
	// to a slice), in the order of ids.
	GetMany(ctx context.Context, collection string, ids []string, into any) error
	// List decodes into into (a pointer to a slice) up to limit documents
	// of collection whose field equals value, in descending _id order,
	// starting below beforeID when it is set.
	List(ctx context.Context, collection, field string, value any, beforeID string, limit int, into any) error
}

// Config is what the service needs.
type Config struct {
	Cluster *cluster.Cluster
	Reads   ReadModels
	Index   search.Index
	// Categories reads the category tree (cached briefly).
	Categories *category.Reader
	// Claims keeps the idempotency keys of product creation.
	Claims actors.Claims
	// Purchases says who received a product, which a review needs; nil
	// refuses every review (purchase_required).
	Purchases Purchases
	Logger    *slog.Logger
	// NewID returns a new id for products, categories and commands; the
	// default is a UUIDv7, so that product ids sort by creation time (the
	// vendor's product list relies on it).
	NewID func() string
}

// Service implements emporium.Catalog.
type Service struct {
	cfg Config
}

var _ emporium.Catalog = (*Service)(nil)

// idempotencyCollection holds one claim per (vendor, Idempotency-Key) of a
// product creation, naming the product it created.
const idempotencyCollection = "product_keys"

// NewService checks cfg and returns the service. It panics without a
// Cluster, Reads, Index, Categories or Claims: a wiring mistake.
func NewService(cfg Config) (*Service, error) {
	if cfg.Cluster == nil || cfg.Reads == nil || cfg.Index == nil || cfg.Categories == nil || cfg.Claims == nil {
		panic("catalog.NewService: Cluster, Reads, Index, Categories and Claims are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewID == nil {
		cfg.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	return &Service{cfg: cfg}, nil
}

var allStatuses = []string{emporium.StatusDraft, emporium.StatusActive, emporium.StatusArchived}

func requireAdmin(p emporium.Principal) error {
	if p.HasRole(emporium.RoleAdmin) {
		return nil
	}
	return emporium.Errorf(emporium.EFORBIDDEN, "Only administrators may do this.")
}

// pageLimit applies the list conventions of DESIGN §8.
func pageLimit(op string, limit int) (int, error) {
	switch {
	case limit == 0:
		return search.DefaultLimit, nil
	case limit < 0 || limit > search.MaxLimit:
		return 0, emporium.Wrap(op, emporium.Invalid("limit", emporium.FieldOutOfRange, "The limit must be between 1 and 100."))
	}
	return limit, nil
}

func caller(p emporium.Principal) *productpb.Caller {
	return &productpb.Caller{VendorId: p.UserID, AsAdmin: p.HasRole(emporium.RoleAdmin)}
}
