package emporium

import (
	"context"
	"time"
)

// Catalog is the catalogue service: the category tree, vendors and their
// store pages, the products vendors list and stock, and the read side buyers
// browse and search (DESIGN §4, §6, §8). The gateway serves it over HTTP;
// actors/catalog implements it over the CategoryGrain, UserGrain,
// ProductGrain and InventoryGrain, their read models and the search index.
//
// The catalogue types carry the JSON names of the API contract, so that the
// gateway answers them as they are.
type Catalog interface {
	// Categories answers the whole category tree: its roots, each with its
	// children.
	Categories(ctx context.Context) ([]Category, error)
	// CreateCategory adds a category (admins only).
	CreateCategory(ctx context.Context, p Principal, in CategoryInput) (Category, error)
	// UpdateCategory renames or moves a category (admins only).
	UpdateCategory(ctx context.Context, p Principal, id string, in CategoryUpdate) (Category, error)
	// DeleteCategory removes a category that has no sub-categories and no
	// products (admins only).
	DeleteCategory(ctx context.Context, p Principal, id string) error

	// BecomeVendor opens the caller's store and gives them the vendor role.
	// Opening it again with the same values answers the store as it is.
	BecomeVendor(ctx context.Context, p Principal, in VendorInput) (Vendor, error)
	// Vendor answers a vendor's public store page.
	Vendor(ctx context.Context, id string) (Vendor, error)

	// CreateProduct lists a product of the calling vendor, as a draft unless
	// the input asks for it to be active. commandID, when set (from an
	// Idempotency-Key), makes a retry answer the product it created.
	CreateProduct(ctx context.Context, p Principal, in ProductInput, commandID string) (Product, error)
	// VendorProducts lists the calling vendor's products in every status,
	// newest first.
	VendorProducts(ctx context.Context, p Principal, page Page) (ProductList, error)
	// VendorProduct answers one of the calling vendor's products in any
	// status; another vendor's product is ENOTFOUND.
	VendorProduct(ctx context.Context, p Principal, id string) (Product, error)
	// UpdateProduct changes the fields the update carries; it may publish
	// (status "active") or archive the product.
	UpdateProduct(ctx context.Context, p Principal, id string, in ProductUpdate) (Product, error)
	// ArchiveProduct takes a product off sale for good.
	ArchiveProduct(ctx context.Context, p Principal, id string) (Product, error)
	// SetStock sets the units on hand of one of the product's SKUs.
	SetStock(ctx context.Context, p Principal, productID, sku string, onHand int64) (Stock, error)

	// Product answers an active product with the availability of each
	// variant; other products are ENOTFOUND.
	Product(ctx context.Context, id string) (Product, error)
	// SearchProducts browses and searches the active products.
	SearchProducts(ctx context.Context, q ProductQuery) (ProductResults, error)
}

// Category is one node of the category tree.
type Category struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Slug     string     `json:"slug"`
	ParentID string     `json:"parent_id,omitempty"`
	Children []Category `json:"children"`
}

// CategoryInput is a new category. An empty Slug is made from the name; an
// empty ParentID makes a root.
type CategoryInput struct {
	Name     string `json:"name"`
	Slug     string `json:"slug,omitempty"`
	ParentID string `json:"parent_id,omitempty"`
}

// CategoryUpdate changes the fields that are set. A ParentID of "" moves the
// category to the roots.
type CategoryUpdate struct {
	Name     *string `json:"name,omitempty"`
	Slug     *string `json:"slug,omitempty"`
	ParentID *string `json:"parent_id,omitempty"`
}

// VendorInput opens a store.
type VendorInput struct {
	StoreName   string `json:"store_name"`
	Description string `json:"description"`
}

// Vendor is a vendor's public store page.
type Vendor struct {
	ID          string `json:"id"`
	StoreName   string `json:"store_name"`
	Description string `json:"description"`
	// ProductCount counts the vendor's active products.
	ProductCount int       `json:"product_count"`
	JoinedAt     time.Time `json:"joined_at"`
}

// Money is an amount in minor units of a currency (ISO 4217).
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Image is a product picture.
type Image struct {
	URL string `json:"url"`
	Alt string `json:"alt"`
}

// Option is a dimension the variants of a product differ in.
type Option struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// Variant is one purchasable combination of option values: one SKU.
type Variant struct {
	SKU            string            `json:"sku"`
	Options        map[string]string `json:"options"`
	Price          Money             `json:"price"`
	CompareAtPrice *Money            `json:"compare_at_price,omitempty"`
	// Available is the units a buyer can order now; it is absent where
	// availability is not shown.
	Available *int64 `json:"available,omitempty"`
}

// Rating is the review aggregate of a product.
type Rating struct {
	Average float64 `json:"average"`
	Count   int64   `json:"count"`
}

// MaxSKULength bounds a SKU, in characters (1-64 of A-Z a-z 0-9 . _ -):
// the product rules and the gateway, which refuses a longer one before
// asking the cart, share it.
const MaxSKULength = 64

// Product statuses.
const (
	StatusDraft    = "draft"
	StatusActive   = "active"
	StatusArchived = "archived"
)

// Product is a catalogue product as the API shows it.
type Product struct {
	ID          string            `json:"id"`
	VendorID    string            `json:"vendor_id"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Brand       string            `json:"brand"`
	CategoryID  string            `json:"category_id"`
	Images      []Image           `json:"images"`
	Attributes  map[string]string `json:"attributes"`
	Options     []Option          `json:"options"`
	Variants    []Variant         `json:"variants"`
	Status      string            `json:"status"`
	Rating      Rating            `json:"rating"`
	// Version counts the product's changes; an update may name the version
	// it was made from (expected_version) to refuse a lost update.
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// VariantInput is a variant as a vendor gives it. Prices are in minor units
// of the product's currency.
type VariantInput struct {
	SKU            string            `json:"sku"`
	Options        map[string]string `json:"options"`
	Price          int64             `json:"price"`
	CompareAtPrice *int64            `json:"compare_at_price,omitempty"`
}

// ProductInput is a new product. Status may be "draft" (the default) or
// "active", which publishes it at once.
type ProductInput struct {
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Brand       string            `json:"brand"`
	CategoryID  string            `json:"category_id"`
	Currency    string            `json:"currency"`
	Images      []Image           `json:"images"`
	Attributes  map[string]string `json:"attributes"`
	Options     []Option          `json:"options"`
	Variants    []VariantInput    `json:"variants"`
	Status      string            `json:"status,omitempty"`
}

// ProductUpdate changes the fields that are set. Options and Variants are
// replaced together. Status may move a draft to "active" or any product to
// "archived".
type ProductUpdate struct {
	ExpectedVersion uint64             `json:"expected_version,omitempty"`
	Title           *string            `json:"title,omitempty"`
	Description     *string            `json:"description,omitempty"`
	Brand           *string            `json:"brand,omitempty"`
	CategoryID      *string            `json:"category_id,omitempty"`
	Images          *[]Image           `json:"images,omitempty"`
	Attributes      *map[string]string `json:"attributes,omitempty"`
	Options         *[]Option          `json:"options,omitempty"`
	Variants        *[]VariantInput    `json:"variants,omitempty"`
	Status          *string            `json:"status,omitempty"`
	// CommandID, when set (from an Idempotency-Key), makes a retry answer
	// from state instead of applying twice.
	CommandID string `json:"-"`
}

// Stock is the inventory of one SKU.
type Stock struct {
	SKU       string `json:"sku"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
	// Sold counts the units taken by confirmed orders.
	Sold int64 `json:"sold"`
}

// Page asks for one page of a list.
type Page struct {
	Limit  int
	Cursor string
}

// ProductList is one page of products.
type ProductList struct {
	Items      []Product `json:"items"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// ProductQuery is a browse or search of the active products; its fields are
// the query parameters of GET /v1/products.
type ProductQuery struct {
	Text string
	// Category is a category id or slug; its sub-categories match too.
	Category string
	Brands   []string
	Vendor   string
	MinPrice *int64
	MaxPrice *int64
	InStock  *bool
	// MinRating keeps products whose average rating is at least this (0 to
	// 5).
	MinRating *float64
	// Sort is relevance, newest, price_asc, price_desc or rating.
	Sort   string
	Limit  int
	Cursor string
}

// ProductSummary is a product as a listing shows it.
type ProductSummary struct {
	ID         string    `json:"id"`
	VendorID   string    `json:"vendor_id"`
	Title      string    `json:"title"`
	Brand      string    `json:"brand"`
	CategoryID string    `json:"category_id"`
	Image      *Image    `json:"image,omitempty"`
	Price      Money     `json:"price"`
	PriceMax   Money     `json:"price_max"`
	InStock    bool      `json:"in_stock"`
	Rating     Rating    `json:"rating"`
	CreatedAt  time.Time `json:"created_at"`
}

// ProductResults is one page of a product search.
type ProductResults struct {
	Items      []ProductSummary `json:"items"`
	NextCursor string           `json:"next_cursor,omitempty"`
	Total      int              `json:"total"`
	Facets     ProductFacets    `json:"facets"`
}

// ProductFacets count the products matching a search, over all its pages.
type ProductFacets struct {
	Brand    []FacetCount `json:"brand"`
	Category []FacetCount `json:"category"`
	Price    []PriceFacet `json:"price"`
}

// FacetCount is the number of matching products having one value.
type FacetCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// PriceFacet counts the matching products priced in [Min, Max); a nil Max
// has no upper bound.
type PriceFacet struct {
	Min   int64  `json:"min"`
	Max   *int64 `json:"max,omitempty"`
	Count int    `json:"count"`
}
